"""Run folders: the bookkeeping that lets a training run be stopped, resumed and checked.

A run trains into one folder (`out`): `checkpoints/` (Keras `BackupAndRestore` files and the
`settings.json` they were trained with), `log.csv` and `run.lock`. These helpers read and keep
them consistent; `keras_cpc.callbacks` writes them during `fit`. TensorFlow-free.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

from keras_cpc.plots import read_log

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

logger = logging.getLogger(__name__)


class RunFolderError(ValueError):
    """A run folder that cannot be used: not writable, held by another process, or holding another run."""


@contextlib.contextmanager
def locked(path: Path, wait: bool) -> Iterator[None]:
    """Holds an exclusive lock on the file `path` (created, with its folder). Held by another
    process: waits for it (saying so) if `wait`, else a `RunFolderError` naming the folder. A folder
    that cannot be written is a `RunFolderError` too. Not enforced where `fcntl` is missing (Windows)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "w")
    except OSError as error:
        raise RunFolderError(f"{path.parent}: not a writable folder ({error.strerror or error})") from None
    with handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise RunFolderError(f"{path.parent}: another process is training into this folder (it holds "
                                         f"{path}); wait for it to finish or choose another --out") from None
                logger.info("waiting for another process, which holds %s", path)
                fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def exclusive_run(out: Path) -> contextlib.AbstractContextManager[None]:
    """Holds `out/run.lock` while a run trains into `out`: a second process training into the same
    folder (which would resume from, and overwrite, the first one's checkpoints and log) is a
    `RunFolderError` naming it."""
    return locked(out / "run.lock", wait=False)


def write_json(path: Path, value) -> None:
    """Writes `value` as JSON to `path` atomically (through a temporary file beside it)."""
    temporary = path.with_suffix(".partial.json")
    temporary.write_text(json.dumps(value, indent=2))
    temporary.replace(path)


def copy_into_place(source: Path, target: Path) -> None:
    """Copies `source` over `target` through a file beside it, so `target` is never cut short."""
    partial = target.with_name(f"partial.{target.name}")
    shutil.copy(source, partial)
    partial.replace(target)


def checkpoint_epoch(metadata: Path) -> int | None:
    """The epoch a Keras `BackupAndRestore` metadata file records; `None` if absent or unreadable."""
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def checkpointed(out: Path) -> bool:
    """Whether `out/checkpoints` holds a checkpoint a run can be restored from."""
    weights = out / "checkpoints" / "latest.weights.h5"
    return weights.exists() or weights.with_name(weights.name + ".bkp").exists()


def resumed_epoch(out: Path) -> int:
    """The epochs that the run in `out` has checkpointed: where it resumes (0 for a new run).
    Metadata that cannot be read gives the previous checkpoint's, which the restore falls back to."""
    metadata = out / "checkpoints" / "training_metadata.json"
    return checkpoint_epoch(metadata) or checkpoint_epoch(metadata.with_name(metadata.name + ".bkp")) or 0


def resumed_seed(seed: int, epoch: int) -> int:
    """The seed of a training data stream that starts at `epoch`: `seed` itself at 0, another one
    for a resumed run (`seed` again would replay the first epochs' files, order and crops)."""
    if not epoch:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}:{epoch}".encode()).digest()[:4], "big") >> 1


def setting_differences(recorded: dict, expected: dict) -> str:
    """`name recorded (now expected)` for each setting that differs, comma-separated ('' if none)."""
    return ", ".join(f"{k} {recorded.get(k)} (now {expected.get(k)})"
                     for k in sorted({*recorded, *expected}) if recorded.get(k) != expected.get(k))


def check_settings(out: Path, settings: dict) -> None:
    """Records a run's `settings` next to its checkpoint (`out/checkpoints/settings.json`), after
    checking that a checkpoint already there was trained with the same ones: resuming it with
    others would mix two runs. A mismatch is a `RunFolderError` naming the folder and the settings.
    Only `epochs` may change, and only up: a run can be extended, not shortened."""
    path = out / "checkpoints" / "settings.json"
    if (epochs := settings.get("epochs")) is not None and (trained := resumed_epoch(out)) > epochs:
        raise RunFolderError(f"{out} holds a run of {trained} epochs, more than the {epochs} asked for: "
                             "a run can be extended, not shortened; use another --out")
    settings = {k: v for k, v in json.loads(json.dumps(settings)).items() if k != "epochs"}  # as read back
    if checkpointed(out) and path.exists():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise RunFolderError(f"{path}: not readable settings ({error})") from None
        if not isinstance(recorded, dict):
            raise RunFolderError(f"{path}: not readable settings (not a JSON object)")
        if differences := setting_differences(recorded, settings):
            raise RunFolderError(f"{out} holds a run trained with other settings: {differences}; "
                                 "use another --out, or delete it to start again")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, settings)


def logged_seconds(log_path: Path, epochs: int) -> float:
    """Sum of the `epoch_seconds` of a CSV log's first `epochs` epochs: the training time of those
    a resumed run keeps (the checkpointed ones; a later row is trained again). 0 without a log,
    or for a log begun before epoch times were logged."""
    if not log_path.exists():
        return 0.0
    log = read_log(log_path)
    return sum(s for e, s in zip(log.get("epoch", []), log.get("epoch_seconds", [])) if e < epochs and math.isfinite(s))


def takes_epoch_seconds(log_path: Path) -> bool:
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
    if log_path.exists() and not checkpointed(out):
        log_path.replace(out / "log.stale.csv")


def keep_logged_epochs(log_path: Path, epochs: int) -> list[str]:
    """Drops the rows of epoch `epochs` and later from a CSV log (atomically), and a last row cut
    short by an interruption; returns the dropped rows' epochs. These epochs were logged but not
    checkpointed (a row is logged before its checkpoint): a resumed run trains them again."""
    if not log_path.exists():
        return []
    text = log_path.read_text()
    header, *rows = [row for row in csv.reader(text.splitlines()) if row] or [[]]
    kept = [int(row[0]) < epochs for row in rows]  # CSVLogger's first column is the epoch
    if rows and not text.endswith("\n"):  # the last row's write was interrupted
        kept[-1] = False
    if all(kept):
        return []
    temporary = log_path.with_suffix(".partial.csv")
    with open(temporary, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *(row for row, keep in zip(rows, kept) if keep)])
    temporary.replace(log_path)
    return [row[0] for row, keep in zip(rows, kept) if not keep]


def common_epoch(latest: list[int], previous: list[int | None]) -> int:
    """The epoch every worker of a cluster can resume from, given the epoch of each one's latest
    checkpoint (0 if none) and of its previous one (`None` if none): the earliest latest one. A
    run killed between two workers' saves leaves them one epoch apart; the one ahead goes back to
    its previous checkpoint, or to none at epoch 0. Workers further apart are a `RunFolderError`."""
    target = min(latest)
    if any(target not in (epoch, before) and (target, epoch) != (0, 1) for epoch, before in zip(latest, previous)):
        raise RunFolderError(f"the workers' checkpoints are at epochs {latest} (previous {previous}): "
                             "no epoch they all hold; delete the checkpoints to start again")
    return target
