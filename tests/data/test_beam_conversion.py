"""The Beam pipeline writes the shards create_ava_tf_record writes; failures are reported."""

import pytest

beam = pytest.importorskip(
  "apache_beam", reason="apache_beam is not installed (optional extra: pip install -e '.[beam]')"
)

from ava_tx.core import standard_fields  # pylint: disable=g-import-not-at-top
from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data import beam_conversion
from ava_tx.data import dataset as dataset_lib
from ava_tx.data import parser as parser_lib
from tests.data import video_fixtures

F = standard_fields.InputFields
SETTINGS = ava_clips.ClipSettings(fps=30, clip_frames=40, segment_start=0)
NUM_SHARDS = 3


def _gt_rows():
  rows = []
  for video, seconds in (("a", 5), ("b", 3), ("c", 2), ("broken", 2), ("missing", 2)):
    rows += ["%s,%04d,0.1,0.2,0.5,0.6,%d,0\n" % (video, t, 1 + t % 3) for t in range(seconds)]
  rows.append("a,0002,0.1,0.2,1.5,0.6,12,1\n")  # Bad row (x2 > 1), skipped.
  return "".join(rows)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  root = tmp_path_factory.mktemp("beam")
  videos = root / "videos"
  videos.mkdir()
  for seed, (name, seconds) in enumerate((("a", 6), ("b", 4), ("c", 3))):
    video_fixtures.write_video(
      videos / (name + ".mp4"), video_fixtures.noise_frames(seconds * 30, 24, 32, seed=seed)
    )
  (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200)
  (root / "gt.csv").write_text(_gt_rows())
  return root


def _args(root, name):
  return dict(
    annotations_csv=str(root / "gt.csv"),
    video_dir=str(root / "videos"),
    output_prefix=str(root / name / "t"),
    num_shards=NUM_SHARDS,
    settings=SETTINGS,
    skip_bad_rows=True,
    log=lambda line: None,
  )


def _shards(summary):
  return [open(p, "rb").read() for p in sorted(tf.io.gfile.glob(summary["file_pattern"]))]


@pytest.fixture(scope="module")
def runs(inputs):
  reference = ava_conversion.convert(**_args(inputs, "reference"))
  multi = beam_conversion.convert(
    beam_args=["--direct_num_workers=2"], keyframes_per_task=2, **_args(inputs, "multi")
  )
  in_memory = beam_conversion.convert(
    beam_args=["--runner=DirectRunner", "--direct_running_mode=in_memory"],
    keyframes_per_task=3,
    **_args(inputs, "in_memory"),
  )
  return reference, multi, in_memory


def _records(summary):
  return [
    r.numpy() for r in tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(summary["file_pattern"])))
  ]


@pytest.mark.slow
def test_beam_writes_the_records_and_shards_of_create_ava_tf_record(runs, inputs):
  reference, multi, in_memory = runs
  assert reference["keyframes"] == 10
  assert set(_records(multi)) == set(_records(reference))
  assert len(_records(multi)) == 10
  # Stronger: the same shard files (same assignment, same order) whatever the runner,
  # running mode, worker count and range size.
  assert multi["file_pattern"].endswith("t-?????-of-?????")
  assert _shards(multi) == _shards(reference) == _shards(in_memory)
  for key in (
    "videos",
    "videos_failed",
    "keyframes",
    "boxes",
    "frames",
    "bytes",
    "labels_per_class",
    "skipped_keyframes",
    "skipped_rows",
  ):
    assert multi[key] == reference[key], key
  assert not list((inputs / "multi").glob("*.beam-temp"))  # Part files removed.


@pytest.mark.slow
def test_failed_videos_are_reported_and_skipped(runs):
  _, multi, in_memory = runs
  assert multi["videos"] == 3
  assert sorted(multi["videos_failed"]) == ["broken", "missing"]
  with open(multi["failed_videos_csv"]) as f:
    lines = f.read().splitlines()
  assert lines[0] == "video_id,reason"
  assert [line.split(",")[0] for line in lines[1:]] == ["broken", "missing"]
  assert "broken.mp4" in lines[1] and lines[2] == "missing,video not found"
  counters = multi["counters"]
  assert counters["failed_video broken"] == 1 and counters["failed_video missing"] == 1
  assert counters["videos_failed"] == 2
  # Counters: 10 keyframes of a, b, c with one box each; the 4 keyframes of the failed
  # videos are skipped; one bad CSV row was skipped.
  assert counters["keyframes"] == 10 and counters["boxes"] == 10
  assert counters["skipped_keyframes"] == 4 and counters["skipped_rows"] == 1
  # Ranges of 2 keyframes: a 3, b 2, c 1, broken 1, missing 1 elements.
  assert counters["tasks"] == 8 and counters["shards"] == NUM_SHARDS
  assert in_memory["counters"]["tasks"] == 2 + 1 + 1 + 1 + 1


@pytest.mark.slow
def test_the_input_pipeline_reads_the_beam_shards(runs):
  _, multi, _ = runs
  parser = parser_lib.AvaParser(
    num_frames=4,
    frame_stride=2,
    output_size=(24, 32),
    label_map_ids=[1, 2, 3],
    max_num_boxes=2,
    max_num_proposals=1,
  )
  ds = dataset_lib.build_dataset(
    file_pattern=multi["file_pattern"], parser=parser, batch_size=5, is_training=False
  )
  ids = sorted(s.decode() for batch in ds.as_numpy_iterator() for s in batch[F.source_id])
  assert ids == ["a,%04d" % t for t in range(5)] + ["b,%04d" % t for t in range(3)] + [
    "c,0000",
    "c,0001",
  ]


def test_direct_runner_defaults_to_multi_processing_on_all_cores():
  from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top

  direct = beam_conversion.pipeline_options_with_defaults([]).view_as(
    pipeline_options.DirectOptions
  )
  assert (direct.direct_running_mode, direct.direct_num_workers) == ("multi_processing", 0)
  given = beam_conversion.pipeline_options_with_defaults(
    ["--direct_num_workers=2", "--direct_running_mode=multi_threading"]
  )
  direct = given.view_as(pipeline_options.DirectOptions)
  assert (direct.direct_running_mode, direct.direct_num_workers) == ("multi_threading", 2)
  dataflow = beam_conversion.pipeline_options_with_defaults(
    ["--runner=DataflowRunner", "--num_workers=50", "--project=p", "--region=r"]
  )
  assert dataflow.view_as(pipeline_options.WorkerOptions).num_workers == 50
  assert dataflow.view_as(pipeline_options.DirectOptions).direct_running_mode == "in_memory"


def test_failed_videos_csv_quotes_reasons(tmp_path):
  path = beam_conversion.write_failed_videos(
    [("z", "plain"), ("a", 'cannot open "a.mp4", code 1\nmore')], str(tmp_path / "f.csv")
  )
  assert open(path).read() == ('video_id,reason\na,"cannot open ""a.mp4"", code 1 more"\nz,plain\n')


def test_command_passes_beam_flags_through_unchanged(tmp_path):
  from data_tools import create_ava_tf_record_beam as cli  # pylint: disable=g-import-not-at-top

  cli.define_flags()
  try:
    rest = cli.parse_flags(
      [
        "create_ava_tf_record_beam",
        "--annotations_csv=gt.csv",
        "--video_dir=videos",
        "--output_prefix=%s" % tmp_path,
        "--keyframes_per_task=7",
        "--runner=FlinkRunner",
        "--flink_master=host:8081",
        "--num_workers=50",
        "--clip_frames",
        "32",
        "--noskip_bad_rows",
        "--parallelism",
        "8",
      ]
    )
    # --num_workers is Beam's here even when create_ava_tf_record's flag is defined too.
    assert rest == [
      "create_ava_tf_record_beam",
      "--runner=FlinkRunner",
      "--flink_master=host:8081",
      "--num_workers=50",
      "--parallelism",
      "8",
    ]
    assert cli.FLAGS.keyframes_per_task == 7 and cli.FLAGS.clip_frames == 32
  finally:
    cli.FLAGS.unparse_flags()
