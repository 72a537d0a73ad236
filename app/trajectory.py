"""Trajectories (lists of `Prediction`, NaN where gated): CSV export and a one-line summary."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.categories import nearest_category
from app.streaming import DIMENSIONS, Prediction


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


def summary_estimates(predictions: Sequence[Prediction], window_seconds: float) -> np.ndarray:
    """The estimates that stand for a whole trajectory: those made over a full window (each sees
    `window_seconds`), or, when there are none, the last estimate, which sees all that came before
    (what `training.heldout` scores). The first hops of a stream see a fraction of a second, which
    the recognizer was not trained on: at the start of a clip their values leave the labels' range."""
    full = estimates([p for p in predictions if p.time >= window_seconds])
    return full if len(full) else estimates(predictions)[-1:]


def summarize(predictions: Sequence[Prediction], window_seconds: float) -> str:
    """Length, the mean of the `summary_estimates`, and the category nearest it."""
    speech = summary_estimates(predictions, window_seconds)
    length = predictions[-1].time if predictions else 0.0
    if not len(speech):
        return f"{length:.1f} s, no speech above the gate"
    means = speech.mean(axis=0)
    text = ", ".join(f"{name} {mean:+.2f}" for name, mean in zip(DIMENSIONS, means))
    which = f"mean of {len(speech)} full-window estimates" if len(speech) > 1 else "last estimate"
    return f"{length:.1f} s; {which}: {text}; nearest {nearest_category(*means)}"
