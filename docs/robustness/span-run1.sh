#!/usr/bin/env bash
# the shipped recipe with causal attention over the 5 s window (--attention-span 500), then its exports and out-of-domain run
set -euo pipefail
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
out=runs/exp/speaker-features-augment3-floor0.05-span500-run1
taskset -c 1 .venv/bin/python -m training.finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 \
  --system precpc --cpc assets/models/cpc_librispeech.keras --run 1 --weight-decay 0 --augment 3 \
  --speaker-features --variance-floor 0.05 --attention-span 500 --cache runs/cache --out $out
runs/exp/eval.sh $out $out/robustness 1
