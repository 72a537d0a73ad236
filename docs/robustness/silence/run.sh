#!/usr/bin/env bash
# the recipe shipped on 2026-12-04 trained on clips cut to their speech region (speech_region.py), exported float,
# and scored whole and cut beside the shipped model
set -euo pipefail
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 PYTHONPATH=.
py=.venv/bin/python
out=runs/exp/cut-speaker-features-augment3-floor0.05
conditions="clean level-20 peak white-20db white-10db pink-10db rt60-0.8 telephone"
$py docs/robustness/silence/speech_region.py finetune --corpus ravdess --data ../shared/data/ravdess --fold 0 \
  --system precpc --cpc assets/models/cpc_librispeech.keras --run 0 --weight-decay 0 --augment 3 \
  --speaker-features --variance-floor 0.05 --cache runs/cache --out $out
[ -f $out/export-none/model.json ] || $py -m training.export --cpc assets/models/cpc_librispeech.keras \
  --recognizer $out/recognizer.keras --out $out/export-none --quantize none
$py docs/robustness/silence/speech_region.py score $out/export-none $conditions | tail -1 > $out/cut-scores.json
$py docs/robustness/silence/speech_region.py score assets/models/emotion/float $conditions | tail -1 \
  > $out/shipped-scores.json
