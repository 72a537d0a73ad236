#!/usr/bin/env bash
# Session 44's probe of an attenuation limit on RNNoise (SuppressionSettings.rnnoise_limit_db): copies of the float
# export shipped in session 37 (assets/models/emotion/float at git 3a09a46, taken from git since the folder holds
# session 44's export now; the probe itself copied the folder before the reship), each with only `rnnoise_limit_db`
# added to its model.json's frontend.suppression, scored under the four steady-noise conditions (the gate gives
# RNNoise steady floors close under the speech, few of the other conditions' streams):
#   docs/robustness/rnnoise-limit-probe/probe.sh OUT "10 20"     # -> rnnlimit-probe
#   docs/robustness/rnnoise-limit-probe/probe.sh OUT "26 32"     # -> rnnlimit-probe2
set -euo pipefail
out=$1 limits=$2
models=()
for limit in $limits; do
    rm -rf runs/exp/float-rnnlimit$limit
    mkdir -p runs/exp/float-rnnlimit$limit
    git archive 3a09a46 assets/models/emotion/float | tar -x --strip-components=4 -C runs/exp/float-rnnlimit$limit
    .venv/bin/python - runs/exp/float-rnnlimit$limit/model.json "$limit" <<'PY'
import json, sys
path, limit = sys.argv[1], float(sys.argv[2])
model = json.load(open(path))
model["frontend"]["suppression"]["rnnoise_limit_db"] = limit
json.dump(model, open(path, "w"), indent=1)
PY
    models+=(runs/exp/float-rnnlimit$limit)
done
.venv/bin/python -m training.robustness --corpus ravdess --data ../shared/data/ravdess --fold 0 \
    --models "${models[@]}" --babble ../shared/data/librispeech \
    --conditions white-10db pink-10db white-20db pink-20db --jobs 2 --cache runs/cache --out "$out"
