#!/usr/bin/env bash
# probe of a noise-suppressing front end (denoise_probe.py): the recipe shipped in session 28 as run RUN on core CORE,
# every training clip suppressed after its channel shift, its float export scored with each clip suppressed before the
# engine. Session 30's Wiener filter: denoise.sh RUN CORE writes
# runs/exp/speaker-features-augment3-floor0.05-speech-average0.995-reference-frames8-mfccs20-pitch-gain10-denoise-runRUN;
# session 33's RNNoise: DENOISER=rnnoise denoise.sh RUN CORE writes ...-gain10-rnnoise-runRUN
set -euo pipefail
run=$1; core=$2
denoiser=${DENOISER:-wiener}
case $denoiser in
  wiener) name=denoise; option=() ;;
  rnnoise) name=rnnoise; option=(--rnnoise) ;;
  *) echo "denoise.sh: DENOISER is wiener or rnnoise, not $denoiser" >&2; exit 2 ;;
esac
cpc=assets/models/cpc_librispeech.keras
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 PYTHONPATH=.
out=runs/exp/speaker-features-augment3-floor0.05-speech-average0.995-reference-frames8-mfccs20-pitch-gain10-$name-run$run
probe="taskset -c $core .venv/bin/python docs/robustness/denoise_probe.py ${option[*]}"
$probe finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 --system precpc --cpc $cpc --run $run \
  --weight-decay 0 --augment 3 --speaker-features --variance-floor 0.05 --speech-frames --weight-average 0.995 \
  --frame-average 8 --mfccs 20 --pitch --utterance-gain 10 --cache runs/cache-$name --out $out
[ -f $out/export-none/model.json ] || taskset -c $core .venv/bin/python -m training.export --cpc $cpc \
  --recognizer $out/recognizer.keras --out $out/export-none --quantize none
$probe robustness --corpus ravdess --data ../shared/data/ravdess --fold 0 --models $out/export-none \
  --babble ../shared/data/librispeech --out $out/robustness
