#!/usr/bin/env bash
# the recipe shipped on 2026-12-04 with speech frames only (--speech-frames) as run RUN on core CORE, then its exports
# and out-of-domain runs (eval.sh): speech.sh RUN CORE
set -euo pipefail
run=$1; core=$2
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
out=runs/exp/speaker-features-augment3-floor0.05-speech-run$run
taskset -c $core .venv/bin/python -m training.finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 \
  --system precpc --cpc assets/models/cpc_librispeech.keras --run $run --weight-decay 0 --augment 3 \
  --speaker-features --variance-floor 0.05 --speech-frames --cache runs/cache --out $out
runs/exp/eval.sh $out $out/robustness $core
