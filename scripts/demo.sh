#!/usr/bin/env bash
# The main job on the embedded default data, end to end on CPU:
#   1. generate the synthetic AVA-format dataset (videos, CSVs, label map, detector boxes),
#   2. convert it to TFRecord shards,
#   3. train the tiny Action Transformer (configs/tiny_synthetic_cpu.config),
#   4. evaluate the final checkpoint with the official AVA frame-mAP (and the constant-score and
#      class-prior baselines).
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
MODEL=workspace/models/tiny_synthetic
CONFIG=configs/tiny_synthetic_cpu.config
start=$(date +%s)
stamp() { echo "[demo $(( $(date +%s) - start ))s] $*"; }

if [ ! -f "$DATA/summary.json" ]; then
  stamp "1/4 generating $VIDEOS synthetic videos of $SECONDS_PER_VIDEO s"
  $PY -m data_tools.synth_ava --output_dir "$DATA" --num_videos "$VIDEOS" \
      --seconds "$SECONDS_PER_VIDEO" --seed 0 --num_workers "$WORKERS"
else
  stamp "1/4 synthetic data already in $DATA"
fi

for split in train val; do
  stamp "2/4 converting $split to TFRecords"
  $PY -m data_tools.create_ava_tf_record --annotations_csv "$DATA/$split.csv" \
      --video_dir "$DATA/videos" --output_prefix "$SHARDS/$split" --num_shards 4 \
      --num_workers "$WORKERS" --label_map "$DATA/label_map.pbtxt" \
      --person_boxes_csv "$DATA/${split}_predicted_boxes.csv" --clip_frames 64 --segment_start 900
done

stamp "3/4 training (${STEPS:+$STEPS steps, }$CONFIG -> $MODEL)"
$PY -m ava_tx.model_main_tf2 --pipeline_config_path "$CONFIG" --model_dir "$MODEL" \
    ${STEPS:+--num_train_steps "$STEPS"}

stamp "4/4 evaluating the last checkpoint"
$PY -m ava_tx.model_main_tf2 --pipeline_config_path "$CONFIG" --model_dir "$MODEL" \
    --checkpoint_dir "$MODEL"
stamp "done: detections CSV and metrics JSON in $MODEL/eval; tensorboard --logdir $MODEL"
