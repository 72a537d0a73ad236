"""Statistics pooling: the mean and standard deviation of frames over time."""

from __future__ import annotations

import keras
from keras import ops


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
        if keras.backend.standardize_dtype(dtype) in ("float16", "bfloat16"):
            inputs = ops.cast(inputs, "float32")  # their sums over a long utterance overflow or round off
        if mask is None:
            valid = ops.ones_like(inputs[..., :1])
        else:
            valid = ops.cast(ops.expand_dims(mask, -1), inputs.dtype)
            inputs = ops.where(valid > 0, inputs, ops.zeros_like(inputs))
        count = ops.maximum(ops.sum(valid, axis=1), 1.0)
        mean = ops.sum(inputs, axis=1) / count
        deviations = (inputs - ops.expand_dims(mean, 1)) * valid
        variance = ops.sum(ops.square(deviations), axis=1) / count
        return ops.cast(ops.concatenate([mean, ops.sqrt(variance + self.epsilon)], axis=-1), dtype)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        dim = input_shape[-1]
        return (input_shape[0], None if dim is None else 2 * dim)

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
