"""Probe (session 37): the gate's SNR estimate (`keras_cpc.suppression.NoiseGate`) in steady noise, each clip a
stream of its own as `training.robustness` runs them:

    PYTHONPATH=. python docs/robustness/snr_probe.py last RAVDESS     # the estimate's last value per condition
    PYTHONPATH=. python docs/robustness/snr_probe.py trace RAVDESS    # its value every 100 ms on five clips

`last`: over every twelfth clip of held-out actors 02 and 05 and of 12 and 17 (20 clips), the 5th, 50th and 95th
percentiles of the estimate at the last frame the floor was steady, and the mean share of a clip's steady frames whose
estimate was below 20 dB, under the protocol's white and pink noise at 10 and 20 dB SNR
(`keras_cpc.channels.apply_condition`, seed: the clip's index) and under white, pink and brown noise at 15 dB SNR.
`trace`: the estimate every 10 frames on the first five of every fifteenth clip of actors 02 and 05, a star where the
floor was steady.
"""

import sys
from pathlib import Path

import numpy as np

from keras_cpc.audio import load_audio
from keras_cpc.channels import add_at_snr, apply_condition, colored_noise
from keras_cpc.suppression import FRAME, NoiseGate, SuppressionSettings

CONDITIONS = ("white-10db", "white-20db", "pink-10db", "pink-20db")
SLOPES = {"white": 0.0, "pink": -3.0, "brown": -6.0}  # dB per octave, as `colored_noise` takes them


def estimates(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each whole frame's gate state and SNR estimate (dB), the gate judging steadiness as the shipped one does."""
    gate = NoiseGate.from_settings(SuppressionSettings(steady_level=4))
    states, values = [], []
    for frame in audio[:len(audio) // FRAME * FRAME].reshape(-1, FRAME):
        states.append(gate.push(frame))
        values.append(gate.snr_estimate_db)
    return np.array(states), np.array(values)


def last(ravdess: Path) -> None:
    files = [path for actors in ("0[25]", "1[27]") for path in sorted(ravdess.glob(f"Actor_{actors}/*.flac"))[::12]]
    noises = {name: (lambda audio, index, name=name: apply_condition(name, audio, seed=index)) for name in CONDITIONS}
    for colour, slope in SLOPES.items():
        noises[f"{colour}-15db"] = lambda audio, index, slope=slope: add_at_snr(
            audio, colored_noise(len(audio), slope, np.random.default_rng(index)), 15.0)
    for name, noisy in noises.items():
        finals, low = [], []
        for index, path in enumerate(files):
            states, values = estimates(noisy(load_audio(path), index))
            steady = states == 2
            if steady.any():
                finals.append(values[steady][-1])
                low.append(np.mean(values[steady] < 20.0))
        summary = f"{np.percentile(finals, [5, 50, 95]).round(1)}, below 20 dB {np.mean(low):.2f}" if finals else ""
        print(f"{name}: {len(finals)} of {len(files)} clips steady {summary}")


def trace(ravdess: Path) -> None:
    files = sorted(ravdess.glob("Actor_0[25]/*.flac"))[::15][:5]
    for name in CONDITIONS:
        print(name)
        for index, path in enumerate(files):
            states, values = estimates(apply_condition(name, load_audio(path), seed=index))
            print("  " + " ".join(f"{value:.0f}" + ("*" if state == 2 else "")
                                  for state, value in zip(states[9::10], values[9::10])))


if __name__ == "__main__":
    {"last": last, "trace": trace}[sys.argv[1]](Path(sys.argv[2]))
