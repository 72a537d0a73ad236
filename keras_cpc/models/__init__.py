"""Keras models of keras-cpc."""

from keras_cpc.models.cpc import CPC

__all__ = ["CPC"]
