#!/usr/bin/env bash
# the shipped recipe with 6 augmented copies instead of 3, then its exports and out-of-domain run
set -euo pipefail
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
taskset -c 1 .venv/bin/python -m training.finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 \
  --system precpc --cpc assets/models/cpc_librispeech.keras --run 0 --weight-decay 0 --augment 6 \
  --speaker-features --variance-floor 0.05 --cache runs/cache --out runs/exp/speaker-features-augment6-floor0.05
runs/exp/eval.sh runs/exp/speaker-features-augment6-floor0.05 runs/exp/speaker-features-augment6-floor0.05/robustness 1
