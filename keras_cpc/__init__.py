"""keras-cpc: contrastive predictive coding for speech emotion recognition (Keras 3 / TensorFlow).

Training and export need TensorFlow (the `train` extra); `keras_cpc.audio` and `keras_cpc.loudness`
are NumPy only, so the streaming engine shares them without it.
"""

import importlib.util
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def require_tensorflow() -> None:
    """Names the extra to install when TensorFlow is missing (the base install is the app's inference)."""
    if importlib.util.find_spec("tensorflow") is None:
        raise ModuleNotFoundError("keras_cpc trains and exports with TensorFlow, which is not installed "
                                  "(in the keras-cpc checkout: pip install -e '.[train]')", name="tensorflow")
