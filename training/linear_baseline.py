"""Linear MFCC baseline: `python -m training.linear_baseline --corpus ravdess --data DIR --out DIR`.

The `mfcc` system's 40 MFCCs (25 ms window, 10 ms hop), their mean and standard deviation
over each whole utterance (80 numbers; the `mfcc` system cuts at `--max-seconds`, 10 s, which
no RAVDESS clip reaches), standardised, then ridge regression to activation, valence
and dominance. On every speaker-independent fold, the ridge penalty is picked by mean CCC on
the validation speakers, refitted on training + validation, and scored on the test speakers
(corpus-level CCC). A floor that a recognizer should beat; writes `results.json` and prints a
table of CCC per fold and mean +- std.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_cpc.datasets import EmotionUtterance
from keras_cpc.features import cache_features, labels, mfcc_extractor
from keras_cpc.metrics.ccc import DIMENSIONS, ccc
from training import run_cli
from training.finetune import add_corpus_arguments, fold_count, read_corpus, scores_by_sentence, split

PENALTIES = (0.1, 1.0, 10.0, 100.0, 1000.0)


def pooled(features: np.ndarray) -> np.ndarray:
    """`(2 * dim,)`: mean and standard deviation over time of one utterance's `(frames, dim)` features."""
    features = features.astype(np.float64)
    return np.concatenate([features.mean(0), features.std(0)])


def statistics(files: Sequence[str]) -> np.ndarray:
    """`(utterances, 2 * dim)`: `pooled` statistics of each cached feature file (read one at a time)."""
    return np.stack([pooled(np.load(path)) for path in files])


def fit_ridge(x: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of ridge regression (bias not penalised): argmin |xW + b - y|^2 + penalty |W|^2."""
    mean_x, mean_y = x.mean(0), y.mean(0)
    centred = x - mean_x
    weights = np.linalg.solve(centred.T @ centred + penalty * np.eye(x.shape[1]), centred.T @ (y - mean_y))
    return weights, mean_y - mean_x @ weights


@dataclass(frozen=True)
class RidgeFloor:
    """Pooled statistics, standardised with the training set's, mapped to the dimensions by ridge regression."""

    centre: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    penalty: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (x - self.centre) / self.scale @ self.weights + self.bias


def fit_floor(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray) -> RidgeFloor:
    """The ridge floor with the penalty of the best mean validation CCC, refitted on training + validation
    (standardised with the training set's statistics)."""
    centre, scale = x_train.mean(0), x_train.std(0) + 1e-8

    def fit(x, y, penalty):
        return RidgeFloor(centre, scale, *fit_ridge((x - centre) / scale, y, penalty), penalty)

    penalty = max(PENALTIES, key=lambda p: ccc(y_valid, fit(x_train, y_train, p).predict(x_valid)).mean())
    return fit(np.concatenate([x_train, x_valid]), np.concatenate([y_train, y_valid]), penalty)


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
