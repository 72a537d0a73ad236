"""Trajectories (lists of `Prediction`, NaN where gated): CSV export, a one-line summary, a figure."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from app.engine.categories import nearest_category
from app.engine.streaming import DIMENSIONS, Prediction


@contextmanager
def written_beside(path: str | Path) -> Iterator[Path]:
    """A file to write beside `path` (hidden, with its suffix), moved onto `path` once written, so that `path` is
    never half-written; removed, leaving `path` as it was, when writing fails."""
    path = Path(path)
    partial = path.with_name(f".{os.getpid()}.{path.name}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_csv(path: str | Path, trajectories: Mapping[str, Sequence[Prediction]]) -> None:
    """One row per hop of each named trajectory (`python -m app.analyze --csv`); gated hops read `nan`."""
    with written_beside(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "time", *DIMENSIONS])
        for name, predictions in trajectories.items():
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


def plot_formats() -> list[str]:
    """The file suffixes (without the dot) `plot_trajectories` can write: matplotlib's formats."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def plot_trajectories(trajectories: dict[str, Sequence[Prediction]], path: str | Path) -> None:
    """The trajectories of several files, one plot per dimension (matplotlib; the format is `path`'s suffix, PNG
    without one)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(len(DIMENSIONS), 1, sharex=True, figsize=(10, 7))
    for name, predictions in trajectories.items():
        times = [p.time for p in predictions]
        for axis, dimension in zip(axes, DIMENSIONS):
            axis.plot(times, [getattr(p, dimension) for p in predictions], label=Path(name).name)
    for axis, dimension in zip(axes, DIMENSIONS):
        axis.set_ylabel(dimension)
        axis.set_ylim(-1.05, 1.05)
    axes[-1].set_xlabel("time (s)")
    axes[0].legend(fontsize="small", loc="upper right")
    figure.tight_layout()
    with written_beside(path) as partial:
        figure.savefig(partial, dpi=120, format=Path(path).suffix[1:] or "png")
    pyplot.close(figure)
