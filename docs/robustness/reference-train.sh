#!/usr/bin/env bash
# finetune only (current code, remove_dc): speech frames + weight average, run $1 on core $2
set -euo pipefail
run=$1; core=$2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
out=runs/exp/speaker-features-augment3-floor0.05-speech-average0.995-reference-run$run
taskset -c $core .venv/bin/python -m training.finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 \
  --system precpc --cpc assets/models/cpc_librispeech.keras --run $run --weight-decay 0 --augment 3 \
  --speaker-features --variance-floor 0.05 --speech-frames --weight-average 0.995 --cache runs/cache --out $out
