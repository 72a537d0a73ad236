"""Keras callbacks used by the training CLIs."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import keras
import tensorflow as tf

from keras_cpc.distribute import worker_id
from keras_cpc.plots import read_log

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

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


def logged_seconds(log_path: Path, epochs: int) -> float:
    """Sum of the `epoch_seconds` of a CSV log's first `epochs` epochs: the training time of those
    a resumed run keeps (the checkpointed ones; a later row is trained again). 0 without a log,
    or for a log begun before epoch times were logged."""
    if not log_path.exists():
        return 0.0
    log = read_log(log_path)
    return sum(s for e, s in zip(log.get("epoch", []), log.get("epoch_seconds", [])) if e < epochs and math.isfinite(s))


def _takes_epoch_seconds(log_path: Path) -> bool:
    """Whether a CSV log may get an `epoch_seconds` column: it is new, empty or already has one."""
    if not log_path.exists():
        return True
    with open(log_path) as handle:
        header = handle.readline().strip()
    return not header or "epoch_seconds" in header.split(",")


def _checkpointed(out: Path) -> bool:
    """Whether `out/checkpoints` holds a checkpoint a run can be restored from."""
    weights = out / "checkpoints" / "latest.weights.h5"
    return weights.exists() or weights.with_name(weights.name + ".bkp").exists()


def setting_differences(recorded: dict, expected: dict) -> str:
    """`name recorded (now expected)` for each setting that differs, comma-separated ('' if none)."""
    return ", ".join(f"{k} {recorded.get(k)} (now {expected.get(k)})"
                     for k in sorted({*recorded, *expected}) if recorded.get(k) != expected.get(k))


def check_settings(out: Path, settings: dict) -> None:
    """Records a run's `settings` next to its checkpoint (`out/checkpoints/settings.json`), after
    checking that a checkpoint already there was trained with the same ones: resuming it with
    others would mix two runs. A mismatch is a `ValueError` naming the folder and the settings.
    Only `epochs` may change, and only up: a run can be extended, not shortened."""
    path = out / "checkpoints" / "settings.json"
    if (epochs := settings.get("epochs")) is not None and (trained := resumed_epoch(out)) > epochs:
        raise ValueError(f"{out} holds a run of {trained} epochs, more than the {epochs} asked for: "
                         "a run can be extended, not shortened; use another --out")
    settings = {k: v for k, v in json.loads(json.dumps(settings)).items() if k != "epochs"}  # as read back
    if _checkpointed(out) and path.exists():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not readable settings ({error})") from None
        if not isinstance(recorded, dict):
            raise ValueError(f"{path}: not readable settings (not a JSON object)")
        if differences := setting_differences(recorded, settings):
            raise ValueError(f"{out} holds a run trained with other settings: {differences}; "
                             "use another --out, or delete it to start again")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, settings)


def write_json(path: Path, value) -> None:
    """Writes `value` as JSON to `path` atomically (through a temporary file beside it)."""
    temporary = path.with_suffix(".partial.json")
    temporary.write_text(json.dumps(value, indent=2))
    temporary.replace(path)


def set_aside_stale_log(out: Path) -> None:
    """Renames `out/log.csv` to `log.stale.csv` when no checkpoint in `out/checkpoints` can
    restore its run (e.g. a run copied without its checkpoints, or killed between logging
    its first epoch and checkpointing it): the run restarts from epoch 0, and the old rows
    must neither mix with the new ones nor set the bar for the best model."""
    log_path = out / "log.csv"
    if log_path.exists() and not _checkpointed(out):
        log_path.replace(out / "log.stale.csv")


def keep_logged_epochs(log_path: Path, epochs: int) -> list[str]:
    """Drops the rows of epoch `epochs` and later from a CSV log (atomically), and a last row cut
    short by an interruption; returns the dropped rows' epochs. These epochs were logged but not
    checkpointed (a row is logged before its checkpoint): a resumed run trains them again."""
    if not log_path.exists():
        return []
    text = log_path.read_text()
    header, *rows = [row for row in csv.reader(text.splitlines()) if row] or [[]]
    checkpointed = [int(row[0]) < epochs for row in rows]  # CSVLogger's first column is the epoch
    if rows and not text.endswith("\n"):  # the last row's write was interrupted
        checkpointed[-1] = False
    if all(checkpointed):
        return []
    temporary = log_path.with_suffix(".partial.csv")
    with open(temporary, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *(row for row, kept in zip(rows, checkpointed) if kept)])
    temporary.replace(log_path)
    return [row[0] for row, kept in zip(rows, checkpointed) if not kept]


def common_epoch(latest: list[int], previous: list[int | None]) -> int:
    """The epoch every worker of a cluster can resume from, given the epoch of each one's latest
    checkpoint (0 if none) and of its previous one (`None` if none): the earliest latest one. A
    run killed between two workers' saves leaves them one epoch apart; the one ahead goes back to
    its previous checkpoint, or to none at epoch 0. Workers further apart are a `ValueError`."""
    target = min(latest)
    if any(target not in (epoch, before) and (target, epoch) != (0, 1) for epoch, before in zip(latest, previous)):
        raise ValueError(f"the workers' checkpoints are at epochs {latest} (previous {previous}): "
                         "no epoch they all hold; delete the checkpoints to start again")
    return target


def _checkpoint_epoch(metadata: Path) -> int | None:
    """The epoch a Keras `BackupAndRestore` metadata file records; `None` if absent or unreadable."""
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _copy_into_place(source: Path, target: Path) -> None:
    """Copies `source` over `target` through a file beside it, so `target` is never cut short."""
    partial = target.with_name(f"partial.{target.name}")
    shutil.copy(source, partial)
    partial.replace(target)


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
                _copy_into_place(path, Path(previous))
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
def exclusive_run(out: Path) -> Iterator[None]:
    """Holds `out/run.lock` while a run trains into `out`: a second process training into the same
    folder (which would resume from, and overwrite, the first one's checkpoints and log) is an error
    naming it. Not enforced where `fcntl` is missing (Windows)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "run.lock", "w") as lock:
        if fcntl is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SystemExit(f"{out}: another process is training into this folder (it holds "
                                 f"{out / 'run.lock'}); wait for it to finish or choose another --out") from None
        yield


def resumed_epoch(out: Path) -> int:
    """The epochs that the run in `out` has checkpointed: where it resumes (0 for a new run).
    Metadata that cannot be read gives the previous checkpoint's, which the restore falls back to."""
    metadata = out / "checkpoints" / "training_metadata.json"
    return _checkpoint_epoch(metadata) or _checkpoint_epoch(metadata.with_name(metadata.name + ".bkp")) or 0


def resumed_seed(seed: int, epoch: int) -> int:
    """The seed of a training data stream that starts at `epoch`: `seed` itself at 0, another one
    for a resumed run (`seed` again would replay the first epochs' files, order and crops)."""
    if not epoch:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}:{epoch}".encode()).digest()[:4], "big") >> 1


class ResumableRun(keras.callbacks.Callback):
    """Logging, checkpointing and the best model of a run in `out`, consistent across interruptions.

    Each epoch ends with, in this order: a row of `out/log.csv`, a checkpoint in `out/checkpoints`
    (weights, optimizer state, epoch) and, if `monitor` improved, the model as `out/model_file`.
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
        epochs = [resumed_epoch(self.checkpoints.parent), _checkpoint_epoch(previous[1]) or -1]
        pairs = strategy.gather(strategy.run(lambda: tf.constant([epochs])), axis=0).numpy()
        target = common_epoch([int(e) for e in pairs[:, 0]], [None if p < 0 else int(p) for p in pairs[:, 1]])
        if target == epochs[0]:
            return
        for path, before in zip(latest, previous):
            if target:
                _copy_into_place(before, path)
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
        for part in self._parts:
            part.on_epoch_end(epoch, logs)

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
        *([EpochTime()] if _takes_epoch_seconds(out / "log.csv") else []),
        ResumableRun(out, model_file, monitor, mode),
    ]
