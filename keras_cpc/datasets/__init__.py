"""Speech corpora on disk and the `tf.data` pipelines built on them."""

from keras_cpc.datasets.crops import crop_dataset, fit_to_length
from keras_cpc.datasets.sources import Utterance, audio_folder, find_utterances, librispeech, split_by_speaker

__all__ = [
    "Utterance",
    "audio_folder",
    "crop_dataset",
    "find_utterances",
    "fit_to_length",
    "librispeech",
    "split_by_speaker",
]
