"""Adam with the paper's weight decay: an L2 term in the gradient, as PyTorch's `Adam(weight_decay=)`."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cpc")
class AdamL2(keras.optimizers.Adam):
    """Adam on the gradient plus `l2 * weight`, for every trainable variable: PyTorch's
    `torch.optim.Adam(weight_decay=l2)`, which the paper's "weight decay 1e-5" is. Keras's own
    `weight_decay` is decoupled (`w -= learning_rate * weight_decay * w`): at 1e-5 and a learning
    rate of 2e-4 it moves a float32 weight by 2e-9 of itself, below its rounding, so not at all.

    Args:
        learning_rate: as Adam's.
        l2: the L2 coefficient added to the gradients (the gradient of `l2 / 2 * sum(w ** 2)`).
        **kwargs: Adam's other arguments.
    """

    def __init__(self, learning_rate: float = 0.001, l2: float = 0.0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.l2 = l2

    def update_step(self, gradient, variable, learning_rate):
        if self.l2:
            gradient = ops.cast(gradient, variable.dtype) + ops.cast(self.l2, variable.dtype) * variable
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "l2": self.l2}
