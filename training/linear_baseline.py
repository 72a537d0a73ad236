"""Linear MFCC baseline: `python -m training.linear_baseline --corpus ravdess --data DIR --out DIR`.

The `mfcc` system's 40 MFCCs (25 ms window, 10 ms hop), their mean and standard deviation
over each whole utterance (80 numbers; the `mfcc` system cuts at `--max-seconds`, 10 s, which
no RAVDESS clip reaches), standardised, then ridge regression to activation, valence
and dominance. On every speaker-independent fold, the ridge penalty is picked by mean CCC on
the validation speakers, refitted on training + validation, and scored on the test speakers
(corpus-level CCC). A floor that a recognizer should beat; writes `results.json` and prints a
table of CCC per fold and mean +- std. The floor itself is `keras_cpc.floor`'s.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keras_cpc.datasets import EmotionUtterance, labels
from keras_cpc.datasets.protocol import fold_count, read_corpus, scores_by_sentence, split
from keras_cpc.features import cache_features, mfcc_extractor
from keras_cpc.floor import fit_floor, statistics
from keras_cpc.metrics.ccc import DIMENSIONS, ccc
from training import add_corpus_arguments, run_cli


def evaluate_fold(sets: Sequence[Sequence[EmotionUtterance]], cache: str, train_sentence: int | None = None) -> dict:
    """Test CCC per dimension of one fold (and per sentence, for a cross-sentence fold), and the penalty
    picked on its validation speakers."""
    extractor = mfcc_extractor()
    x_train, x_valid, x_test = (statistics(cache_features(s, extractor, cache)) for s in sets)
    floor = fit_floor(x_train, labels(sets[0]), x_valid, labels(sets[1]))
    predicted = floor.predict(x_test)
    result = {"penalty": floor.penalty, **{f"ccc_{d}": float(s) for d, s in zip(DIMENSIONS, ccc(labels(sets[2]),
                                                                                                predicted))}}
    if train_sentence is not None:
        result["by_sentence"] = scores_by_sentence(sets[2], predicted)
    return result


def linear_baseline(args: argparse.Namespace) -> dict:
    utterances = read_corpus(args.corpus, args.data)
    results = [evaluate_fold(split(args.corpus, utterances, fold, args.folds, args.validation_fraction, 0,
                                   args.train_sentence), args.cache, args.train_sentence)
               for fold in range(fold_count(args.corpus, utterances, args.folds))]
    summary = {d: {"mean": float(np.mean([r[f"ccc_{d}"] for r in results])),
                   "std": float(np.std([r[f"ccc_{d}"] for r in results]))} for d in DIMENSIONS}
    print("| fold | penalty | " + " | ".join(f"CCC {d}" for d in DIMENSIONS) + " |")
    print("|---|---:|" + "---:|" * len(DIMENSIONS))
    for fold, result in enumerate(results):
        print(f"| {fold} | {result['penalty']:g} | " +
              " | ".join(f"{result[f'ccc_{d}']:.3f}" for d in DIMENSIONS) + " |")
    print("| mean +- std | | " + " | ".join(f"{s['mean']:.3f} +- {s['std']:.3f}" for s in summary.values()) + " |")
    report = {"folds": results, "summary": summary, "config": vars(args)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.linear_baseline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser, "fraction of each fold's training speakers that picks the ridge penalty")
    parser.add_argument("--cache", default="runs/cache", help="cache of MFCC features")
    parser.add_argument("--out", required=True, help="folder of results.json")
    return parser


def main(argv: list[str] | None = None) -> None:
    run_cli(linear_baseline, build_parser(), argv)


if __name__ == "__main__":
    main()
