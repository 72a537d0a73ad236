#!/usr/bin/env bash
# the recipe shipped on 2026-12-04 with the weights' moving average (momentum 0.995), as run RUN on core RUN:
# average.sh RUN
exec "$(dirname "$0")/variant.sh" average0.995 "$1" "$1" --weight-average 0.995
