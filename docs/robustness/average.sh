#!/usr/bin/env bash
# the recipe shipped on 2026-12-04 with the weights' moving average (--weight-average 0.995) as run RUN on core RUN,
# then its exports and out-of-domain runs (eval.sh): average.sh RUN
set -euo pipefail
run=$1
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
out=runs/exp/speaker-features-augment3-floor0.05-average0.995-run$run
taskset -c $run .venv/bin/python -m training.finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 \
  --system precpc --cpc assets/models/cpc_librispeech.keras --run $run --weight-decay 0 --augment 3 \
  --speaker-features --variance-floor 0.05 --weight-average 0.995 --cache runs/cache --out $out
runs/exp/eval.sh $out $out/robustness $run
