#!/usr/bin/env bash
# the recipe shipped in session 21 trained on one RAVDESS sentence (cross-sentence), run 0 on core CORE:
# reference-sentence.sh SENTENCE CORE [NAME [FINETUNE OPTION ...]] writes
# runs/exp/speech-average0.995-reference[-NAME]-train-sentenceSENTENCE (NAME: a variant with the options after it)
set -euo pipefail
sentence=$1; core=$2; name=${3:+-$3}
shift $(( $# < 3 ? $# : 3 ))
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
taskset -c $core .venv/bin/python -m training.finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 \
  --system precpc --cpc assets/models/cpc_librispeech.keras --run 0 --weight-decay 0 --augment 3 \
  --speaker-features --variance-floor 0.05 --speech-frames --weight-average 0.995 --train-sentence $sentence "$@" \
  --cache runs/cache --out runs/exp/speech-average0.995-reference$name-train-sentence$sentence
