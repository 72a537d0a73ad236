#!/usr/bin/env bash
# keras-cpc developer entry point.
#   ./dev.sh demo   run the main job end to end on the bundled clips (no downloads): runs/demo
#   ./dev.sh test   run the whole test suite
# Both create (or reuse) .venv with Python 3.11 and install what is missing, system
# packages included (through apt-get, as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

apt_install() {  # apt_install PACKAGE...: install the Debian packages that are missing
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing system packages: ${missing[*]}"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

setup() {
    if ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
        apt_install python3-venv
    fi
    # PortAudio (+ ALSA's pulse plugin) for live audio; PulseAudio for the capture test; Qt's runtime libraries
    apt_install libportaudio2 libasound2-plugins pulseaudio \
        libegl1 libgl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3 fonts-dejavu-core
    if [ ! -x .venv/bin/python ]; then
        "$PYTHON" -m venv .venv
    fi
    local stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
    if [ ! -f "$stamp" ]; then
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e ".[dev]"
        touch "$stamp"
    fi
}

demo() {  # the main job on the bundled clips: pretrain, finetune, export, analyze (runs/demo)
    local py=.venv/bin/python out=runs/demo ravdess=assets/samples/ravdess
    $py -m training.pretrain --data assets/samples/librispeech --out $out/cpc \
        --epochs 6 --steps-per-epoch 40 --crop-seconds 2
    $py -m training.finetune --corpus ravdess --data $ravdess --folds 4 --fold 0 --system precpc \
        --cpc $out/cpc/cpc.keras --epochs 30 --cache $out/cache --out $out/recognizer
    [ -f $out/model/model.json ] || $py -m training.export --cpc $out/cpc/cpc.keras \
        --recognizer $out/recognizer/recognizer.keras --out $out/model --quantize int8 --representative $ravdess \
        --training-data "LibriSpeech clips + RAVDESS sample (assets/samples)" --licence "CC BY-NC-SA 4.0"
    $py -m app.analyze $ravdess/Actor_03 --acted --model $out/model --csv $out/trajectories.csv \
        --plot $out/trajectories.png
}

case "${1:-}" in
    demo)
        setup
        demo
        ;;
    test)
        setup
        shift
        .venv/bin/python -m pytest -q "$@"
        ;;
    *)
        sed -n '2,7p' "$0"; exit 2 ;;
esac
