"""Attention figure of one keyframe and person: PNGs and an HTML page (see attention_figures).

Output files in `output_dir`:
  figure.png                the whole figure: frames with the person's box, then per head a row
                            of attention heat maps and a row of key colours;
  attention_head<k>.png     head k's heat maps over the frames of the feature time steps;
  keys_head<k>.png          head k's key embeddings as colours (3-component PCA);
  frames/frame_<i>.png      the clip's frames, as the model saw them (sampled, edge-padded);
  index.html                all of it beside the clip, with the attention mass per time step
                            and on each person's box (the query's own and the others').
"""

import dataclasses
import fractions
import html
import os
from typing import Optional

import numpy as np
from PIL import Image

from ava_tx.core import errors
from ava_tx.core.standard_fields import ServingFields
from ava_tx.inference import attention_figures as figures
from ava_tx.inference import rendering
from ava_tx.inference import video_clips
from ava_tx.inference import video_source


@dataclasses.dataclass
class AttentionFigure:
  """Paths written and what they show."""

  output_dir: str
  html_path: str
  figure_path: str
  timestamp: float
  person: int
  layer: int
  person_score: float
  masses: np.ndarray  # float [num_heads, t]: attention on each feature time step.
  people: "PeopleAttention"


# Detections with at least this person score count as people in the box-mass table.
PEOPLE_MIN_SCORE = 0.5


@dataclasses.dataclass
class PeopleAttention:
  """Attention of the query on each person's keyframe box (attention_figures.box_masses)."""

  detections: np.ndarray  # int [n]: detection indices, the query first, then the others.
  boxes: np.ndarray  # float [n, 4] normalized.
  masses: np.ndarray  # float [num_heads, n]: attention inside each box.
  area_shares: np.ndarray  # float [n]: share of the feature cells inside each box.

  def summary(self) -> str:
    """One line per head: mass on the query's own box and on the other people's boxes."""
    lines = []
    for head, masses in enumerate(self.masses):
      others = ", ".join(
        "person %d %.2f (area %.2f)" % (d, m, a)
        for d, m, a in zip(self.detections[1:], masses[1:], self.area_shares[1:])
      )
      lines.append(
        "head %d: own box %.2f (area %.2f); %s"
        % (head, masses[0], self.area_shares[0], others or "no other person")
      )
    return "\n".join(lines)


def people_attention(attention, outputs, person: int) -> PeopleAttention:
  """The query's attention on its own box and on every other detection scored as a person."""
  num = int(outputs[ServingFields.num_detections][0])
  scores = np.asarray(outputs[ServingFields.detection_scores][0, :num])
  others = [i for i in range(num) if i != person and scores[i] >= PEOPLE_MIN_SCORE]
  detections = np.array([person] + others, np.int64)
  boxes = np.clip(np.asarray(outputs[ServingFields.detection_boxes][0], np.float64), 0, 1)
  masses, shares = figures.box_masses(attention, boxes[detections])
  return PeopleAttention(detections, boxes[detections], masses, shares)


def _resize(frame, height):
  width = max(1, round(frame.shape[1] * height / frame.shape[0]))
  return np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BILINEAR))


def read_clip(video_path, seconds, spec, *, folder_fps, model_size):
  """The clip around `seconds` (video time) and the full frames it uses.

  Returns (KeyframeClip, {native index: uint8 [H, W, 3]}).
  Raises InputError if `seconds` lies beyond the video's end.
  """
  video = video_source.open_video(video_path, folder_fps=folder_fps)
  assembler = video_clips.ClipAssembler(spec, video.native_fps, [fractions.Fraction(str(seconds))])
  needed = set(video_clips.clip_native_indices(seconds, spec, video.native_fps))
  full, clips, last = {}, [], None
  for index, frame, small in video_source.iter_frames(video, model_size=model_size, keep_full=True):
    if index in needed:
      full[index] = frame
    last = (index, frame)
    clips.extend(assembler.add_frame(index, small))
    if clips:
      break
  if not clips:
    clips = assembler.finish()
    if last is not None:
      full[last[0]] = last[1]
  if not clips:
    raise errors.InputError("%s: time %g s is beyond the video's end" % (video_path, seconds))
  return clips[0], full


def _strip(images):
  """uint8 [n, H, W, 3] -> uint8 [H, n * W, 3]."""
  return np.concatenate(list(images), axis=1)


def _save(path, image):
  Image.fromarray(np.asarray(image, np.uint8)).save(path)
  return path


def render_attention(
  outputs, clip, full_frames, info, *, person, layer, output_dir, display_height=160, caption=""
):
  """Writes the figure's PNGs from the detector's outputs (batch of one clip); returns the
  attention masses [num_heads, t], the figure's path, the person's detection and the attention
  on each person's box."""
  if ServingFields.detection_attention_weights not in outputs:
    raise errors.InputError(
      "the model's outputs hold no attention weights: export it with --export_attention"
    )
  num = int(outputs[ServingFields.num_detections][0])
  if not 0 <= person < num:
    raise errors.InputError(
      "--person %d: the keyframe has %d detections (0..%d)" % (person, num, num - 1)
    )
  weights = outputs[ServingFields.detection_attention_weights][0, :num]
  if not -weights.shape[1] <= layer < weights.shape[1]:
    raise errors.InputError("--layer %d: the model has %d layers" % (layer, weights.shape[1]))
  attention = figures.select_attention(weights, person=person, layer=layer)
  keys = np.asarray(outputs[ServingFields.attention_key_embeddings][0, layer], np.float64)
  num_heads, steps = attention.shape[:2]
  centres = figures.centre_frames(len(clip.native_indices), steps)
  box = outputs[ServingFields.detection_boxes][0, person : person + 1]
  detections = rendering.KeyframeDetections(
    np.clip(box, 0, 1),
    outputs[ServingFields.detection_scores][0, person : person + 1],
    outputs[ServingFields.detection_multiclass_scores][0, person : person + 1],
  )
  frames = np.stack(
    [
      _resize(
        rendering.draw_detections(
          full_frames[clip.native_indices[c]], detections, info.label_map, with_labels=False
        ),
        display_height,
      )
      for c in centres
    ]
  )
  rows, labels = [frames], ["frames\n(query box)"]
  for head in range(num_heads):
    heat = figures.attention_overlays(attention[head], frames)
    colours = figures.key_images(keys[head], frames.shape[1], frames.shape[2])
    _save(os.path.join(output_dir, "attention_head%d.png" % head), _strip(heat))
    _save(os.path.join(output_dir, "keys_head%d.png" % head), _strip(colours))
    rows += [heat, colours]
    labels += ["head %d\nattention" % head, "head %d\nkeys (PCA)" % head]
  figure_path = _save(os.path.join(output_dir, "figure.png"), figures.image_grid(rows, labels))
  os.makedirs(os.path.join(output_dir, "frames"), exist_ok=True)
  for i, index in enumerate(clip.native_indices):
    _save(
      os.path.join(output_dir, "frames", "frame_%02d.png" % i),
      _resize(full_frames[index], display_height // 2),
    )
  people = people_attention(attention, outputs, person)
  return figures.time_step_masses(attention), figure_path, detections, people


def _people_table(people):
  """HTML rows: per head, the attention inside each person's box beside the box's area share."""
  names = ["person %d (query)" % people.detections[0]] + [
    "person %d" % d for d in people.detections[1:]
  ]
  header = "".join("<th>%s</th>" % name for name in names)
  rows = "".join(
    "<tr><th>head %d</th>%s</tr>" % (head, "".join("<td>%.3f</td>" % m for m in masses))
    for head, masses in enumerate(people.masses)
  )
  area = "".join("<td>%.3f</td>" % share for share in people.area_shares)
  return "<tr><th></th>%s</tr>%s<tr><th>box area share</th>%s</tr>" % (header, rows, area)


def write_html(
  path, *, title, caption, masses, num_clip_frames, num_heads, clip_native_indices, people
):
  """The page: the clip's frames, the figure, per-head strips and attention masses."""
  frames = "".join(
    '<img src="frames/frame_%02d.png" title="frame %d (video frame %d)">'
    % (i, i, clip_native_indices[i])
    for i in range(num_clip_frames)
  )
  rows = "".join(
    "<tr><th>head %d</th>%s</tr>" % (head, "".join("<td>%.3f</td>" % mass for mass in masses[head]))
    for head in range(num_heads)
  )
  steps = "".join("<th>step %d</th>" % i for i in range(masses.shape[1]))
  heads = "".join(
    '<h3>Head %d</h3><img src="attention_head%d.png"><br><img src="keys_head%d.png">'
    % (head, head, head)
    for head in range(num_heads)
  )
  text = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1em}} .clip img{{margin:1px}}
td,th{{padding:2px 8px;text-align:right}}</style></head><body>
<h1>{title}</h1><p>{caption}</p>
<h2>The clip</h2><div class="clip">{frames}</div>
<h2>Attention (Figure 4 of Girdhar et al., CVPR 2019)</h2><img src="figure.png">
<p>Heat maps: the softmax attention of the person's query over the clip's feature map, shown
on the frame at the centre of each feature time step; one colour scale per head (its maximum
over the clip). Keys: the first three principal components of each head's key embeddings,
as red, green and blue, each scaled to [0, 1] over the clip.</p>
<h2>Attention on each feature time step</h2>
<table><tr><th></th>{steps}</tr>{rows}</table>
<h2>Attention on each person's box</h2>
<p>Attention of the query inside each keyframe box (the query's own and every other detection
with a person score of at least {min_score}), summed over time steps, beside the share of the
feature cells inside the box: what a uniform attention would put there.</p>
<table>{people}</table>
{heads}
</body></html>
""".format(
    title=html.escape(title),
    caption=html.escape(caption),
    frames=frames,
    steps=steps,
    rows=rows,
    people=_people_table(people),
    min_score=PEOPLE_MIN_SCORE,
    heads=heads,
  )
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return path


def visualize(
  detector,
  video_path,
  output_dir,
  *,
  timestamp: Optional[float] = None,
  person: int = 0,
  layer: int = -1,
  box_source=None,
  segment_start: float = 0.0,
  folder_fps: float = 30.0,
) -> AttentionFigure:
  """Runs `detector` (exported with attention) on one keyframe and writes the figure."""
  info = detector.info
  if not info.export_attention:
    raise errors.InputError("the model was exported without --export_attention")
  timestamp = _keyframe_time(video_path, timestamp, segment_start, folder_fps)
  spec = video_clips.ClipSpec(
    info.num_frames, info.frame_stride, fractions.Fraction(str(info.model_fps))
  )
  clip, full = read_clip(
    video_path,
    timestamp - segment_start,
    spec,
    folder_fps=folder_fps,
    model_size=(info.image_height, info.image_width),
  )
  outputs = detector(
    clip.frames[None], **_person_box_inputs(info, box_source, video_path, timestamp, clip, full)
  )
  os.makedirs(output_dir, exist_ok=True)
  layers = info.num_layers or outputs[ServingFields.detection_attention_weights].shape[2]
  layer_index = layer % layers
  masses, figure_path, detections, people = render_attention(
    outputs, clip, full, info, person=person, layer=layer, output_dir=output_dir
  )
  caption = _caption(video_path, timestamp, person, layer_index, layers, detections, info.label_map)
  html_path = write_html(
    os.path.join(output_dir, "index.html"),
    title="Action Transformer attention",
    caption=caption,
    masses=masses,
    num_clip_frames=len(clip.native_indices),
    num_heads=masses.shape[0],
    clip_native_indices=clip.native_indices,
    people=people,
  )
  score = float(detections.person_scores[0])
  return AttentionFigure(
    output_dir, html_path, figure_path, timestamp, person, layer_index, score, masses, people
  )


def _keyframe_time(video_path, timestamp, segment_start, folder_fps):
  """`timestamp`, or the middle of the video when it is None; InputError if it lies before
  `segment_start`."""
  if timestamp is None:
    video = video_source.open_video(video_path, folder_fps=folder_fps)
    timestamp = segment_start + video_source.duration_seconds(video) // 2
  if timestamp - segment_start < 0:
    raise errors.InputError(
      "--timestamp %g lies before --segment_start %g" % (timestamp, segment_start)
    )
  return timestamp


def _person_box_inputs(info, box_source, video_path, timestamp, clip, full_frames):
  """The detector's person-box inputs for the keyframe ({} for a model that takes none)."""
  if not info.uses_person_boxes:
    return {}
  if box_source is None:
    raise errors.InputError(
      "this model takes person-detector boxes: give --person_boxes_csv or --person_detector "
      "(the model has no RPN)"
    )
  from ava_tx.inference import person_boxes

  video_id = video_source.video_id_of(video_path)
  box_source.check_video(video_id, video_path)
  boxes = box_source.boxes(
    video_id, timestamp, full_frames[clip.native_index] if box_source.needs_frames else None
  )
  padded, num_boxes = person_boxes.pad_person_boxes([boxes])
  return {"person_boxes": padded, "num_person_boxes": num_boxes}


def _caption(video_path, timestamp, person, layer_index, num_layers, detections, label_map):
  """The page's caption: video, keyframe, person, layer, person score and top labels."""
  labels = rendering.top_labels(detections.action_scores[0], label_map, max_labels=3)
  return "%s, keyframe t=%g s, person %d, layer %d of %d; person score %.2f; %s" % (
    video_source.video_id_of(video_path),
    timestamp,
    person,
    layer_index + 1,
    num_layers,
    detections.person_scores[0],
    ", ".join("%s %.2f" % label for label in labels),
  )
