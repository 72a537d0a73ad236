"""Readers shared by the tests."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path


def log_rows(path: Path) -> list[dict[str, str]]:
    """Every row of a CSV log as written (`read_log` keeps one row per epoch, which would hide a duplicate)."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def log_column(path: Path, column: str, kind: Callable[[str], float | int] = float) -> list:
    """One column of every row of a CSV log."""
    return [kind(row[column]) for row in log_rows(path)]
