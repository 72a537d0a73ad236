#!/usr/bin/env bash
# session 41: the shipped recipe retrained with the speech frames' floor at FLOOR dBFS (default -60): three runs
# (0 and 1 side by side, one core each, then 2), their ensemble, its float export behind the shipped suppression, and
# the out-of-domain protocol on both cores, beside the shipped model's record (assets/models/emotion/robustness):
#   docs/robustness/speech_floor.sh FLOOR      writes runs/exp/speech-floorFLOOR-run{0,1,2}, -ensemble and
#                                              docs/robustness/speech-floorFLOOR-ensemble
set -euo pipefail
floor=$1
py=.venv/bin/python
name=speech-floor${floor#-}
train() {  # the shipped recipe (assets/models/build.sh) on one core, with the floor
  TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 taskset -c $2 $py -m training.finetune --corpus ravdess \
    --data ../shared/data/ravdess --folds 4 --fold 0 --system precpc --cpc assets/models/cpc_librispeech.keras \
    --run $1 --weight-decay 0 --augment 3 --speaker-features --variance-floor 0.05 --speech-frames \
    --speech-floor $floor --weight-average 0.995 --frame-average 8 --mfccs 20 --pitch --utterance-gain 10 \
    --cache runs/cache --out runs/exp/$name-run$1 > runs/exp/$name-run$1.log 2>&1
}
mkdir -p runs/exp
train 0 0 & train 1 1 & wait
train 2 0
ensemble=runs/exp/$name-ensemble
[ -f $ensemble/recognizer.keras ] || $py -m training.ensemble --out $ensemble/recognizer.keras \
  --members runs/exp/$name-run{0,1,2}/recognizer.keras
[ -f $ensemble/float/model.json ] || $py -m training.export --cpc assets/models/cpc_librispeech.keras \
  --recognizer $ensemble/recognizer.keras --out $ensemble/float --quantize none \
  --suppression 2 --suppression-steady 4 --suppression-low-snr rnnoise
$py -m training.robustness --corpus ravdess --data ../shared/data/ravdess --fold 0 --models $ensemble/float \
  --babble ../shared/data/librispeech --read-speech ../shared/data/librispeech --jobs 2 --cache runs/cache \
  --out docs/robustness/$name-ensemble
