#!/usr/bin/env bash
# export float + int8-weight (dynamic) models of a run, then robustness of both: eval.sh RUN_DIR OUT_DIR CORE [CPC]
# (CPC: the run's pretrained model, by default the shipped one; the environment's EXPORTS, e.g. "none", replaces the
# exports "none dynamic")
# (until 2026-12-04 the second export was --quantize int8, calibrated on a quarter of the training clips)
set -euo pipefail
run=$1; out=$2; core=$3; cpc=${4:-assets/models/cpc_librispeech.keras}
py=.venv/bin/python
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
exports=${EXPORTS:-none dynamic}
for q in $exports; do
  [ -f $run/export-$q/model.json ] || taskset -c $core $py -m training.export --cpc $cpc --recognizer $run/recognizer.keras --out $run/export-$q --quantize $q
done
taskset -c $core $py -m training.robustness --corpus ravdess --data ../shared/data/ravdess --fold 0 --models $(for q in $exports; do echo $run/export-$q; done) --babble ../shared/data/librispeech --read-speech ../shared/data/librispeech --out $out
