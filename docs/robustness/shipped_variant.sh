#!/usr/bin/env bash
# the shipped recipe (assets/models/build.sh) retrained with extra finetune options: three runs (0 and 1 side by side,
# one core each, then 2), their ensemble, its float export behind the shipped suppression, and the out-of-domain
# protocol on both cores, to set beside the shipped model's record (assets/models/emotion/robustness):
#   [CPC=FILE] docs/robustness/shipped_variant.sh NAME [FINETUNE OPTION ...]
# writes runs/exp/NAME-run{0,1,2}, -ensemble and docs/robustness/NAME-ensemble; CPC: another pretrained CPC than the
# shipped one, for the runs and the export
# (session 41: speech-floor45 --speech-floor -45; babble0.5 --augment-babble 0.5; session 42: speech-hangover3
# --speech-hangover 3; attentive --attentive-pooling; babble0.5-librispeech --augment-babble 0.5 --augment-babble-from
# ../shared/data/librispeech; session 43: babble-librispeech --augment-babble-from ../shared/data/librispeech;
# babble0.25-librispeech --augment-babble 0.25 --augment-babble-from ../shared/data/librispeech)
# Rerunning skips what is done (a run with its results.json, the ensemble, the export). The body is one block, read
# whole before it runs, so that editing this file meanwhile does not change a running script.
set -euo pipefail
{
[ $# -ge 1 ] || { echo "usage: [CPC=FILE] $0 NAME [FINETUNE OPTION ...]" >&2; exit 2; }
name=$1; shift
py=.venv/bin/python
cpc=${CPC:-assets/models/cpc_librispeech.keras}
train() {  # run $1 on core $2, unless it is done
  [ -f "runs/exp/$name-run$1/results.json" ] && return
  TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 taskset -c $2 $py -m training.finetune --corpus ravdess \
    --data ../shared/data/ravdess --folds 4 --fold 0 --system precpc --cpc "$cpc" \
    --run $1 --weight-decay 0 --augment 3 --speaker-features --variance-floor 0.05 --speech-frames \
    --weight-average 0.995 --frame-average 8 --mfccs 20 --pitch --utterance-gain 10 "${options[@]}" \
    --cache runs/cache --out "runs/exp/$name-run$1" > "runs/exp/$name-run$1.log" 2>&1
}
options=("$@")
mkdir -p runs/exp
train 0 0 & first=$!
train 1 1 & second=$!
wait $first; wait $second  # each its own status, so that a failed run stops the script
train 2 0
ensemble="runs/exp/$name-ensemble"
[ -f "$ensemble/recognizer.keras" ] || $py -m training.ensemble --out "$ensemble/recognizer.keras" \
  --members "runs/exp/$name-run"{0,1,2}/recognizer.keras
[ -f "$ensemble/float/model.json" ] || $py -m training.export --cpc "$cpc" \
  --recognizer "$ensemble/recognizer.keras" --out "$ensemble/float" --quantize none \
  --suppression 2 --suppression-steady 4 --suppression-low-snr rnnoise
$py -m training.robustness --corpus ravdess --data ../shared/data/ravdess --fold 0 --models "$ensemble/float" \
  --babble ../shared/data/librispeech --read-speech ../shared/data/librispeech --jobs 2 --cache runs/cache \
  --out "docs/robustness/$name-ensemble"
exit
}
