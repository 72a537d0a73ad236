"""How the `Pitch` layer's octave cost and lowest pitch trade octave jumps for voiced frames, on 10 LibriSpeech and 20
RAVDESS clips drawn with a fixed seed (first 4 s of each): the share of consecutive voiced frames (voicing > 0.6)
whose pitch jumps by more than 0.6 octave, and the share of voiced frames.

    PYTHONPATH=. python docs/robustness/pitch_octave_cost.py [DATA]    DATA defaults to ../shared/data
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

from keras_cpc.audio import load_audio
from keras_cpc.layers import Pitch


def main(data: Path) -> None:
    rng = np.random.default_rng(1)
    files = [*rng.choice(sorted(data.glob("librispeech/**/*.flac")), 10, replace=False),
             *rng.choice(sorted(data.glob("ravdess/*/*.flac")), 20, replace=False)]
    clips = [load_audio(path)[:4 * 16000] for path in files]
    print("| octave cost | lowest pitch (Hz) | octave jumps | voiced frames |\n|---:|---:|---:|---:|")
    for cost in (0.02, 0.1, 0.2, 0.4):
        for low in (75, 90):
            layer = Pitch(octave_cost=cost, low=low)
            jumps, voiced = [], []
            for clip in clips:
                features = keras.ops.convert_to_numpy(layer(clip[None]))[0]
                voicing, octaves = features[:, 0], features[:, 1] / np.maximum(features[:, 0], 1e-9)
                both = (voicing[1:] > 0.6) & (voicing[:-1] > 0.6)
                if both.any():  # a clip without two voiced frames in a row has no jumps to count
                    jumps.append((np.abs(np.diff(octaves))[both] > 0.6).mean())
                voiced.append((voicing > 0.6).mean())
            print(f"| {cost} | {low} | {np.mean(jumps):.3f} | {np.mean(voiced):.2f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
