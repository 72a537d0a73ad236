#!/usr/bin/env bash
# copies a run's out-of-domain record and its finetuning record into docs/robustness: record.sh RUN_DIR
set -euo pipefail
run=$1; doc=docs/robustness/$(basename "$run")
mkdir -p "$doc/run"
cp "$run"/robustness/{results.json,robustness.md,robustness.png} "$doc/"
cp "$run"/{log.csv,predictions.csv,curves.png,scatter.png,results.json} "$doc/run/"
