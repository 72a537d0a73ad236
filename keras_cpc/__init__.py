"""keras-cpc: contrastive predictive coding for speech emotion recognition (Keras 3 / TensorFlow)."""

import importlib.util
import os

if importlib.util.find_spec("tensorflow") is None:  # the base install is inference alone (app, cpc-analyze)
    raise ModuleNotFoundError("keras_cpc trains and exports with TensorFlow, which is not installed "
                              "(in the keras-cpc checkout: pip install -e '.[train]')", name="tensorflow")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
