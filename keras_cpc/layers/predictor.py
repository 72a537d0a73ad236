"""Linear predictors of future encoder frames, one per prediction step."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cpc")
class FuturePredictor(keras.layers.Layer):
    """Maps contexts `(batch, time, context_dim)` to `(batch, time, steps, units)`.

    Prediction `[:, t, k]` is `W_k c_t + b_k`, the guess for encoder frame `t + k + 1`.
    The `steps` linear maps are held in one kernel so they run as a single einsum.

    Args:
        steps: number of future steps predicted (12 in the paper).
        units: dimension of a prediction (the encoder's channels).
    """

    def __init__(self, steps: int = 12, units: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.steps = steps
        self.units = units

    def build(self, input_shape):
        context_dim = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.steps, context_dim, self.units),
            # Keras counts `steps * context_dim` inputs for this 3-D kernel; each step's map has `context_dim`
            initializer=keras.initializers.VarianceScaling(float(self.steps), "fan_in", "uniform"),
        )
        self.bias = self.add_weight(name="bias", shape=(self.steps, self.units), initializer="zeros")

    def call(self, context):
        return ops.einsum("btc,kcu->btku", context, self.kernel) + self.bias

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.steps, self.units)

    def get_config(self):
        config = super().get_config()
        config.update(steps=self.steps, units=self.units)
        return config
