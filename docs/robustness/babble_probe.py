"""Where babble costs the shipped model: under the words or between them (a one-off probe, session 41).

Scores a model under the protocol's babble (`keras_cpc.channels`, the same noise, seeds and SNR scaling) and under
that babble kept only where the clean clip is active (its 25 ms frames within 30 dB of its loudest, the rule of
`active_power`) or only where it is not, every speaker calibrated with their clips under the condition; and, without
a model, the share of the active and of the other frames that the speech-frame gate keeps under some conditions, at
some floors (`keras_cpc.speech_frames`, each speaker's clips at -25 dBFS by their median active power, as the level
normalisation calibrated per speaker brings them; every third held-out clip):

    PYTHONPATH=. python docs/robustness/babble_probe.py score MODEL_DIR BABBLE_FOLDER OUT.json [RAVDESS]
    PYTHONPATH=. python docs/robustness/babble_probe.py gate BABBLE_FOLDER OUT.json [RAVDESS]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from keras_cpc import channels
from keras_cpc.audio import audio_files, load_audio
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.layers import receptive_field
from keras_cpc.layers.encoder import PAPER_KERNELS, PAPER_STRIDES
from keras_cpc.speech_frames import SpeechFrameSettings, speech_mask
from training.robustness import StreamPredictor, score_conditions

SNRS = (20, 10)
FLOORS = (-60.0, -50.0, -45.0, -40.0)
GATE_CONDITIONS = ("clean", "babble-20db", "babble-10db", "white-20db", "pink-10db", "rt60-0.8")


def active_mask(audio: np.ndarray) -> np.ndarray:
    """1 on the samples of the 25 ms frames within 30 dB of the loudest frame, 0 elsewhere."""
    frames = len(audio) // channels.FRAME
    powers = np.mean(audio[:frames * channels.FRAME].reshape(frames, -1).astype(np.float64) ** 2, axis=1)
    active = powers >= powers.max() * 10 ** (-channels.ACTIVE_RANGE_DB / 10)
    return np.pad(np.repeat(active, channels.FRAME), (0, len(audio) - frames * channels.FRAME)).astype(np.float32)


def gated_babble(snr: float, where: str):
    """A condition: the protocol's babble at `snr`, scaled as there, kept where the clip is active or silent."""
    def condition(audio: np.ndarray, rng: np.random.Generator, babble) -> np.ndarray:
        noise = channels._noise("babble", len(audio), rng, babble)
        scale = np.sqrt(channels.active_power(audio) / (np.mean(noise**2) * 10 ** (snr / 10)))
        mask = active_mask(audio)
        return (audio + scale * noise * (mask if where == "speech" else 1 - mask)).astype(np.float32)
    return condition


def held_out(ravdess: str) -> list:
    """Fold 0's held-out utterances, as the protocol splits them."""
    return split("ravdess", read_corpus("ravdess", ravdess), 0, 4, 0.2, 0)[2]


def protocol_babble(folder: str) -> list[np.ndarray]:
    """The babble conditions' sources, as `training.robustness` reads them."""
    return [load_audio(path) for path in audio_files([folder])[:channels.BABBLE_SOURCES]]


def gate(babble_folder: str, out: str, ravdess: str = "../shared/data/ravdess") -> None:
    test = held_out(ravdess)[::3]
    babble, clips = protocol_babble(babble_folder), [load_audio(u.path) for u in test]
    levels: dict[str, list[float]] = {}
    for utterance, clip in zip(test, clips):
        levels.setdefault(utterance.speaker, []).append(10 * np.log10(channels.active_power(clip)))
    gains = {speaker: 10 ** ((-25 - np.median(theirs)) / 20) for speaker, theirs in levels.items()}
    field, hop = receptive_field(PAPER_KERNELS, PAPER_STRIDES), 160
    report = {}
    for floor in FLOORS:
        for condition in GATE_CONDITIONS:
            active_kept, other_kept = [], []
            for index, (utterance, clip) in enumerate(zip(test, clips)):
                heard = channels.apply_condition(condition, clip, index, babble) * gains[utterance.speaker]
                frames = (len(clip) - field) // hop + 1
                kept = speech_mask(heard, frames, field, hop, SpeechFrameSettings(floor_dbfs=floor))
                active = active_mask(clip)[np.arange(frames) * hop + field // 2] > 0
                active_kept.append(kept[active].mean())
                other_kept.append(kept[~active].mean())
            report[f"{floor:g} {condition}"] = {"active": float(np.mean(active_kept)),
                                                 "other": float(np.mean(other_kept))}
            print(f"floor {floor:g} dBFS, {condition:12s} active frames kept {np.mean(active_kept):.2f}, "
                  f"others {np.mean(other_kept):.2f}")
    with open(out, "w") as file:
        json.dump(report, file, indent=2)


def score(model: str, babble_folder: str, out: str, ravdess: str = "../shared/data/ravdess") -> None:
    for snr in SNRS:
        for where in ("speech", "pauses"):
            channels._CONDITIONS[f"babble-{snr}db-{where}"] = gated_babble(snr, where)
    test, babble = held_out(ravdess), protocol_babble(babble_folder)
    conditions = [f"babble-{snr}db{where}" for snr in SNRS for where in ("", "-speech", "-pauses")]
    share = float(np.mean([active_mask(load_audio(u.path)).mean() for u in test]))
    start = time.perf_counter()
    scores = score_conditions({model: StreamPredictor(model)}, test, conditions, 0, babble)
    report = {"model": model, "active_share": share, "seconds": time.perf_counter() - start,
              "conditions": {c: scores[c][model] for c in conditions}}
    with open(out, "w") as file:
        json.dump(report, file, indent=2)
    print(f"active share of the clips' samples: {share:.2f}")
    for condition, score in report["conditions"].items():
        print(f"{condition:22s} " + " / ".join(f"{v:.3f}" for v in score.values()))


if __name__ == "__main__":
    {"score": score, "gate": gate}[sys.argv[1]](*sys.argv[2:])
