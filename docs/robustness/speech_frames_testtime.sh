#!/usr/bin/env bash
# Session 40: the shipped float model with other speech-frame settings at test time only (its recognizers were trained
# with the defaults: floor -60 dBFS, margin 10 dB over the noise floor). Each variant is a copy of
# assets/models/emotion/float whose model.json changes one setting of frontend.speech_frames:
#   sf45, sf40: floor_dbfs -45 / -40 (frames quieter than that, after the level normalisation, are not speech)
#   m15, m20:   margin_db 15 / 20 (a frame must be that far above the tracked noise floor)
# then scored by the out-of-domain protocol: the floors and margin 15 under six conditions, margins 15 and 20 under all
# fifteen with read speech. Run from the repository root; writes runs/exp/{speechframes,margins}. Written after the runs
# from the commands they record (results.json's argv): the same settings and options, in another order. The margins'
# record was then split into one record per model (each with the floor): shipped-speech-margin{15,20}-testtime.
set -euo pipefail
py=.venv/bin/python
mkdir -p runs/exp
for variant in sf45:floor_dbfs:-45 sf40:floor_dbfs:-40 m15:margin_db:15 m20:margin_db:20; do
    IFS=: read -r name key value <<< "$variant"
    rm -rf runs/exp/$name && cp -r assets/models/emotion/float runs/exp/$name
    $py - runs/exp/$name/model.json "$key" "$value" <<'PY'
import json, sys
path, key, value = sys.argv[1], sys.argv[2], float(sys.argv[3])
config = json.load(open(path))
config["frontend"]["speech_frames"][key] = value
json.dump(config, open(path, "w"), indent=2)
PY
done
common=(--corpus ravdess --data ../shared/data/ravdess --fold 0 --babble ../shared/data/librispeech --jobs 2
        --cache runs/cache)
$py -m training.robustness "${common[@]}" --models runs/exp/sf45 runs/exp/sf40 runs/exp/m15 \
    --conditions clean babble-20db babble-10db white-10db rt60-0.8 peak --out runs/exp/speechframes
$py -m training.robustness "${common[@]}" --models runs/exp/m15 runs/exp/m20 \
    --read-speech ../shared/data/librispeech --out runs/exp/margins
