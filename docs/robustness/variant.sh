#!/usr/bin/env bash
# the recipe shipped on 2026-12-04 with extra finetune options, as run RUN on core CORE, then its exports and
# out-of-domain runs (eval.sh): variant.sh NAME RUN CORE [FINETUNE OPTION ...] writes
# runs/exp/speaker-features-augmentAUGMENT-floor0.05-NAME-runRUN; the environment's CPC, if set, replaces the shipped
# CPC, and its AUGMENT (default 3) sets the number of augmented copies
set -euo pipefail
name=$1; run=$2; core=$3; shift 3
cpc=${CPC:-assets/models/cpc_librispeech.keras}
augment=${AUGMENT:-3}
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
out=runs/exp/speaker-features-augment$augment-floor0.05-$name-run$run
taskset -c $core .venv/bin/python -m training.finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 \
  --system precpc --cpc $cpc --run $run --weight-decay 0 --augment $augment \
  --speaker-features --variance-floor 0.05 "$@" --cache runs/cache --out $out
docs/robustness/eval.sh $out $out/robustness $core $cpc
