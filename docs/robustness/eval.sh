#!/usr/bin/env bash
# export float + int8 of a run, then robustness of both: eval.sh RUN_DIR OUT_DIR CORE
set -euo pipefail
run=$1; out=$2; core=$3
py=.venv/bin/python
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
calib=$(.venv/bin/python - <<'PY'
from keras_cpc.datasets.protocol import read_corpus, split
train, _, _ = split("ravdess", read_corpus("ravdess", "../shared/data/ravdess"), 0, 4, 0.2, 0)
print(" ".join(u.path for u in train[::4]))
PY
)
for q in none int8; do
  [ -f $run/export-$q/model.json ] || taskset -c $core $py -m training.export --cpc assets/models/cpc_librispeech.keras --recognizer $run/recognizer.keras --out $run/export-$q --quantize $q --representative $calib
done
taskset -c $core $py -m training.robustness --corpus ravdess --data ../shared/data/ravdess --fold 0 --models $run/export-none $run/export-int8 --babble ../shared/data/librispeech --read-speech ../shared/data/librispeech --out $out
