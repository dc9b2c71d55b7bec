#!/usr/bin/env bash
# The main job on the embedded default data, end to end on CPU:
#   1. generate the synthetic AVA-format dataset (videos, CSVs, label map, detector boxes),
#   2. convert it to TFRecord shards,
#   3. fine-tune the Action Transformer from the Kinetics-400 I3D weights that setup_env.sh fetched
#      (configs/tiny_kinetics_demo_cpu.config: 570 steps, about 15 minutes on 2 idle cores),
#   4. evaluate the final checkpoint with the official AVA frame-mAP (and the constant-score and
#      class-prior baselines),
#   5. export it as a SavedModel (with the attention outputs),
#   6. run predict on a held-out validation video (annotated mp4, keyframe PNGs, detections CSV),
#   7. draw the Tx head's attention (the paper's Figure 4) for one person of that video,
#   8. run predict on a real video nobody here made (../shared's cricket clip, when present)
#      with no box CSV: the person detector that setup_env.sh fetched finds the people,
#   and print a short table of the results and where each output is.
# Everything goes under ./workspace (see WORKSPACE.md). Sizes can be changed by environment:
#   DEMO_VIDEOS (default 96), DEMO_SECONDS (20), DEMO_STEPS (default: the config's num_steps),
#   DEMO_WORKERS (2).
# Re-running reuses finished steps: data and shards are kept, training resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
VIDEOS=${DEMO_VIDEOS:-96}
SECONDS_PER_VIDEO=${DEMO_SECONDS:-20}
STEPS=${DEMO_STEPS:-}
WORKERS=${DEMO_WORKERS:-2}
DATA=workspace/data/synthetic
SHARDS=workspace/tfrecords/synthetic
MODEL=workspace/models/tiny_kinetics_demo
CONFIG=configs/tiny_kinetics_demo_cpu.config
start=$(date +%s)
stamp() { echo "[demo $(( $(date +%s) - start ))s] $*"; }

if [ ! -f "$DATA/summary.json" ]; then
  stamp "1/8 generating $VIDEOS synthetic videos of $SECONDS_PER_VIDEO s"
  $PY -m data_tools.synth_ava --output_dir "$DATA" --num_videos "$VIDEOS" \
      --seconds "$SECONDS_PER_VIDEO" --seed 0 --num_workers "$WORKERS"
else
  stamp "1/8 synthetic data already in $DATA"
fi

for split in train val; do
  stamp "2/8 converting $split to TFRecords"
  $PY -m data_tools.create_ava_tf_record --annotations_csv "$DATA/$split.csv" \
      --video_dir "$DATA/videos" --output_prefix "$SHARDS/$split" --num_shards 4 \
      --num_workers "$WORKERS" --label_map_path "$DATA/label_map.pbtxt" \
      --person_boxes_csv "$DATA/${split}_predicted_boxes.csv" --clip_frames 64 --segment_start 900
done

# The Kinetics-400 weights (setup_env.sh fetched them; this is a no-op then).
$PY -m data_tools.fetch_kinetics_i3d --output_dir workspace/pretrained/i3d_kinetics400_rgb
stamp "3/8 training (${STEPS:+$STEPS steps, }$CONFIG -> $MODEL)"
$PY -m ava_tx.model_main_tf2 --pipeline_config_path "$CONFIG" --model_dir "$MODEL" \
    ${STEPS:+--num_train_steps "$STEPS"}

stamp "4/8 evaluating the last checkpoint"
$PY -m ava_tx.model_main_tf2 --pipeline_config_path "$CONFIG" --model_dir "$MODEL" \
    --checkpoint_dir "$MODEL" --eval_once
EXPORT=workspace/exported/tiny_kinetics_demo
PREDICT=workspace/predict/tiny_kinetics_demo
ATTENTION=workspace/attention/tiny_kinetics_demo
HELD_OUT=$(tail -n 1 "$DATA/val.csv" | cut -d, -f1)  # a held-out (validation) video
stamp "5/8 exporting the SavedModel (video input, attention outputs) to $EXPORT"
$PY -m ava_tx.exporter_main_v2 --input_type video_tensor --pipeline_config_path "$CONFIG" \
    --trained_checkpoint_dir "$MODEL" --output_directory "$EXPORT" --export_attention

# The demo model's proposals are person-detector boxes (no RPN; README), so predict takes the
# synthetic detector's boxes for the video, as it would take AVA's released detector boxes.
stamp "6/8 predict on the held-out video $HELD_OUT"
$PY -m ava_tx.predict --saved_model_dir "$EXPORT/saved_model" --output_dir "$PREDICT" \
    --segment_start 900 --person_boxes_csv "$DATA/val_predicted_boxes.csv" \
    "$DATA/videos/$HELD_OUT.mp4"

stamp "7/8 attention of the Tx head for the first person at second 10 of $HELD_OUT"
$PY -m ava_tx.visualize_attention --saved_model_dir "$EXPORT/saved_model" \
    --video "$DATA/videos/$HELD_OUT.mp4" --output_dir "$ATTENTION" --segment_start 900 \
    --timestamp 910 --person_boxes_csv "$DATA/val_predicted_boxes.csv"

# A real video with no detector CSV: predict runs the fetched person detector (NanoDet,
# docs/INFERENCE.md) on each keyframe. The model was trained on synthetic people only.
CRICKET=../shared/data/video/v_CricketShot_g04_c01_rgb.gif
PREDICT_REAL=workspace/predict/cricket
if [ -f "$CRICKET" ]; then
  stamp "8/8 predict on the real clip $CRICKET (person boxes from the fetched detector)"
  $PY -m ava_tx.predict --saved_model_dir "$EXPORT/saved_model" --output_dir "$PREDICT_REAL" \
      "$CRICKET"
  REAL_OUT="$PREDICT_REAL/detections.csv, $PREDICT_REAL/v_CricketShot_g04_c01_rgb.mp4"
else
  stamp "8/8 skipped: no real clip at $CRICKET (../shared is not beside this checkout)"
  REAL_OUT="(skipped: $CRICKET absent)"
fi

METRICS=$(ls -t "$MODEL"/eval/metrics*.json | head -n 1)
stamp "done"
$PY -m ava_tx.eval.metrics_table "$METRICS"
cat <<EOT

outputs
  TensorBoard                    tensorboard --logdir $MODEL
  SavedModel                     $EXPORT/saved_model
  predictions on $HELD_OUT      $PREDICT/detections.csv, $PREDICT/$HELD_OUT.mp4, $PREDICT/$HELD_OUT/*.png
  attention figure               $ATTENTION/index.html, $ATTENTION/figure.png
  predictions on the cricket clip $REAL_OUT
EOT
