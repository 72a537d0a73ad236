"""Trajectories (lists of `Prediction`, NaN where gated): CSV export and a one-line summary."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.analyze import DIMENSIONS
from app.categories import nearest_category
from app.streaming import Prediction


def write_csv(path: str | Path, name: str, predictions: Sequence[Prediction]) -> None:
    """One row per hop, in `python -m app.analyze --csv`'s columns; gated hops read `nan`."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "time", *DIMENSIONS])
        writer.writerows([name, f"{p.time:.3f}", *(f"{v:.5f}" for v in p[1:])] for p in predictions)


def estimates(predictions: Sequence[Prediction]) -> np.ndarray:
    """(n, 3) activation, valence and dominance of the hops that were not gated."""
    values = np.array([p[1:] for p in predictions], np.float64).reshape(-1, len(DIMENSIONS))
    return values[~np.isnan(values).any(axis=1)]


def summarize(predictions: Sequence[Prediction]) -> str:
    """Length, means over the estimated (not gated) hops, and the category nearest the means."""
    speech = estimates(predictions)
    length = predictions[-1].time if predictions else 0.0
    if not len(speech):
        return f"{length:.1f} s, no speech above the gate"
    means = speech.mean(axis=0)
    text = ", ".join(f"{name} {mean:+.2f}" for name, mean in zip(DIMENSIONS, means))
    return f"{length:.1f} s, {len(speech)} estimates; mean {text}: nearest {nearest_category(*means)}"
