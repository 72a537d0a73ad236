"""Probe (session 21): a copy of a finished export gets the neutral reference, measured through the engine, then
read speech is scored:  python docs/robustness/neutral_probe.py EXPORT OUT RUN

The reference: the training speakers of RAVDESS fold 0 (run RUN's split), each calibrated with all their clips as
training maps them, the mean and variance of their neutral clips' mapped contexts (what `training.finetune`
records for a new model).
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from app.engine.streaming import StreamingRecognizer
from keras_cpc.audio import audio_files, load_audio
from keras_cpc.datasets.emotion import NEUTRAL
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.speaker_features import frame_statistics
from training.robustness import read_speech_statistics, recordings

source, out, run = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
train, _, _ = split("ravdess", read_corpus("ravdess", "../shared/data/ravdess"), 0, 4, 0.05, run)
recognizer = StreamingRecognizer(source)
neutral = []
for speaker in sorted({u.speaker for u in train}):
    own = [u for u in train if u.speaker == speaker]
    clips = [load_audio(u.path) for u in own]
    recognizer.calibrate_speaker(recordings(clips), neutral=False)
    for utterance, clip in zip(own, clips):
        if utterance.emotion in NEUTRAL:
            recognizer.reset()
            raw = np.concatenate(list(recognizer._recording_contexts([clip])))
            neutral.append(recognizer.speaker_features.push(raw.astype(np.float64)))
mean, variance = frame_statistics(neutral)
shutil.rmtree(out, ignore_errors=True)
shutil.copytree(source, out)
config = json.loads((out / "model.json").read_text())
config["features"].update(neutral_mean=mean.tolist(), neutral_variance=variance.tolist())
(out / "model.json").write_text(json.dumps(config, indent=2))
print(json.dumps(read_speech_statistics([str(out)], audio_files(["../shared/data/librispeech"])), indent=1))
