"""Why presuming an acted speaker's calibration neutral costs CCC: per dimension, the mean estimate, Pearson's r and
CCC on the fold's clean held-out clips, each speaker calibrated with their clips, mapped onto the corpus's statistics
(as training) or presumed neutral (as `app.analyze` without `--acted`):

    PYTHONPATH=. python docs/robustness/neutral_offset.py MODEL_DIR DATA_DIR
"""

import sys

import numpy as np

from keras_cpc.audio import load_audio
from keras_cpc.datasets import labels
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.metrics.ccc import DIMENSIONS, ccc
from training.robustness import StreamPredictor


def main(model: str, data: str) -> None:
    test = split("ravdess", read_corpus("ravdess", data), 0, 4, 0.2, 0)[2]
    clips, truth = [load_audio(u.path) for u in test], labels(test)
    speakers = {s: [i for i, u in enumerate(test) if u.speaker == s] for s in dict.fromkeys(u.speaker for u in test)}
    print("| calibration | " + " | ".join(f"{d}: mean / r / CCC" for d in DIMENSIONS) + " |")
    print("|---|" + "---|" * len(DIMENSIONS))
    print("| truth | " + " | ".join(f"{m:+.2f} / / " for m in truth.mean(0)) + " |")
    for neutral in (False, True):
        predict, estimates = StreamPredictor(model, neutral=neutral), np.zeros_like(truth)
        for indices in speakers.values():
            predict.calibrate([clips[i] for i in indices], [test[i] for i in indices])
            for i in indices:
                estimates[i] = predict(clips[i])
        r = [np.corrcoef(truth[:, d], estimates[:, d])[0, 1] for d in range(len(DIMENSIONS))]
        cells = [f"{m:+.2f} / {c:.3f} / {k:.3f}" for m, c, k in zip(estimates.mean(0), r, ccc(truth, estimates))]
        print(f"| {'presumed neutral' if neutral else 'every emotion (as training)'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:])
