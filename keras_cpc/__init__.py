"""keras-cpc: contrastive predictive coding for speech emotion recognition (Keras 3 / TensorFlow)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
