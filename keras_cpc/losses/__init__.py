"""Training objectives of keras-cpc."""

from keras_cpc.losses.ccc import CCCLoss
from keras_cpc.losses.infonce import info_nce_logits, info_nce_loss, prediction_accuracy, sample_negative_indices

__all__ = ["CCCLoss", "info_nce_logits", "info_nce_loss", "prediction_accuracy", "sample_negative_indices"]
