"""Probe (session 33): can a session's noise floor tell when a noise suppressor should be on?

    PYTHONPATH=. python docs/robustness/gate_probe.py ../shared/data/ravdess ../shared/data/librispeech

For every condition of the protocol (`keras_cpc.channels.apply_condition`, the seeds `training.robustness` uses) and
each of fold 0's held-out actors, over every sixth of their clips: the level of the 25 ms frames (10 ms hop) at the
95th percentile minus the 10th (an SNR estimate, dB), and the standard deviation of the quietest fifth of the frames'
levels (how stationary the floor is, dB); the medians over the actor's clips, one column per actor.
"""

import sys
from pathlib import Path

import numpy as np

from keras_cpc.audio import audio_files, load_audio
from keras_cpc.channels import BABBLE_SOURCES, CONDITIONS, apply_condition

ACTORS = ("02", "05", "12", "16", "17", "22")  # fold 0's test actors
FRAME = 400
HOP = 160


def frame_levels(audio: np.ndarray) -> np.ndarray:
    """The mean square of each 25 ms frame every 10 ms, in dB."""
    starts = np.arange(0, len(audio) - FRAME, HOP)
    return 10 * np.log10(np.array([np.mean(audio[s:s + FRAME] ** 2) for s in starts]) + 1e-12)


def floor_statistics(audio: np.ndarray) -> tuple[float, float]:
    """(SNR estimate, the quietest fifth's standard deviation), dB."""
    levels = frame_levels(audio)
    quiet = levels[levels <= np.percentile(levels, 20)]
    return float(np.percentile(levels, 95) - np.percentile(levels, 10)), float(np.std(quiet))


def main(ravdess: str, babble_folder: str) -> None:
    babble = [load_audio(path) for path in audio_files([babble_folder])[:BABBLE_SOURCES]]
    print("| condition | SNR estimate per actor, dB | floor's standard deviation per actor, dB |\n|---|---|---|")
    for condition in CONDITIONS:
        medians = []
        for actor in ACTORS:
            clips = sorted(Path(ravdess, f"Actor_{actor}").glob("*.flac"))[::6]
            statistics = [floor_statistics(apply_condition(condition, load_audio(c), i, babble))
                          for i, c in enumerate(clips)]
            medians.append(np.median(statistics, axis=0))
        snr, spread = np.array(medians).T
        print(f"| {condition} | {' '.join(f'{v:.1f}' for v in snr)} | {' '.join(f'{v:.2f}' for v in spread)} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
