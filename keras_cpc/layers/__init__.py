"""Keras layers of keras-cpc."""

from keras_cpc.layers.attention import SelfAttention
from keras_cpc.layers.encoder import ConvEncoder, hop_length, num_frames, receptive_field
from keras_cpc.layers.frame_average import FrameAverage
from keras_cpc.layers.mfcc import MFCC, AppendMFCC, append_mfccs
from keras_cpc.layers.pitch import Pitch
from keras_cpc.layers.pooling import AttentiveStatsPooling, MeanStdPooling
from keras_cpc.layers.predictor import FuturePredictor
from keras_cpc.layers.standardize import Standardize

__all__ = [
    "AppendMFCC", "AttentiveStatsPooling", "ConvEncoder", "FrameAverage", "FuturePredictor", "MFCC", "MeanStdPooling",
    "Pitch", "SelfAttention", "Standardize",
    "append_mfccs", "hop_length", "num_frames", "receptive_field",
]
