"""Per-dimension standardisation of features with statistics fixed before training."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cpc")
class Standardize(keras.layers.Layer):
    """`(x - mean) / sqrt(variance + epsilon)` over the last axis, with non-trainable statistics.

    The statistics start at mean 0 and variance 1 (the identity, up to epsilon) and are set
    once with `set_statistics`, e.g. from `keras_cpc.features.feature_statistics` of the
    training set; they are saved with the model.

    Args:
        epsilon: added to the variance, so that constant dimensions stay finite.
    """

    def __init__(self, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[-1]
        self.mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False, name="mean")
        self.variance = self.add_weight(shape=(dim,), initializer="ones", trainable=False, name="variance")

    def set_statistics(self, mean: np.ndarray, variance: np.ndarray) -> None:
        """Sets the per-dimension mean and variance (shape `(dim,)` each)."""
        self.mean.assign(np.asarray(mean, self.mean.dtype))
        self.variance.assign(np.asarray(variance, self.variance.dtype))

    def call(self, inputs):
        return (inputs - self.mean) * ops.rsqrt(self.variance + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
