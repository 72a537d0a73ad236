"""Keras callbacks used by the training CLIs; the run folder they keep is `keras_cpc.runs`'s."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path

import keras
import tensorflow as tf

from keras_cpc.distribute import worker_id
from keras_cpc.plots import read_log
from keras_cpc.runs import (
    check_settings,
    checkpoint_epoch,
    common_epoch,
    copy_into_place,
    keep_logged_epochs,
    resumed_epoch,
    set_aside_stale_log,
    takes_epoch_seconds,
    write_json,
)

logger = logging.getLogger(__name__)


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


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` (with its previous checkpoint kept) whose files are each written beside
    and renamed into place, so an interruption never leaves one cut short. The metadata records
    the optimizer's step: weights that do not match their metadata (an interruption between the
    two renames), or metadata that cannot be read, fall back to the previous checkpoint, as
    unreadable weights do."""

    def __init__(self, backup_dir: Path):
        super().__init__(str(backup_dir), delete_checkpoint=False, double_checkpoint=True)

    def _save_model(self):
        backup = Path(self.backup_dir)
        backup.mkdir(parents=True, exist_ok=True)
        weights, metadata = Path(self._weights_path), Path(self._training_metadata_path)
        for path, previous in ((weights, self._prev_weights_path), (metadata, self._prev_training_metadata_path)):
            if path.exists():
                copy_into_place(path, Path(previous))
        partial = backup / "partial.weights.h5"
        self.model.save_weights(partial, overwrite=True)
        partial.replace(weights)  # then the epoch that these weights are of
        write_json(metadata, {"epoch": self._current_epoch, "batch": self._last_batch_seen,
                              "iterations": self._optimizer_step()})

    def _optimizer_step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def _load_model(self):
        try:
            super()._load_model()
        except json.JSONDecodeError as error:  # Keras's fallback to the previous checkpoint takes OSError
            raise OSError(f"{self._training_metadata_path}: not readable ({error})") from error
        metadata = Path(self._training_metadata_path)
        if metadata.exists():
            recorded = json.loads(metadata.read_text()).get("iterations")  # absent from Keras's own
            restored = self._optimizer_step()
            if recorded is not None and recorded != restored:
                raise OSError(f"{self._weights_path}: weights of step {restored}, not of its metadata's "
                              f"step {recorded}")


@contextlib.contextmanager
def averaged_weights(model: keras.Model) -> Iterator[None]:
    """Within it, the model's trainable weights are its optimizer's moving averages of them (Keras's
    `use_ema`); a no-op for an optimizer without them."""
    if not getattr(model.optimizer, "use_ema", False):
        yield
        return
    current = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    model.optimizer.finalize_variable_values(model.trainable_variables)
    try:
        yield
    finally:
        for variable, value in zip(model.trainable_variables, current):
            variable.assign(value)


class ResumableRun(keras.callbacks.Callback):
    """Logging, checkpointing and the best model of a run in `out`, consistent across interruptions.

    Each epoch ends with, in this order: a row of `out/log.csv`, a checkpoint in `out/checkpoints`
    (weights, optimizer state, epoch) and, if `monitor` improved, the model as `out/model_file`.
    With an optimizer that keeps moving averages of the weights (`use_ema`), validation scores them and
    the best model is them (`averaged_weights`); training and its checkpoints go on with the weights.
    A resumed run restores the checkpoint, drops the log rows of epochs after it (they are trained
    again), and saves the checkpointed epoch as the best model if the log says it is the best (the
    interruption may have come before that save). An interruption at any point thus leaves neither
    a duplicated row nor a best model from an epoch that was trained again.
    """

    def __init__(self, out: Path, model_file: str, monitor: str, mode: str = "min"):
        super().__init__()
        self.checkpoints = out / "checkpoints"
        self.log_path = out / "log.csv"
        self.model_path = out / model_file
        self.log = keras.callbacks.CSVLogger(self.log_path, append=True)
        self.checkpoint = AtomicBackupAndRestore(out / "checkpoints")
        self.best_model = keras.callbacks.ModelCheckpoint(self.model_path, monitor=monitor, mode=mode,
                                                          save_best_only=True)
        self._parts = (self.log, self.checkpoint, self.best_model)
        self._validating = contextlib.ExitStack()

    def set_model(self, model):
        super().set_model(model)
        for part in self._parts:
            part.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for part in self._parts:
            part.set_params(params)

    def on_train_begin(self, logs=None):
        self._agree_with_other_workers()
        self.checkpoint.on_train_begin(logs)
        epochs = self.model._initial_epoch or 0  # set by the restore: the epochs the checkpoint holds
        dropped = keep_logged_epochs(self.log_path, epochs)
        if dropped:
            logger.warning("%s: dropped the rows of epochs %s, logged but not checkpointed",
                           self.log_path, dropped)
        log = read_log(self.log_path) if self.log_path.exists() else {}
        logged = [(v, e) for v, e in zip(log.get(self.best_model.monitor, []), log.get("epoch", []))
                  if math.isfinite(v)]
        if logged:
            best, epoch = (min if self.best_model.mode == "min" else max)(logged, key=lambda pair: pair[0])
            self.best_model.best = best
            if epoch == epochs - 1:  # the checkpointed epoch is the best: (re)save it
                with averaged_weights(self.model):
                    self.model.save(self.model_path)
        self.log.on_train_begin(logs)

    def _agree_with_other_workers(self) -> None:
        """On a cluster, before the restore, makes each worker's latest checkpoint the epoch they
        all hold (`common_epoch`): a worker ahead makes its previous checkpoint its latest, or
        removes its only one to start again with the others."""
        strategy = self.model.distribute_strategy
        if worker_id(strategy) is None:
            return
        latest = [self.checkpoints / "latest.weights.h5", self.checkpoints / "training_metadata.json"]
        previous = [path.with_name(path.name + ".bkp") for path in latest]
        epochs = [resumed_epoch(self.checkpoints.parent), checkpoint_epoch(previous[1]) or -1]
        pairs = strategy.gather(strategy.run(lambda: tf.constant([epochs])), axis=0).numpy()
        target = common_epoch([int(e) for e in pairs[:, 0]], [None if p < 0 else int(p) for p in pairs[:, 1]])
        if target == epochs[0]:
            return
        for path, before in zip(latest, previous):
            if target:
                copy_into_place(before, path)
            else:
                path.unlink(missing_ok=True)
                before.unlink(missing_ok=True)
        logger.warning("%s: back to epoch %d, the latest checkpoint of every worker", self.checkpoints, target)

    def on_epoch_begin(self, epoch, logs=None):
        self.best_model.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.best_model.monitor not in (logs or {}):  # Keras would only warn, and save every epoch
            raise ValueError(f"{self.best_model.monitor!r}, which picks the best epoch, is not among the "
                             f"epoch's logs {sorted(logs or {})}")
        self.log.on_epoch_end(epoch, logs)
        self.checkpoint.on_epoch_end(epoch, logs)
        with averaged_weights(self.model):
            self.best_model.on_epoch_end(epoch, logs)

    def on_test_begin(self, logs=None):
        self._validating.enter_context(averaged_weights(self.model))

    def on_test_end(self, logs=None):
        self._validating.close()

    def on_train_end(self, logs=None):
        self.log.on_train_end(logs)


def run_callbacks(out: Path, model_file: str, monitor: str, settings: dict,
                  mode: str = "min") -> list[keras.callbacks.Callback]:
    """Epoch times and a `ResumableRun` in `out`, for a run trained with `settings`.

    The log has each epoch's `epoch_seconds`, unless it was begun without them (a resumed older
    run). A log that no checkpoint can resume is set aside first (`set_aside_stale_log`), and a
    checkpoint trained with other settings is an error (`check_settings`).
    """
    check_settings(out, settings)
    set_aside_stale_log(out)
    return [
        *([EpochTime()] if takes_epoch_seconds(out / "log.csv") else []),
        ResumableRun(out, model_file, monitor, mode),
    ]
