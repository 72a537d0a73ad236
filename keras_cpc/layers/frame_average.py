"""Averaging consecutive frames into one: a lower frame rate for the attention head."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cpc")
class FrameAverage(keras.layers.Layer):
    """Maps `(batch, time, dim)` to `(batch, ceil(time / size), dim)`: the mean of each run of `size` frames.

    Only the valid frames count: those where `mask` `(batch, time)` is true (a prefix of each row, as
    `keras_cpc.models.recognizer.length_mask` gives), all of them without a mask. A run with no valid frame
    averages to zeros, and `lengths` gives each row's number of runs holding one. Self-attention over
    `time / size` frames costs `1 / size**2` of the scores and `1 / size` of the projections.

    Args:
        size: frames averaged into one (1: each valid frame as it is, the others zeros).
    """

    def __init__(self, size: int = 1, **kwargs):
        super().__init__(**kwargs)
        if size < 1:
            raise ValueError(f"size {size} is not a positive number of frames")
        self.size = size
        self.supports_masking = True  # takes `mask`; its output's mask is `lengths`'s, not a Keras mask

    def call(self, inputs, mask=None):
        valid = ops.ones_like(inputs[..., :1]) if mask is None else \
            ops.cast(ops.expand_dims(mask, -1), inputs.dtype)
        inputs = ops.where(valid > 0, inputs, ops.zeros_like(inputs))
        shape = ops.shape(inputs)
        padding = (-shape[1]) % self.size
        runs = (shape[1] + padding) // self.size
        sums, counts = (ops.sum(ops.reshape(ops.pad(x, ((0, 0), (0, padding), (0, 0))),
                                            (shape[0], runs, self.size, ops.shape(x)[-1])), axis=2)
                        for x in (inputs, valid))
        return sums / ops.maximum(counts, 1.0)

    def compute_mask(self, inputs, mask=None):
        return None

    def lengths(self, lengths):
        """The number of runs holding a valid frame, for rows of `lengths` valid frames."""
        return (ops.cast(lengths, "int32") + self.size - 1) // self.size

    def compute_output_shape(self, input_shape):
        time = input_shape[1]
        return (input_shape[0], None if time is None else -(-time // self.size), input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size)
        return config
