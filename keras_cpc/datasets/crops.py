"""`tf.data` pipeline of fixed-length waveform crops for CPC pretraining."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from keras_cpc.audio import SAMPLE_RATE, AudioError, load_audio

logger = logging.getLogger(__name__)


def fit_to_length(audio: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """`length` samples of `audio` from `offset`: a crop if long enough, else repeats of it.

    Short utterances are filled by repeating them (the paper's choice), never with zeros,
    starting at `offset` (taken modulo their length), so that their crops vary too. A
    repetition whose period is a whole number of frames makes some negatives of InfoNCE exact
    copies of the positive (the same frame one period away); they are not excluded.
    """
    n = audio.shape[0]
    if n >= length:
        if not 0 <= offset <= n - length:
            raise ValueError(f"offset {offset} leaves fewer than {length} of {n} samples")
        return audio[offset : offset + length]
    return audio[(offset + np.arange(length)) % n]


class _CropDecoder:
    """Decodes one crop per call; a bad file is skipped with a warning naming it.

    Raises once each of the `num_files` files has failed and none has ever decoded: an endless
    stream of skips would otherwise hang training. (Counting failures in a row instead stopped a
    stream that had good files: parallel decoding returns the fast failures together.)
    """

    def __init__(self, num_files: int, length: int, min_samples: int):
        self.num_files, self.length, self.min_samples = num_files, length, min_samples
        self.failed: set[bytes] = set()
        self.decoded_any = False
        self.lock = threading.Lock()

    def __call__(self, path: bytes, position: float) -> tuple[np.ndarray, bool]:
        try:
            audio = load_audio(path.decode(), min_samples=self.min_samples)
        except AudioError as error:
            logger.warning("skipping %s", error)
            with self.lock:
                self.failed.add(path)
                if not self.decoded_any and len(self.failed) >= self.num_files:
                    raise RuntimeError(f"none of the {self.num_files} audio files could be used") from error
            return np.zeros(self.length, np.float32), False
        self.decoded_any = True
        n = audio.shape[0]
        offset = int(position * (n - self.length + 1)) if n >= self.length else int(position * n)
        return fit_to_length(audio, self.length, offset), True


def _decoded(audio: tf.Tensor, ok: tf.Tensor) -> tf.Tensor:
    return ok


def _drop_flag(audio: tf.Tensor, ok: tf.Tensor) -> tf.Tensor:
    return audio


def crop_dataset(
    paths: Sequence[str],
    batch_size: int,
    crop_seconds: float = 10.0,
    seed: int = 0,
    training: bool = True,
    min_samples: int = 1,
    shard: tuple[int, int] = (0, 1),
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
) -> tf.data.Dataset:
    """Batches of waveform crops `(batch, samples)` float32 from audio files.

    Each file gives one crop of `crop_seconds` at 16 kHz: a random window of a longer
    utterance, a shorter one repeated to fill it from a random sample on. The position derives from `seed`
    and the element's position, so the stream is the same however many replicas consume it.

    With `training` the files are reshuffled every pass and repeated forever (batches of
    exactly `batch_size`); otherwise one deterministic pass in file order. Decoding runs in
    parallel off the training graph and batches are prefetched; memory holds the file paths
    (for the shuffle), never more than a few batches of audio. Unreadable files are skipped with
    a warning that names them.
    `shard=(index, count)` keeps every `count`-th file, for one input pipeline of several.

    With `augment`, each element is a pair `(augmented, crop)` (as a Keras input, `((augmented, crop),)`):
    `augment(crop, rng)` with a generator seeded by `seed` and the element's position, like the crop.
    """
    if not paths:
        raise ValueError("no audio files to build a dataset from")
    length = int(round(crop_seconds * SAMPLE_RATE))
    shard_index, shard_count = shard
    if shard_index >= len(paths):  # an empty stream would end its worker's epochs while the others wait
        raise ValueError(f"input pipeline {shard_index} of {shard_count} has none of the {len(paths)} "
                         "training files: give at least one file per worker")
    dataset = tf.data.Dataset.from_tensor_slices(list(paths)).shard(shard_count, shard_index)
    if training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()

    decode = _CropDecoder(len(range(shard_index, len(paths), shard_count)), length, min_samples)

    def element_seed(index):
        return tf.stack([tf.constant(seed, tf.int64), index * shard_count + shard_index])

    def load(index, path):
        position = tf.random.stateless_uniform((), seed=element_seed(index))
        audio, ok = tf.numpy_function(decode, [path, position], [tf.float32, tf.bool], stateful=True)
        audio.set_shape([length])
        ok.set_shape([])
        return audio, ok

    def augmented(crop: np.ndarray, element: np.ndarray) -> np.ndarray:
        return augment(crop, np.random.default_rng([int(e) for e in element])).astype(np.float32)

    def load_pair(index, path):
        audio, ok = load(index, path)
        heard = tf.numpy_function(augmented, [audio, element_seed(index)], tf.float32, stateful=False)
        heard.set_shape([length])
        return ((heard, audio),), ok  # a Keras input: x alone, a pair

    dataset = dataset.enumerate().map(load_pair if augment else load, num_parallel_calls=tf.data.AUTOTUNE,
                                      deterministic=True)
    dataset = dataset.filter(_decoded).map(_drop_flag)
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)
