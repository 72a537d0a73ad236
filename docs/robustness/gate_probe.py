"""Probe (session 33): can a session's noise floor tell when a noise suppressor should be on?

    PYTHONPATH=.:docs/robustness python docs/robustness/gate_probe.py conditions RAVDESS BABBLE_FOLDER
    PYTHONPATH=.:docs/robustness python docs/robustness/gate_probe.py read-speech FOLDER MODEL_DIR
    PYTHONPATH=.:docs/robustness python docs/robustness/gate_probe.py states RAVDESS BABBLE_FOLDER [STEADY_DB]
    PYTHONPATH=.:docs/robustness python docs/robustness/gate_probe.py recording-states FOLDER [STEADY_DB]
    PYTHONPATH=.:docs/robustness python docs/robustness/gate_probe.py modulated RAVDESS [STEADY_DB]

`conditions`: for every condition of the protocol (`keras_cpc.channels.apply_condition`, the seeds
`training.robustness` uses) and each of fold 0's held-out actors, over every sixth of their clips: the level of
the 25 ms frames (10 ms hop) at the 95th percentile minus the 10th (an SNR estimate, dB), and the standard
deviation of the quietest fifth of the frames' levels (how stationary the floor is, dB); the medians over the
actor's clips, one column per actor.

`read-speech`: the same two numbers over real recordings (each file of the folder), how many files the gate
(`GATE_SNR_DB`, `GATE_DEVIATION_DB`) would suppress, and `training.robustness`'s read-speech statistics of the model
on those files as they are and through RNNoise (`denoise_probe.rnnoise`).

`states` (session 35): the engine's gate itself (`keras_cpc.suppression.NoiseGate`, the shipped settings, a steady
floor below STEADY_DB, default 0.9 dB), each clip a stream of its own as `training.robustness` runs them: for every
condition, the share of the 10 ms frames of every twelfth clip of the held-out actors that it leaves alone, suppresses
at the base level, and suppresses at the steady-noise level. On the clips as the condition leaves them: the protocol's
calibrated level normalisation before the gate is a nearly constant gain per actor, which moves neither statistic
much.

`recording-states` (session 35): the same over real recordings, each file a stream: the share of all frames in each
state, and how many files spend most of their frames at each level.

`modulated` (session 35): how steady a noise must be for the steady level: `states` for pink and brown noise at
10 dB SNR whose level swings sinusoidally by +-DEPTH dB at 0.5 Hz or 3 Hz (a fan's beat, passing traffic), as real
noises are less steady than Gaussian noise.
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from denoise_probe import rnnoise
from keras_cpc.audio import SAMPLE_RATE, audio_files, load_audio
from keras_cpc.channels import (CONDITIONS, NOISE_SLOPES, add_at_snr, apply_condition, colored_noise,
                               protocol_babble_files)
from keras_cpc.speech_frames import frame_powers
from keras_cpc.suppression import FRAME as GATE_FRAME, NoiseGate, SuppressionSettings
from training.robustness import read_speech_statistics

ACTORS = ("02", "05", "12", "16", "17", "22")  # fold 0's test actors
FRAME = 400
HOP = 160
GATE_SNR_DB = 35.0  # the suppressor on below this SNR estimate
GATE_DEVIATION_DB = 1.0  # and below this deviation of the floor


def frame_levels(audio: np.ndarray) -> np.ndarray:
    """The mean square of each 25 ms frame every 10 ms that starts before the last frame's start, in dB."""
    frames = len(range(0, len(audio) - FRAME, HOP))
    return 10 * np.log10(frame_powers(audio, frames, FRAME, HOP, remove_dc=False) + 1e-12)


def floor_statistics(audio: np.ndarray) -> tuple[float, float]:
    """(SNR estimate, the quietest fifth's standard deviation), dB."""
    levels = frame_levels(audio)
    quiet = levels[levels <= np.percentile(levels, 20)]
    return float(np.percentile(levels, 95) - np.percentile(levels, 10)), float(np.std(quiet))


def conditions(ravdess: str, babble_folder: str) -> None:
    """Prints the table of the two statistics per condition and held-out actor."""
    babble = [load_audio(path) for path in protocol_babble_files(babble_folder)]
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


def read_speech(folder: str, model: str) -> None:
    """Prints the gate's statistics over `folder`'s recordings and the model's read-speech statistics on the files it
    would suppress, as recorded and suppressed."""
    files = audio_files([folder])
    statistics = np.array([floor_statistics(load_audio(path)) for path in files])
    snr, spread = statistics.T
    gated = [path for path, s, d in zip(files, snr, spread) if s < GATE_SNR_DB and d < GATE_DEVIATION_DB]
    percentiles = [5, 25, 50, 75, 95]
    print(f"{len(files)} files; SNR estimate's {percentiles}th percentiles "
          f"{np.round(np.percentile(snr, percentiles), 1)} dB; the floor's deviation's "
          f"{np.round(np.percentile(spread, percentiles), 2)} dB; the gate suppresses {len(gated)}")
    with tempfile.TemporaryDirectory() as temporary:
        suppressed = [Path(temporary, f"{path.stem}.flac") for path in gated]
        for path, out in zip(gated, suppressed):
            soundfile.write(out, rnnoise(load_audio(path)), SAMPLE_RATE)
        for name, paths in (("as recorded", gated), ("through RNNoise", suppressed)):
            print(name, json.dumps(read_speech_statistics([model], paths)[model]))


def gate_states(audio: np.ndarray, steady_db: float) -> np.ndarray:
    """How many of the recording's 10 ms frames the shipped gate leaves alone, suppresses at the base level and at
    the steady-noise level, the recording a stream of its own."""
    gate = NoiseGate.from_settings(SuppressionSettings(steady_level=4, gate_steady_db=steady_db))
    return np.bincount([gate.push(audio[start:start + GATE_FRAME])
                        for start in range(0, len(audio) - GATE_FRAME + 1, GATE_FRAME)], minlength=3)


def states(ravdess: str, babble_folder: str, steady_db: str = "0.9") -> None:
    """Prints the table of the gate's states per condition."""
    babble = [load_audio(path) for path in protocol_babble_files(babble_folder)]
    print("| condition | off | base level | steady level |\n|---|---:|---:|---:|")
    for condition in CONDITIONS:
        counts = sum(gate_states(apply_condition(condition, load_audio(clip), index, babble), float(steady_db))
                     for actor in ACTORS
                     for index, clip in enumerate(sorted(Path(ravdess, f"Actor_{actor}").glob("*.flac"))[::12]))
        print(f"| {condition} | " + " | ".join(f"{share:.3f}" for share in counts / counts.sum()) + " |")


def recording_states(folder: str, steady_db: str = "0.9") -> None:
    """Prints the gate's states over the recordings of `folder`."""
    counts = np.array([gate_states(load_audio(path), float(steady_db)) for path in audio_files([folder])])
    mostly = np.bincount(counts.argmax(axis=1), minlength=3)
    print(f"{len(counts)} files; frames off / base level / steady level: "
          f"{' / '.join(f'{share:.3f}' for share in counts.sum(axis=0) / counts.sum())}; files mostly in each state: "
          f"{' / '.join(str(n) for n in mostly)}")


def modulated(ravdess: str, steady_db: str = "0.9") -> None:
    """Prints the gate's states for slowly modulated pink and brown noise."""
    clips = [load_audio(clip) for actor in ACTORS
             for clip in sorted(Path(ravdess, f"Actor_{actor}").glob("*.flac"))[::12]]
    print("| noise | swing, dB | rate, Hz | off | base level | steady level |\n|---|---:|---:|---:|---:|---:|")
    for color in ("pink", "brown"):
        for depth, rate in ((0, 0), (1, 0.5), (2, 0.5), (3, 0.5), (6, 0.5), (2, 3), (6, 3)):
            counts = np.zeros(3)
            for index, audio in enumerate(clips):
                rng = np.random.default_rng(index)
                time = np.arange(len(audio)) / SAMPLE_RATE
                swing = 10 ** (depth * np.sin(2 * np.pi * (rate * time + rng.uniform())) / 20)
                noise = colored_noise(len(audio), NOISE_SLOPES[color], rng) * swing
                counts += gate_states(add_at_snr(audio, noise, 10), float(steady_db))
            print(f"| {color} | {depth} | {rate} | " + " | ".join(f"{x:.3f}" for x in counts / counts.sum()) + " |")


if __name__ == "__main__":
    modes = {"conditions": conditions, "read-speech": read_speech, "states": states,
             "recording-states": recording_states, "modulated": modulated}
    modes[sys.argv[1]](*sys.argv[2:])
