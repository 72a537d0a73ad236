#!/usr/bin/env bash
# the recipe shipped on 2026-12-04 with speech frames only, as run RUN on core CORE: speech.sh RUN CORE
exec "$(dirname "$0")/variant.sh" speech "$1" "$2" --speech-frames
