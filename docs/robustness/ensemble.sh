#!/usr/bin/env bash
# the ensemble of finished runs (training.ensemble), exported and scored as a run is (eval.sh):
# ensemble.sh OUT CORE RUN_DIR... writes OUT/recognizer.keras, OUT/members.txt and OUT/robustness
set -euo pipefail
out=$1; core=$2; shift 2
mkdir -p $out
printf '%s\n' "$@" > $out/members.txt
[ -f $out/recognizer.keras ] || .venv/bin/python -m training.ensemble --out $out/recognizer.keras \
  --members $(for run in "$@"; do echo $run/recognizer.keras; done)
docs/robustness/eval.sh $out $out/robustness $core
