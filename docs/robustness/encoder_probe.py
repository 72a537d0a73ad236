"""Probe (session 32): do the CPC encoder's frames keep emotion under channel shifts better than its contexts?
python docs/robustness/encoder_probe.py OUT_JSON

Ridge regressions (`keras_cpc.floor.fit_floor`) on per-clip mean and standard deviation of the shipped CPC's encoder
frames (z, 128), its contexts (c, 256), both, the 40 MFCCs, and contexts + MFCCs, each clip scaled to -25 dBFS of
active power and each input standardised over the speaker's clips under the same condition. Trained on RAVDESS fold 0's
training speakers (split seed 0) clean and through one augmented copy (`channel_shift(0, 0, ..., 10)`), scored on the
held-out speakers under six of the protocol's conditions (seed 0 for every clip).
"""

import json
import sys
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from keras_cpc.audio import load_audio
from keras_cpc.channels import active_power, apply_condition, babble_sources, protocol_babble_files
from keras_cpc.datasets import EmotionUtterance, labels
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.features import channel_shift, load_cpc, mfcc_extractor
from keras_cpc.floor import fit_floor, pooled
from keras_cpc.metrics.ccc import ccc

CONDITIONS = ["clean", "white-20db", "white-10db", "babble-10db", "telephone", "rt60-0.8"]
model = load_cpc("assets/models/cpc_librispeech.keras")
run = tf.function(lambda audio: (model.encoder(audio), model.context(audio)),
                  input_signature=[tf.TensorSpec([1, None], tf.float32)])
mfcc = mfcc_extractor()[1]
train, valid, test = split("ravdess", read_corpus("ravdess", "../shared/data/ravdess"), 0, 4, 0.05, 0)
COLUMNS = {"z": slice(0, 256), "c": slice(256, 768), "z + c": slice(0, 768), "MFCC": slice(768, None),
           "c + MFCC": slice(256, None)}


def clip_inputs(clip: np.ndarray) -> np.ndarray:
    """Pooled z, c and MFCCs of `clip` at -25 dBFS."""
    clip = (clip * np.sqrt(10 ** (-25 / 10) / max(active_power(clip), 1e-12))).astype(np.float32)
    z, c = (x[0].numpy() for x in run(clip[None]))
    return np.concatenate([pooled(z), pooled(c), pooled(mfcc(clip))])


def corpus_inputs(utterances: Sequence[EmotionUtterance],
                  transform: Callable[[np.ndarray, EmotionUtterance], np.ndarray]) -> np.ndarray:
    """`clip_inputs` of every utterance through `transform`, standardised over each speaker's clips."""
    rows = np.zeros((len(utterances), 2 * (128 + 256 + 40)))
    for speaker in dict.fromkeys(u.speaker for u in utterances):
        indices = [i for i, u in enumerate(utterances) if u.speaker == speaker]
        x = np.stack([clip_inputs(transform(load_audio(utterances[i].path), utterances[i])) for i in indices])
        rows[indices] = (x - x.mean(0)) / (x.std(0) + 1e-8)
    return rows


shift = channel_shift(0, 0, babble_sources([u.path for u in train]), 10.0)[1]
x_train = np.concatenate([corpus_inputs(train, lambda audio, _: audio), corpus_inputs(train, shift)])
x_valid = corpus_inputs(valid, lambda audio, _: audio)
floors = {name: fit_floor(x_train[:, c], np.tile(labels(train), (2, 1)), x_valid[:, c], labels(valid))
          for name, c in COLUMNS.items()}
babble = [load_audio(path) for path in protocol_babble_files("../shared/data/librispeech")]
results = {}
for condition in CONDITIONS:
    x = corpus_inputs(test, lambda audio, _: apply_condition(condition, audio, 0, babble))
    results[condition] = {name: [float(v) for v in ccc(labels(test), floor.predict(x[:, COLUMNS[name]]))]
                          for name, floor in floors.items()}
    print(condition, " | ".join(f"{n} " + " / ".join(f"{v:.3f}" for v in s) for n, s in results[condition].items()),
          flush=True)
with open(sys.argv[1], "w") as file:
    json.dump(results, file, indent=2)
