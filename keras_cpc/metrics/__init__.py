"""Metrics of keras-cpc."""

from keras_cpc.metrics.ccc import ConcordanceCorrelation
from keras_cpc.metrics.step_accuracy import StepAccuracy

__all__ = ["ConcordanceCorrelation", "StepAccuracy"]
