"""Tests of the synthetic AVA-format dataset (ava_tx.data.synthetic, data_tools/synth_ava)."""

import csv
import io
from pathlib import Path
import subprocess
import sys

import av
import numpy as np
import pytest

from ava_tx.core import ava_constants
from ava_tx.data import ava_annotations
from ava_tx.data import label_map_util
from ava_tx.data.synthetic import classes
from ava_tx.data.synthetic import labels
from ava_tx.data.synthetic import render
from ava_tx.data.synthetic import scene as scene_lib
from ava_tx.data.synthetic import writer

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
TINY = writer.SynthConfig(
  num_videos=2, seconds=5, seed=7, width=96, height=72, val_fraction=0.5, excluded_fraction=0.5
)
Activity = scene_lib.Activity


def _decode(path):
  with av.open(str(path)) as container:
    return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def tiny_datasets(tmp_path_factory):
  """The TINY dataset generated twice into two directories."""
  dirs = [tmp_path_factory.mktemp("synth_%d" % i) for i in range(2)]
  summaries = [writer.generate_dataset(TINY, str(d)) for d in dirs]
  return dirs, summaries


@pytest.fixture(scope="module")
def scenes():
  """Six default-size scenes with their geometry, enough to meet every class."""
  config = writer.SynthConfig(seconds=10, width=128, height=96)
  out = []
  for index in range(6):
    scene = writer.make_scene(config, index)
    out.append((config, scene, labels.SceneGeometry(scene)))
  return out


def test_classes_match_real_ava_list():
  path = SHARED / "data" / "ava" / "ava_action_list_v2.0.csv"
  if not path.exists():
    pytest.skip("%s not found (../shared is absent outside the project workspace)" % path)
  real = {e.id: e for e in label_map_util.read_label_map(str(path))}
  for c in classes.SYNTHETIC_CLASSES:
    assert (real[c.id].name, real[c.id].label_type) == (c.name, c.label_type), c


def test_label_map_parses_to_the_synthetic_classes():
  entries = label_map_util.read_label_map(io.StringIO(classes.label_map_pbtxt()))
  assert [(e.id, e.name) for e in entries] == [(c.id, c.name) for c in classes.SYNTHETIC_CLASSES]
  assert [e.id for e in entries] == [1, 7, 10, 11, 12, 14, 17, 69, 74, 79, 80]


def test_same_seed_gives_identical_files_and_frames(tiny_datasets):
  (a, b), _ = tiny_datasets
  names = sorted(p.name for p in a.iterdir() if p.is_file())
  assert names == sorted(p.name for p in b.iterdir() if p.is_file())
  assert "train.csv" in names and "label_map.pbtxt" in names
  for name in names:
    assert (a / name).read_bytes() == (b / name).read_bytes(), name
  for video in sorted((a / writer.VIDEO_DIR).iterdir()):
    np.testing.assert_array_equal(_decode(video), _decode(b / writer.VIDEO_DIR / video.name))


def test_other_seed_differs():
  scene_a = writer.make_scene(TINY, 0)
  scene_b = writer.make_scene(writer.SynthConfig(**{**TINY.__dict__, "seed": 8}), 0)
  assert not np.array_equal(render.render_frame(scene_a, 30), render.render_frame(scene_b, 30))


def test_video_decodes_to_expected_frames(tiny_datasets):
  (a, _), _ = tiny_datasets
  path = a / writer.VIDEO_DIR / (TINY.video_id(0) + writer.VIDEO_EXTENSION)
  with av.open(str(path)) as container:
    stream = container.streams.video[0]
    assert stream.codec_context.name == "h264"
    assert stream.codec_context.pix_fmt == "yuv420p"
    decoded = _decode(path)
  assert decoded.shape == (TINY.num_frames, TINY.height, TINY.width, 3)
  scene = writer.make_scene(TINY, 0)
  k = TINY.keyframe_frame_index(TINY.keyframe_timestamps()[0])
  # H.264 is lossy; the error stays small and the keyframe matches its own render best.
  errors = [
    np.abs(decoded[k].astype(float) - render.render_frame(scene, t)).mean()
    for t in range(k - 5, k + 6)
  ]
  assert int(np.argmin(errors)) == 5 and errors[5] < 8.0, errors
  last = np.abs(decoded[-1].astype(float) - render.render_frame(scene, TINY.num_frames - 1))
  assert last.mean() < 8.0


def test_csv_round_trip(tiny_datasets):
  (a, _), (summary, _) = tiny_datasets
  label_map = label_map_util.read_label_map(str(a / writer.LABEL_MAP))
  ids = {e.id for e in label_map}
  excluded = set()
  for split in writer.SPLITS:
    excluded |= ava_annotations.read_excluded_timestamps(
      str(a / ("%s_excluded_timestamps.csv" % split))
    )
  for split in writer.SPLITS:
    result = ava_annotations.read_annotations(str(a / ("%s.csv" % split)), label_map_ids=ids)
    assert not result.report.skipped and result.report.num_duplicate_rows == 0
    counts = {str(i): 0 for i in ids}
    for key, boxes in result.annotations.items():
      assert key not in excluded
      for box in boxes:
        ymin, xmin, ymax, xmax = box.box
        assert 0 <= ymin < ymax <= 1 and 0 <= xmin < xmax <= 1
        pose = [i for i in box.action_ids if classes.CLASS_BY_ID[i] in classes.POSE_CLASSES]
        assert len(pose) == 1, box
        for i in box.action_ids:
          counts[str(i)] += 1
    assert counts == summary["splits"][split]["class_counts"]
    boxes = ava_annotations.read_person_boxes(str(a / ("%s_predicted_boxes.csv" % split)))
    assert boxes.report.num_used_rows == summary["splits"][split]["person_detector_boxes"] > 0
  assert excluded
  # The library's labels are what the CSV holds (3 decimals).
  read = ava_annotations.read_annotations(str(a / "train.csv")).annotations
  scene = writer.make_scene(TINY, 0)
  geometry = labels.SceneGeometry(scene)
  for timestamp in TINY.keyframe_timestamps():
    key = (TINY.video_id(0), timestamp)
    if key in excluded:
      continue
    expected = labels.keyframe_labels(geometry, TINY.keyframe_frame_index(timestamp))
    got = read.get(key, [])
    assert [(b.person_id, b.action_ids) for b in got] == [
      (e.person_id, e.action_ids) for e in expected
    ]
    for b, e in zip(got, expected):
      np.testing.assert_allclose(b.box, e.box, atol=5.1e-4)


def test_keyframe_convention():
  assert list(TINY.keyframe_timestamps()) == [902, 903]
  assert TINY.keyframe_frame_index(902) == 60
  config = writer.SynthConfig(seconds=10, segment_start=0)
  assert list(config.keyframe_timestamps()) == list(range(2, 9))
  assert ava_constants.make_key(config.video_id(3), 2) == "synth_0003,0002"


def test_boxes_enclose_rendered_people(scenes):
  _, scene, geometry = scenes[0]
  checked = 0
  for t in (60, 150, 240):
    background = render.render_background(scene, t)
    frame = render.render_frame(scene, t)
    for i, person in enumerate(scene.persons):
      if not geometry.visible[t, i]:
        continue
      mask = render.person_mask(person, t, scene.height, scene.width)
      rows, cols = np.nonzero(mask)
      ymin, xmin, ymax, xmax = geometry.clipped[t, i]
      # Mask pixels lie inside the box, and the mask reaches within 1.5 px of each side.
      assert rows.min() >= np.floor(ymin) and rows.max() + 1 <= np.ceil(ymax)
      assert cols.min() >= np.floor(xmin) and cols.max() + 1 <= np.ceil(xmax)
      assert rows.min() - ymin < 1.5 and ymax - rows.max() - 1 < 1.5
      assert cols.min() - xmin < 1.5 and xmax - cols.max() - 1 < 1.5
      y0, x0, y1, x1 = int(ymin), int(xmin), int(np.ceil(ymax)), int(np.ceil(xmax))
      changed = np.any(frame[y0:y1, x0:x1] != background[y0:y1, x0:x1], axis=-1)
      assert changed.mean() > 0.2
      checked += 1
  assert checked >= 5


def _window(config, k):
  return slice(k - config.fps, k + config.fps + 1)


def test_label_rules_hold_on_the_simulated_state(scenes):
  seen = set()
  for config, scene, geometry in scenes:
    for timestamp in config.keyframe_timestamps():
      k = config.keyframe_frame_index(timestamp)
      w = _window(config, k)
      for label in labels.keyframe_labels(geometry, k):
        i, p = label.person_index, scene.persons[label.person_index]
        ids = set(label.action_ids)
        seen |= ids
        h = p.appearance.height
        path = np.abs(np.diff(p.x[w])).sum()
        if classes.WALK.id in ids:
          assert path >= 0.4 * h
        if classes.RUN_JOG.id in ids:
          assert path >= 1.2 * h
        if classes.STAND.id in ids and p.activity[k] == Activity.STAND:
          assert p.x[k + 1] == p.x[k] and p.jump[k] == 0
        if classes.JUMP_LEAP.id in ids:
          assert p.jump[w].max() > 0.1 * h
        if classes.BEND_BOW.id in ids:
          assert np.ptp(p.tilt[w]) > 0.5
        if classes.SIT.id in ids:  # Seated, or sitting down.
          assert p.sit[k] == 1 or p.sit[k] > p.sit[k - 1]
        if classes.STAND.id in ids and p.activity[k] == Activity.GET_UP:
          assert p.sit[k] < p.sit[k - 1]
        if classes.HAND_WAVE.id in ids:
          assert p.arm_raise[k] > 0 and np.ptp(p.forearm[w]) > 0.3
        if classes.CARRY_HOLD.id in ids:
          assert p.holding[w].all()
        faced = geometry.faced(i, k)
        if classes.TALK_TO.id in ids:
          assert faced >= 0 and np.ptp(p.mouth[w]) > 0.3
        if classes.LISTEN_TO_PERSON.id in ids:
          talker = scene.persons[faced]
          assert talker.talking[k] and np.ptp(talker.mouth[w]) > 0.3
          assert np.sign(talker.x[k] - p.x[k]) == p.head_dir[k]
        else:
          assert faced < 0 or not scene.persons[faced].talking[k]
        if classes.WATCH_PERSON.id in ids:
          target = scene.persons[faced]
          assert (np.sign(target.x[w] - p.x[w]) == p.head_dir[w]).all()
          assert geometry.visible[w, faced].all()
  assert seen == {c.id for c in classes.SYNTHETIC_CLASSES}


def _hand_scene(num_frames=61):
  """Two still people facing each other on a flat background."""
  look = lambda colour: scene_lib.Appearance(
    height=40.0,
    skin=np.array([200, 160, 120], np.uint8),
    shirt=np.array(colour, np.uint8),
    pants=np.array([40, 40, 90], np.uint8),
    object_colour=np.array([250, 200, 20], np.uint8),
  )
  persons = [
    scene_lib.PersonTrack.still(0, look([200, 30, 30]), num_frames, x=30, ground_y=55, body_dir=1),
    scene_lib.PersonTrack.still(1, look([30, 160, 30]), num_frames, x=60, ground_y=55, body_dir=-1),
  ]
  return scene_lib.Scene(
    width=96,
    height=64,
    fps=30,
    num_frames=num_frames,
    texture=np.full((128, 192, 3), 120, np.uint8),
    scroll=np.zeros((num_frames, 2)),
    horizon=30.0,
    persons=persons,
  )


def test_single_frame_is_ambiguous_for_talk_and_listen():
  k = 30
  talking, silent = _hand_scene(), _hand_scene()
  speaker = talking.persons[0]
  speaker.talking[:] = True
  speaker.mouth[:] = np.abs(np.sin((np.arange(61) - k) * np.pi / 8))  # Closed at the keyframe.
  assert speaker.mouth[k] < 1e-9
  np.testing.assert_array_equal(render.render_frame(talking, k), render.render_frame(silent, k))
  assert not np.array_equal(render.render_frame(talking, k + 4), render.render_frame(silent, k + 4))
  got = [
    {l.person_id: set(l.action_ids) for l in labels.keyframe_labels(labels.SceneGeometry(s), k)}
    for s in (talking, silent)
  ]
  assert classes.TALK_TO.id in got[0][0] and classes.LISTEN_TO_PERSON.id in got[0][1]
  assert classes.TALK_TO.id not in got[1][0] and classes.LISTEN_TO_PERSON.id not in got[1][1]
  assert classes.WATCH_PERSON.id in got[0][1] and classes.WATCH_PERSON.id in got[1][1]


def test_single_frame_is_ambiguous_for_sit_down_and_get_up():
  k = 30
  down, up = _hand_scene(), _hand_scene()
  ramp = np.linspace(0, 1, 61)
  down.persons[0].sit[:], down.persons[0].activity[:] = ramp, Activity.SIT_DOWN
  up.persons[0].sit[:], up.persons[0].activity[:] = ramp[::-1], Activity.GET_UP
  np.testing.assert_array_equal(render.render_frame(down, k), render.render_frame(up, k))
  got = [set(labels.keyframe_labels(labels.SceneGeometry(s), k)[0].action_ids) for s in (down, up)]
  assert classes.SIT.id in got[0] and classes.STAND.id in got[1]


def test_glance_is_not_watch():
  k = 30
  scene = _hand_scene()
  # Person 1 faces person 0 only around the keyframe (a glance), then looks away.
  scene.persons[1].head_dir[:] = 1
  scene.persons[1].head_dir[k - 5 : k + 6] = -1
  ids = {
    l.person_id: set(l.action_ids) for l in labels.keyframe_labels(labels.SceneGeometry(scene), k)
  }
  assert classes.WATCH_PERSON.id not in ids[1] and classes.WATCH_PERSON.id in ids[0]


def test_bad_config_names_the_field():
  with pytest.raises(ValueError, match="seconds"):
    writer.SynthConfig(seconds=3).validate()
  with pytest.raises(ValueError, match="width"):
    writer.SynthConfig(width=97).validate()


def test_command_line(tmp_path):
  cmd = [
    sys.executable,
    "-m",
    "data_tools.synth_ava",
    "--output_dir",
    str(tmp_path / "out"),
    "--num_videos",
    "1",
    "--seconds",
    "4",
    "--width",
    "64",
    "--height",
    "48",
  ]
  done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  assert "talk to (e.g., self, a person, a group)" in done.stdout and "frames/s" in done.stdout
  assert (tmp_path / "out" / "videos" / "synth_0000.mp4").exists()
  with open(tmp_path / "out" / "train.csv", newline="") as f:
    rows = list(csv.reader(f))
  assert rows and all(len(r) == 8 and r[1] == "0902" for r in rows)
  bad = subprocess.run(
    cmd[:-4] + ["--seconds", "2"], cwd=REPO, capture_output=True, text=True, timeout=120
  )
  assert bad.returncode == 2 and "seconds must be" in bad.stderr


def test_rgb_to_yuv420p_known_colours_layout_and_round_trip():
  rgb = np.zeros((4, 6, 3), np.uint8)
  rgb[:2, :2] = (255, 255, 255)  # white block
  rgb[:2, 2:4] = (255, 0, 0)  # red block
  rgb[2:, :2] = [[(255, 0, 0), (0, 0, 0)], [(0, 0, 0), (0, 0, 0)]]  # 1/4 red, 3/4 black
  yuv = writer.rgb_to_yuv420p(rgb)
  assert yuv.shape == (6, 6) and yuv.dtype == np.uint8
  y, u, v = yuv[:4], yuv[4:5].reshape(2, 3), yuv[5:6].reshape(2, 3)
  # BT.601 limited range: white Y 235, black Y 16, red Y 81 U 90 V 240; neutral chroma 128.
  np.testing.assert_array_equal(y[:2], [[235, 235, 81, 81, 16, 16]] * 2)
  np.testing.assert_array_equal(y[2:, :2], [[81, 16], [16, 16]])
  np.testing.assert_array_equal(u, [[128, 90, 128], [119, 128, 128]])  # 128 - 37.797 / 4
  np.testing.assert_array_equal(v, [[128, 240, 128], [156, 128, 128]])  # 128 + 112 / 4
  # A smooth image survives the round trip through the library's decoder-side conversion.
  yy, xx = np.mgrid[0:72, 0:96]
  smooth = np.stack([yy * 3, xx * 2, 255 - yy * 3], axis=-1).astype(np.uint8)
  back = av.VideoFrame.from_ndarray(writer.rgb_to_yuv420p(smooth), format="yuv420p").to_ndarray(
    format="rgb24"
  )
  assert np.abs(back.astype(int) - smooth).max() <= 6
