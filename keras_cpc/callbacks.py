"""Keras callbacks used by the training CLIs."""

from __future__ import annotations

import time

import keras


class AudioThroughput(keras.callbacks.Callback):
    """Adds `audio_s_per_s` (seconds of audio trained on per wall-clock second) to the logs.

    Placed before the progress bar, it shows the running rate during an epoch and the
    epoch's rate in the epoch logs (and so in the CSV log and TensorBoard).
    """

    def __init__(self, audio_seconds_per_batch: float):
        super().__init__()
        self.audio_seconds_per_batch = audio_seconds_per_batch

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if logs is not None:
            logs["audio_s_per_s"] = self._rate()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["audio_s_per_s"] = self._rate()

    def _rate(self) -> float:
        return self._batches * self.audio_seconds_per_batch / max(time.perf_counter() - self._start, 1e-9)
