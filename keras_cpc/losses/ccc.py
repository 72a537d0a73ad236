"""Concordance correlation coefficient (CCC) loss over the emotion dimensions of a batch."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cpc")
class CCCLoss(keras.losses.Loss):
    """`1 - sum_i weights[i] * CCC_i`, the CCC of each output dimension taken over the batch.

    As in Li et al. (2021), the loss weighs the CCCs of activation, valence and dominance with
    `weights` (their alpha, beta, gamma); the default gives them equal weight, 1/3 each, so the
    loss lies in [0, 2]. Moments are population moments of the batch, and `epsilon` in the
    denominator keeps the loss and its gradient finite for a constant batch. Inputs are
    `(batch, len(weights))`. Every example gets the batch's value, so Keras's reductions (and
    its scaling over replicas) apply as to any loss; a `sample_weight` only rescales the loss,
    it does not enter the CCC, so batches must not hold padding. Under tf.distribute each
    replica takes the CCC of its own share of the batch, so the objective depends on the
    per-replica batch size (`training.finetune` runs on one device).
    """

    def __init__(
        self, weights: Sequence[float] = (1 / 3, 1 / 3, 1 / 3), epsilon: float = 1e-7,
        name: str = "ccc_loss", **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.weights = tuple(float(w) for w in weights)
        self.epsilon = epsilon

    def call(self, y_true, y_pred):
        if y_pred.shape[-1] != len(self.weights):
            raise ValueError(f"CCCLoss has {len(self.weights)} weights for {y_pred.shape[-1]} outputs.")
        mean_true, mean_pred = ops.mean(y_true, axis=0), ops.mean(y_pred, axis=0)
        covariance = ops.mean((y_true - mean_true) * (y_pred - mean_pred), axis=0)
        denominator = ops.var(y_true, axis=0) + ops.var(y_pred, axis=0) + (mean_true - mean_pred) ** 2
        concordance = 2 * covariance / (denominator + self.epsilon)
        loss = 1 - ops.sum(ops.convert_to_tensor(self.weights, self.dtype) * concordance)
        return loss * ops.ones_like(y_pred[:, 0])

    def get_config(self):
        return {**super().get_config(), "weights": list(self.weights), "epsilon": self.epsilon}
