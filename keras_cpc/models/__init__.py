"""Keras models of keras-cpc."""

import keras_cpc.optimizers  # noqa: F401  (registers AdamL2, which training.finetune compiles with)
from keras_cpc.models.cpc import CPC
from keras_cpc.models.end_to_end import EndToEndRecognizer
from keras_cpc.models.ensemble import RecognizerEnsemble, ensemble_of
from keras_cpc.models.files import ModelFileError, load_model_file
from keras_cpc.models.recognizer import EmotionRecognizer

__all__ = ["CPC", "EmotionRecognizer", "EndToEndRecognizer", "ModelFileError", "RecognizerEnsemble", "ensemble_of",
           "load_model_file"]
