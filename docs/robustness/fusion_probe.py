"""Probe (session 26): would MFCC statistics fused with the CPC contexts carry valence across channels?
python docs/robustness/fusion_probe.py EXPORT RUN OUT_JSON; its table over runs:
python docs/robustness/fusion_probe.py --table OUT_JSON...

Ridge regressions (`keras_cpc.floor.fit_floor`) on three per-clip inputs, trained on RAVDESS fold 0's training
speakers (run RUN's split) clean and through the 3 augmented copies that finetuning draws (`channel_shift`, the run's
seed), scored by `training.robustness.score_conditions` on the held-out speakers under every condition:
- CPC: mean and standard deviation of the contexts as EXPORT's engine maps them (front end, speech frames, the
  speaker's feature normalisation, calibrated as the protocol calibrates);
- MFCC: mean and standard deviation of the 40 MFCCs of the clip, standardised over the speaker's clips;
- both, side by side.
"""

import json
import sys
from collections.abc import Callable, Sequence

import numpy as np

from keras_cpc.audio import load_audio
from keras_cpc.channels import CONDITIONS, babble_sources, protocol_babble_files
from keras_cpc.datasets import EmotionUtterance, labels
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.features import channel_shift, mfcc_extractor
from keras_cpc.floor import fit_floor, pooled
from training.robustness import StreamPredictor, score_conditions



def table(paths: Sequence[str]) -> str:
    """Markdown: each probe's CCC per condition, mean over the runs' records at `paths`."""
    records = [json.load(open(path))["conditions"] for path in paths]
    probes = list(records[0]["clean"])
    lines = ["| condition | " + " | ".join(f"{p} act / val / dom" for p in probes) + " |",
             "|---|" + "---|" * len(probes)]
    for condition in records[0]:
        cells = [" / ".join(f"{np.mean([r[condition][p][d] for r in records]):.3f}".replace("0.", ".", 1)
                            for d in records[0][condition][p]) for p in probes]
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if sys.argv[1] == "--table":
    print(table(sys.argv[2:]))
    sys.exit()
export, run, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
train, valid, test = split("ravdess", read_corpus("ravdess", "../shared/data/ravdess"), 0, 4, 0.05, run)
engine, mfcc = StreamPredictor(export), mfcc_extractor()[1]


def speaker_inputs(clips: Sequence[np.ndarray], utterances: Sequence[EmotionUtterance]) -> np.ndarray:
    """`(clips, 2 * 256 + 2 * 40)`: pooled CPC contexts, then pooled MFCCs standardised over the speaker's clips."""
    engine.calibrate(clips, utterances)
    recognizer = engine.recognizer
    contexts = []
    for clip in clips:
        recognizer.reset()
        raw = np.concatenate(list(recognizer._recording_contexts([clip])))
        contexts.append(pooled(recognizer.speaker_features.push(raw.astype(np.float64))) if len(raw)
                        else np.zeros(2 * raw.shape[1]))
    spectra = np.stack([pooled(mfcc(clip)) for clip in clips])
    spectra = (spectra - spectra.mean(0)) / (spectra.std(0) + 1e-8)
    return np.concatenate([np.stack(contexts), spectra], axis=1)


def corpus_inputs(utterances: Sequence[EmotionUtterance], transform: Callable | None) -> np.ndarray:
    """`speaker_inputs` of every utterance, speaker by speaker, through `transform` if given."""
    rows = np.zeros((len(utterances), 2 * 256 + 2 * 40))
    for speaker in dict.fromkeys(u.speaker for u in utterances):
        indices = [i for i, u in enumerate(utterances) if u.speaker == speaker]
        clips = [load_audio(utterances[i].path) for i in indices]
        if transform:
            clips = [transform(clip, utterances[i]) for clip, i in zip(clips, indices)]
        rows[indices] = speaker_inputs(clips, [utterances[i] for i in indices])
        print(f"{speaker}: {len(indices)} clips", flush=True)
    return rows


babble = babble_sources([u.path for u in train])
transforms = [None] + [channel_shift(1000 * run, copy, babble)[1] for copy in range(3)]
x_train = np.concatenate([corpus_inputs(train, t) for t in transforms])
x_valid = corpus_inputs(valid, None)
y_train, y_valid = np.tile(labels(train), (len(transforms), 1)), labels(valid)
columns = {"CPC": slice(0, 512), "MFCC per speaker": slice(512, None), "CPC + MFCC": slice(0, None)}
floors = {name: fit_floor(x_train[:, c], y_train, x_valid[:, c], y_valid) for name, c in columns.items()}


class Probe:
    """One ridge on its columns of `speaker_inputs`, computed once per speaker and condition for all probes."""
    memo: dict = {}

    def __init__(self, name: str):
        self.name, self.rows = name, {}

    def calibrate(self, clips: Sequence[np.ndarray], utterances: Sequence[EmotionUtterance]) -> None:
        key = tuple(id(clip) for clip in clips)
        if key not in Probe.memo:
            Probe.memo = {key: speaker_inputs(clips, utterances)}
        inputs = Probe.memo[key][:, columns[self.name]]
        self.rows = {id(clip): row for clip, row in zip(clips, floors[self.name].predict(inputs))}

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.rows[id(audio)]


test_babble = [load_audio(path) for path in protocol_babble_files("../shared/data/librispeech")]
results = score_conditions({name: Probe(name) for name in columns}, test, CONDITIONS, 0, test_babble)
with open(out, "w") as file:
    json.dump({"export": export, "run": run, "penalties": {n: f.penalty for n, f in floors.items()},
               "conditions": results}, file, indent=2)
for condition, systems in results.items():
    print(condition, " | ".join(f"{n} " + " / ".join(f"{v:.3f}" for v in s.values()) for n, s in systems.items()))
