"""Per-step accuracy of the CPC prediction task."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cpc")
class StepAccuracy(keras.metrics.Metric):
    """Accuracy of each prediction step over all the contexts seen.

    `update_state(accuracy, sample_weight)` takes a `(steps,)` vector of a batch's accuracies
    and the number of contexts they are over (default 1), so a short last batch counts for
    what it holds; `result()` returns `{"acc_01": ..., "acc_12": ...}` so that every step is
    logged on its own (in order).
    """

    def __init__(self, steps: int = 12, name: str = "step_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.steps = steps
        self.total = self.add_variable(shape=(steps,), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, accuracy, sample_weight=None):
        weight = ops.cast(1 if sample_weight is None else sample_weight, self.dtype)
        self.total.assign_add(ops.cast(accuracy, self.dtype) * weight)
        self.count.assign_add(weight)

    def result(self):
        mean = ops.divide_no_nan(self.total, self.count)
        return {f"acc_{k + 1:02d}": mean[k] for k in range(self.steps)}

    def get_config(self):
        return {**super().get_config(), "steps": self.steps}
