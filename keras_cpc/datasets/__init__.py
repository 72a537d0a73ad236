"""Speech corpora on disk and the `tf.data` pipelines built on them (the emotion corpora's evaluation
protocol, which scores with `keras_cpc.metrics`, is `keras_cpc.datasets.protocol`)."""

from keras_cpc.datasets.acted import crema_d, emodb
from keras_cpc.datasets.crops import crop_dataset, fit_to_length
from keras_cpc.datasets.csv_corpus import csv_corpus
from keras_cpc.datasets.emotion import (
    EmotionUtterance,
    Fold,
    folds_by_speaker,
    labels,
    leave_one_group_out,
    scaled_rating,
)
from keras_cpc.datasets.iemocap import iemocap, iemocap_folds
from keras_cpc.datasets.msp_podcast import msp_podcast, msp_podcast_split
from keras_cpc.datasets.ravdess import ravdess
from keras_cpc.datasets.sources import (
    Utterance,
    audio_folder,
    file_list,
    find_utterances,
    hold_out_speakers,
    librispeech,
    split_by_speaker,
)

__all__ = [
    "EmotionUtterance",
    "Fold",
    "Utterance",
    "audio_folder",
    "crema_d",
    "crop_dataset",
    "csv_corpus",
    "emodb",
    "file_list",
    "find_utterances",
    "fit_to_length",
    "folds_by_speaker",
    "hold_out_speakers",
    "iemocap",
    "iemocap_folds",
    "labels",
    "leave_one_group_out",
    "librispeech",
    "msp_podcast",
    "msp_podcast_split",
    "ravdess",
    "scaled_rating",
    "split_by_speaker",
]
