"""Statistics pooling: the mean and standard deviation of frames over time, every valid frame alike or weighted by
attention."""

from __future__ import annotations

import keras
from keras import ops

from keras_cpc.layers.attention import masked_logit


@keras.saving.register_keras_serializable(package="keras_cpc")
class MeanStdPooling(keras.layers.Layer):
    """Maps frames `(batch, time, dim)` to `(batch, 2 * dim)`: their mean, then their std.

    Only the valid frames count: those where `mask` `(batch, time)` is true, all of them
    without a mask. A Keras mask on the input is used when no `mask` is given. Padded
    frames are never read, so they may hold any value, even NaN. The std is
    `sqrt(variance + epsilon)`, whose gradient stays finite when all valid frames are
    equal. A sequence with no valid frame pools to a zero mean and a std of `sqrt(epsilon)`.
    Under mixed precision (float16, bfloat16) the sums are taken in float32.

    Args:
        epsilon: added to the variance under the square root.
    """

    def __init__(self, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.supports_masking = True

    def call(self, inputs, mask=None):
        dtype = inputs.dtype
        inputs, valid = self._valid(inputs, mask)
        return ops.cast(self._statistics(inputs, valid / ops.maximum(ops.sum(valid, axis=1, keepdims=True), 1.0)),
                        dtype)

    @staticmethod
    def _valid(inputs, mask):
        """`inputs` (in float32 under mixed precision: their sums over a long utterance overflow or round off) with
        the invalid frames zeroed, and `(batch, time, 1)` ones on the valid frames."""
        if keras.backend.standardize_dtype(inputs.dtype) in ("float16", "bfloat16"):
            inputs = ops.cast(inputs, "float32")
        if mask is None:
            return inputs, ops.ones_like(inputs[..., :1])
        valid = ops.cast(ops.expand_dims(mask, -1), inputs.dtype)
        return ops.where(valid > 0, inputs, ops.zeros_like(inputs)), valid

    def _statistics(self, inputs, weights):
        """The mean, then the std, of the frames under `weights` `(batch, time, 1)`, which sum to 1 over the valid
        frames (to 0 without one) and are 0 on the others."""
        mean = ops.sum(inputs * weights, axis=1)
        variance = ops.sum(weights * ops.square(inputs - ops.expand_dims(mean, 1)), axis=1)
        return ops.concatenate([mean, ops.sqrt(variance + self.epsilon)], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        dim = input_shape[-1]
        return (input_shape[0], None if dim is None else 2 * dim)

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="keras_cpc")
class AttentiveStatsPooling(MeanStdPooling):
    """`MeanStdPooling` whose mean and std weigh each valid frame by a softmax over time of a score the layer learns
    (attentive statistics pooling, Okabe et al. 2018): `w · tanh(W x + b)`, so that a head can learn which frames to
    hear most, e.g. not those of other voices between the words. The score's weights `w` start at zero: untrained,
    every valid frame weighs alike, as in `MeanStdPooling`.

    Args:
        units: width of the score's hidden layer.
        epsilon: added to the variance under the square root.
    """

    def __init__(self, units: int = 128, epsilon: float = 1e-6, **kwargs):
        super().__init__(epsilon, **kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="tanh", name="hidden", dtype=self.dtype_policy)
        self.score = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="score",
                                        dtype=self.dtype_policy)

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.score.build(self.hidden.compute_output_shape(input_shape))

    def call(self, inputs, mask=None):
        dtype = inputs.dtype
        inputs, valid = self._valid(inputs, mask)
        scores = ops.cast(self.score(self.hidden(ops.cast(inputs, dtype))), inputs.dtype)[..., 0]
        scores = ops.where(valid[..., 0] > 0, scores, masked_logit(scores.dtype))
        # a softmax, which int8 export keeps in float (`keras_cpc.export.HEAD_FLOAT_OPS`); 0 without a valid frame
        weights = ops.expand_dims(ops.softmax(scores, axis=-1), -1) * valid
        return ops.cast(self._statistics(inputs, weights), dtype)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
