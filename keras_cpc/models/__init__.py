"""Keras models of keras-cpc."""

from keras_cpc.models.cpc import CPC
from keras_cpc.models.end_to_end import EndToEndRecognizer
from keras_cpc.models.recognizer import EmotionRecognizer

__all__ = ["CPC", "EmotionRecognizer", "EndToEndRecognizer"]
