"""Experiment: how much does the recognizer lean on the silence around RAVDESS's speech?

Each clip is cut to its speech region, found on the clean clip (25 ms frames every 10 ms within 35 dB of
its loudest, 0.15 s kept either side): an oracle that no stream has, to measure what speech-only pooling
could give before the engine is built for it.

    python docs/robustness/silence/speech_region.py finetune FINETUNE_ARGS...   # trains on cut clips
    python docs/robustness/silence/speech_region.py score MODEL_DIR CONDITION...  # CCC of whole and cut clips
    python docs/robustness/silence/speech_region.py table NAME=SCORES_JSON...  # a markdown table of `score`s

`finetune` runs `training.finetune` with every clip, clean or augmented, cut before its channel shift;
`score` scores an exported model on fold 0's test clips under `keras_cpc.channels` conditions (the
protocol's seeds, no babble), whole and cut, calibrated per speaker as `training.robustness` does.
"""

import json
import sys
from pathlib import Path

import numpy as np

from keras_cpc.audio import SAMPLE_RATE, load_audio
from keras_cpc.channels import apply_condition


def speech_region(clip: np.ndarray, below_db: float = 35.0, pad_seconds: float = 0.15) -> tuple[int, int]:
    """First and last sample of `clip`'s speech region (see the module's docstring)."""
    frame, hop = 400, 160
    count = 1 + max(len(clip) - frame, 0) // hop
    db = 10 * np.log10([np.mean(clip[i * hop:i * hop + frame] ** 2) + 1e-12 for i in range(count)])
    active = np.flatnonzero(db > db.max() - below_db)
    pad = int(pad_seconds * SAMPLE_RATE)
    return max(0, active[0] * hop - pad), min(len(clip), active[-1] * hop + frame + pad)


def cut(clip: np.ndarray) -> np.ndarray:
    start, end = speech_region(clip)
    return clip[start:end]


def finetune(argv: list[str]) -> None:
    from training import finetune as cli

    original = cli.cache_features

    def cut_first(utterances, extractor, cache_dir, frontend=None, transform=None):
        key, shift = ("cut-" + transform[0], transform[1]) if transform else ("cut", lambda audio, u: audio)
        return original(utterances, extractor, cache_dir, frontend, (key, lambda audio, u: shift(cut(audio), u)))

    cli.cache_features = cut_first
    cli.main(argv)


def score(model_dir: str, conditions: list[str]) -> None:
    from keras_cpc.datasets import labels
    from keras_cpc.datasets.protocol import read_corpus, split
    from keras_cpc.metrics.ccc import ccc
    from training.robustness import StreamPredictor

    test = split("ravdess", read_corpus("ravdess", "../shared/data/ravdess"), 0, 4, 0.2, 0, None)[2]
    clips = [load_audio(u.path) for u in test]
    regions = [speech_region(clip) for clip in clips]
    predict = StreamPredictor(model_dir)
    speakers = list(dict.fromkeys(u.speaker for u in test))
    results = {}
    for condition in conditions:
        shifted = [apply_condition(condition, clip, index, ()) for index, clip in enumerate(clips)]
        for name, used in (("whole", shifted), ("cut", [s[a:b] for s, (a, b) in zip(shifted, regions)])):
            predicted = np.zeros((len(test), 3))
            for speaker in speakers:
                indices = [i for i, u in enumerate(test) if u.speaker == speaker]
                predict.calibrate([used[i] for i in indices], [test[i] for i in indices])
                for i in indices:
                    predicted[i] = predict(used[i])
            results[f"{condition} {name}"] = [round(float(c), 3) for c in ccc(labels(test), predicted)]
            print(f"{condition} {name}: {results[f'{condition} {name}']}", flush=True)
    print(json.dumps({"model": model_dir, "kept_fraction": float(np.mean([(b - a) / len(c) for (a, b), c in
                                                                          zip(regions, clips)])),
                      "ccc": results}))


def table(arguments: list[str]) -> None:
    records = {name: json.loads(Path(path).read_text())["ccc"] for name, path in (a.split("=", 1) for a in arguments)}
    conditions = list(dict.fromkeys(key.rsplit(" ", 1)[0] for key in next(iter(records.values()))))
    print("| condition | " + " | ".join(f"{name}, {clips} clips" for name in records for clips in ("whole", "cut"))
          + " |")
    print("|---|" + "---|" * 2 * len(records))
    for condition in conditions:
        cells = [" / ".join(f"{v:.3f}" for v in ccc[f"{condition} {clips}"]) for ccc in records.values()
                 for clips in ("whole", "cut")]
        print(f"| {condition} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    {"finetune": finetune, "score": lambda argv: score(argv[0], argv[1:]), "table": table}[sys.argv[1]](sys.argv[2:])
