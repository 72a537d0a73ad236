#!/usr/bin/env bash
# the shipped recipe (3 augmented copies) and the 6-copy variant, each as run 1 (another seed), then exports and out-of-domain runs
set -euo pipefail
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
for copies in 3 6; do
  out=runs/exp/speaker-features-augment$copies-floor0.05-run1
  taskset -c 1 .venv/bin/python -m training.finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 \
    --system precpc --cpc assets/models/cpc_librispeech.keras --run 1 --weight-decay 0 --augment $copies \
    --speaker-features --variance-floor 0.05 --cache runs/cache --out $out
  runs/exp/eval.sh $out $out/robustness 1
done
