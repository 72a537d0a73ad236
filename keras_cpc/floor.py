"""The MFCC + ridge regression floor: what a recognizer should beat.

An utterance's features (`(frames, dim)`, e.g. the `mfcc` system's 40 MFCCs) pooled into their
mean and standard deviation over time, standardised with the training set's statistics, then
ridge regression to activation, valence and dominance, its penalty picked by mean CCC on
validation speakers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from keras_cpc.metrics.ccc import ccc

FLOOR = "MFCC + ridge floor"  # its name among the systems of a record
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
