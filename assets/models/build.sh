#!/usr/bin/env bash
# Rebuilds the shipped models from the real data, with fixed seeds (about 40 minutes on 2 cores
# with the CPC in place, 75 more to pretrain it):
#   assets/models/build.sh [DATA]        DATA defaults to ../shared/data
# 1. CPC pretrained on LibriSpeech (paper configuration; 32 epochs x 30 steps of 8 x 10 s)
#    -> assets/models/cpc_librispeech.keras; kept if it is there (delete it to pretrain again)
# 2. three preCPC recognizers (runs 0, 1, 2: other seeds, other validation actors) finetuned on RAVDESS,
#    actor-independent fold 0 of 4 held out for testing, behind the level normalisation, on the frames that hold
#    speech, on features normalised per speaker with a variance floor of 0.05 (and their neutral reference),
#    bounded, with 3 augmented copies of the training audio (each of their files with its own gain within +-10 dB,
#    so that loudness within a speaker is a weaker cue), validated and saved as the weights' moving average, the
#    attention on the mean of each run of 8 frames, with 20 MFCCs and the voicing and pitch appended to each CPC
#    context; their ensemble (the mean of their estimates, training.ensemble) -> assets/models/emotion/recognizer.keras;
#    kept if it is there (delete it to finetune again)
# 3. LiteRT exports (hop 0.1 s, window 5 s): emotion/float and emotion/int8 (int8 weights in both
#    models, dynamic-range quantization: 2.84 MB; benchmarks/README.md), behind the gated noise suppression before the
#    level normalisation: WebRTC's at level 2, at level 4 where the noise floor is steady, RNNoise where it is also
#    close under the speech, its output mixed with the input 30 dB below it (an attenuation limit)
#    (keras_cpc.suppression; the recognizers were trained without it)
# 4. held-out CCC of the Keras, float and int8 models -> emotion/heldout.json, the outputs on
#    the sample clips that tests/test_shipped_models.py checks -> emotion/expected.json, and the
#    out-of-domain protocol (training.robustness, its conditions shared by two processes) -> emotion/robustness/; the
#    model card's tables from them
# Work files go to runs/shipped; rerunning resumes the steps that did not finish.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data}
py=.venv/bin/python
work=runs/shipped
models=assets/models
fold=(--corpus ravdess --data "$DATA/ravdess" --folds 4 --fold 0)
strip_optimizer() {  # the shipped .keras files hold the weights only (a third of the size)
    $py -c 'import sys, keras, keras_cpc.models; [keras.saving.load_model(p, compile=False).save(p) for p in sys.argv[1:]]' "$@"
}

if [ ! -f $models/cpc_librispeech.keras ]; then
    $py -m training.pretrain --data "$DATA/librispeech" --out $work/cpc --epochs 32 --steps-per-epoch 30 \
        --batch-size 8 --crop-seconds 10 --seed 0
    cp $work/cpc/cpc.keras $models/cpc_librispeech.keras
    strip_optimizer $models/cpc_librispeech.keras
fi

mkdir -p $models/emotion
if [ ! -f $models/emotion/recognizer.keras ]; then
    members=()
    for run in 0 1 2; do
        # --weight-decay 0: as the RAVDESS grid (docs/results.md), whose runs kept Keras's no-op decoupled decay
        $py -m training.finetune "${fold[@]}" --system precpc --cpc $models/cpc_librispeech.keras --run $run \
            --weight-decay 0 --augment 3 --speaker-features --variance-floor 0.05 --speech-frames \
            --weight-average 0.995 --frame-average 8 --mfccs 20 --pitch --utterance-gain 10 --cache $work/cache \
            --out $work/recognizer-run$run
        members+=($work/recognizer-run$run/recognizer.keras)
        for plot in curves scatter; do cp $work/recognizer-run$run/$plot.png $models/emotion/$plot-run$run.png; done
    done
    $py -m training.ensemble --members "${members[@]}" --out $models/emotion/recognizer.keras
    strip_optimizer $models/emotion/recognizer.keras
fi

# the day, the recognizer's digest and the suppression: a model rebuilt the same day, or behind another front end, is
# another version (saved calibrations are per version)
version="precpc-ravdess-fold0-$(date -u +%Y%m%d)-$(sha256sum $models/emotion/recognizer.keras | cut -c1-8)-ns2s4rnnoise30"
for quantize in none dynamic; do
    name=$([ $quantize = none ] && echo float || echo int8)
    rm -rf $models/emotion/$name
    $py -m training.export --cpc $models/cpc_librispeech.keras --recognizer $models/emotion/recognizer.keras \
        --out $models/emotion/$name --quantize $quantize \
        --suppression 2 --suppression-steady 4 --suppression-low-snr rnnoise \
        --suppression-rnnoise-limit 30 --model-version "$version" \
        --training-data "CPC: LibriSpeech train-clean-100 sample (52 min, CC BY 4.0); recognizer: RAVDESS speech, 18 actors (CC BY-NC-SA 4.0)" \
        --licence "CC BY-NC-SA 4.0 (inherited from RAVDESS): non-commercial use only"
done

$py -m training.heldout "${fold[@]}" --recognizer $models/emotion/recognizer.keras \
    --cpc $models/cpc_librispeech.keras --models $models/emotion/float $models/emotion/int8 \
    --json $models/emotion/heldout.json
$py - <<'EOF'
import json
from pathlib import Path
from app.engine.analysis import analyze_file
from app.engine.streaming import StreamingRecognizer
from keras_cpc.audio import audio_files
emotion = Path("assets/models/emotion")
clips = audio_files(["assets/samples/ravdess/Actor_02"])
expected = {name: {clip.name: list(analyze_file(StreamingRecognizer(emotion / name), clip)[-1])
                   for clip in clips} for name in ("float", "int8")}
(emotion / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
EOF
$py -m training.robustness "${fold[@]}" --models $models/emotion/float $models/emotion/int8 \
    --babble "$DATA/librispeech" --read-speech "$DATA/librispeech" --jobs 2 --out $models/emotion/robustness
$py -m tools.model_card  # the model card's tables from heldout.json and robustness/results.json
du -sh $models/emotion/*
