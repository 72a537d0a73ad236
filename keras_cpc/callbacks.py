"""Keras callbacks used by the training CLIs."""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras

from keras_cpc.plots import read_log


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


class EpochTime(keras.callbacks.Callback):
    """Adds `epoch_seconds` (wall-clock seconds of the epoch, validation included) to the logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


def best_logged(log_path: Path, monitor: str, mode: str = "min") -> float | None:
    """Best `monitor` value of the epochs already in a CSV log (None if none), for resuming."""
    if not log_path.exists():
        return None
    values = [v for v in read_log(log_path).get(monitor, []) if math.isfinite(v)]
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


def logged_seconds(log_path: Path) -> float:
    """Sum of the `epoch_seconds` in a CSV log: the training time of the epochs already run
    (0 without a log, or for a log begun before epoch times were logged)."""
    if not log_path.exists():
        return 0.0
    return sum(s for s in read_log(log_path).get("epoch_seconds", []) if math.isfinite(s))


def _takes_epoch_seconds(log_path: Path) -> bool:
    """Whether a CSV log may get an `epoch_seconds` column: it is new, empty or already has one."""
    if not log_path.exists():
        return True
    with open(log_path) as handle:
        header = handle.readline().strip()
    return not header or "epoch_seconds" in header.split(",")


def set_aside_stale_log(out: Path) -> None:
    """Renames `out/log.csv` to `log.stale.csv` when no checkpoint in `out/checkpoints` can
    restore its run (e.g. a run copied without its checkpoints, or killed between logging
    its first epoch and checkpointing it): the run restarts from epoch 0, and the old rows
    must neither mix with the new ones nor set the bar for the best model."""
    log_path = out / "log.csv"
    weights = out / "checkpoints" / "latest.weights.h5"
    if log_path.exists() and not (weights.exists() or weights.with_name(weights.name + ".bkp").exists()):
        log_path.replace(out / "log.stale.csv")


def run_callbacks(out: Path, model_file: str, monitor: str, mode: str = "min") -> list[keras.callbacks.Callback]:
    """Checkpointing and logging of a resumable run in `out`.

    The best model by `monitor` as `out/model_file` (still the best after a resume), a CSV log
    appended across resumes, and a checkpoint every epoch in `out/checkpoints` from which the
    same run restarts (weights, optimizer and epoch) after an interruption. The log has each
    epoch's `epoch_seconds`, unless it was begun without them (a resumed older run). A log
    that no checkpoint can resume is set aside first (`set_aside_stale_log`).
    """
    set_aside_stale_log(out)
    log_path = out / "log.csv"
    return [
        *([EpochTime()] if _takes_epoch_seconds(log_path) else []),
        keras.callbacks.ModelCheckpoint(out / model_file, monitor=monitor, mode=mode, save_best_only=True,
                                        initial_value_threshold=best_logged(log_path, monitor, mode)),
        keras.callbacks.CSVLogger(log_path, append=True),
        keras.callbacks.BackupAndRestore(out / "checkpoints", delete_checkpoint=False, double_checkpoint=True),
    ]
