"""Concordance correlation coefficient (CCC) of each emotion dimension over a whole corpus."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from keras_cpc.datasets.emotion import DIMENSIONS

# A denominator below this fraction of E[y^2] + E[y_pred^2] is rounding noise: the CCC is then 0.
_RELATIVE_TOLERANCE = 1e-12


def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """CCC of each column of `(examples, ...)` arrays, in float64, with population moments.

    `2 cov / (var_true + var_pred + (mean_true - mean_pred)^2)`; 0 where the denominator is 0
    (both columns constant and equal), NaN where a column holds NaN or Inf (a diverged model must
    not score 0). A 1-D pair gives a 0-d array.
    """
    y_true = np.asarray(y_true, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    mean_true, mean_pred = y_true.mean(axis=0), y_pred.mean(axis=0)
    covariance = ((y_true - mean_true) * (y_pred - mean_pred)).mean(axis=0)
    denominator = np.asarray(y_true.var(axis=0) + y_pred.var(axis=0) + (mean_true - mean_pred) ** 2)
    scale = (y_true**2).mean(axis=0) + (y_pred**2).mean(axis=0)
    defined = denominator > _RELATIVE_TOLERANCE * scale
    value = np.divide(2 * covariance, denominator, out=np.zeros_like(denominator), where=defined)
    return np.where(np.isfinite(denominator) & np.isfinite(covariance), value, np.nan)


@keras.saving.register_keras_serializable(package="keras_cpc")
class ConcordanceCorrelation(keras.metrics.Metric):
    """CCC of each output dimension over every example seen, not an average over batches.

    `update_state(y_true, y_pred, sample_weight=None)` takes `(batch, len(names))` tensors and
    optional weights, `(batch,)` per example (e.g. 0 for padding) or `(batch, len(names))`. It
    accumulates the weighted count and sums of y, y_pred, y^2, y_pred^2 and y * y_pred in
    float64: in float32 the moments taken from these sums lose about 1e-5 of the CCC on 1e5
    ratings of a 1-7 scale, and all of it when the spread is small next to the mean. `result()`
    returns `{"ccc_<name>": ..., "ccc_mean": ...}` with population moments, 0 for a dimension
    whose denominator is 0 and NaN for one that saw NaN or Inf.
    (`keras.metrics.ConcordanceCorrelation` averages per-batch values.)
    """

    def __init__(self, names: Sequence[str] = DIMENSIONS, name: str = "ccc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.names = tuple(names)
        # Rows: count, sum y, sum y_pred, sum y^2, sum y_pred^2, sum y * y_pred; one column a dimension.
        self.sums = self.add_variable(
            shape=(6, len(self.names)), initializer="zeros", dtype="float64", name="sums"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float64")
        y_pred = ops.cast(y_pred, "float64")
        weight = ops.ones_like(y_true)
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float64")
            if len(sample_weight.shape) == 1:
                sample_weight = ops.expand_dims(sample_weight, axis=1)
            weight = weight * sample_weight
        weighted_true, weighted_pred = weight * y_true, weight * y_pred
        sums = [weight, weighted_true, weighted_pred, weighted_true * y_true, weighted_pred * y_pred,
                weighted_true * y_pred]
        self.sums.assign_add(ops.stack([ops.sum(s, axis=0) for s in sums]))

    def result(self):
        count, sum_true, sum_pred, sum_true2, sum_pred2, sum_product = ops.unstack(self.sums)
        count = ops.where(count > 0, count, 1.0)
        mean_true, mean_pred = sum_true / count, sum_pred / count
        var_true = ops.maximum(sum_true2 / count - mean_true**2, 0.0)
        var_pred = ops.maximum(sum_pred2 / count - mean_pred**2, 0.0)
        covariance = sum_product / count - mean_true * mean_pred
        denominator = var_true + var_pred + (mean_true - mean_pred) ** 2
        defined = denominator > _RELATIVE_TOLERANCE * (sum_true2 + sum_pred2) / count
        value = ops.where(defined, 2 * covariance / ops.where(defined, denominator, 1.0), 0.0)
        value = ops.where(ops.isfinite(denominator) & ops.isfinite(covariance), value, float("nan"))
        value = ops.cast(value, self.dtype)
        return {**{f"ccc_{n}": value[i] for i, n in enumerate(self.names)}, "ccc_mean": ops.mean(value)}

    def get_config(self):
        return {**super().get_config(), "names": list(self.names)}
