"""Per-step accuracy of the CPC prediction task."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cpc")
class StepAccuracy(keras.metrics.Metric):
    """Mean accuracy of each prediction step over all batches seen.

    `update_state(accuracy)` takes a `(steps,)` vector of batch accuracies; `result()`
    returns `{"acc_01": ..., "acc_12": ...}` so that every step is logged on its own (in order).
    """

    def __init__(self, steps: int = 12, name: str = "step_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.steps = steps
        self.total = self.add_variable(shape=(steps,), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, accuracy, sample_weight=None):
        self.total.assign_add(ops.cast(accuracy, self.dtype))
        self.count.assign_add(ops.cast(1, self.dtype))

    def result(self):
        mean = self.total / ops.maximum(self.count, 1.0)
        return {f"acc_{k + 1:02d}": mean[k] for k in range(self.steps)}

    def get_config(self):
        return {**super().get_config(), "steps": self.steps}
