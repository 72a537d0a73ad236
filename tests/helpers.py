"""Readers and settings shared by the tests."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import keras


def log_rows(path: Path) -> list[dict[str, str]]:
    """Every row of a CSV log as written (`read_log` keeps one row per epoch, which would hide a duplicate)."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def log_column(path: Path, column: str, kind: Callable[[str], float | int] = float) -> list:
    """One column of every row of a CSV log."""
    return [kind(row[column]) for row in log_rows(path)]


@contextlib.contextmanager
def global_dtype_policy(name: str) -> Iterator[None]:
    """Keras's global dtype policy set to `name` inside the block, restored after it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
