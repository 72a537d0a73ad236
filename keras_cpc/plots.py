"""Plots of training runs."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_log(path: str | Path) -> dict[str, list[float]]:
    """Columns of a Keras `CSVLogger` file as lists of floats, one row per epoch.

    An epoch logged twice (a run killed after logging it, then resumed) keeps its last row;
    a value Keras could not log (`NA`) reads as NaN.
    """
    with open(path, newline="") as handle:
        rows = list({row["epoch"]: row for row in csv.DictReader(handle)}.values())
    return {key: [_number(row[key]) for row in rows] for key in (rows[0] if rows else [])}


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _loss_figure(log: dict[str, list[float]], ylabel: str, chance_loss: float | None = None):
    """A figure whose left axis shows the training and validation loss; returns it and its right axis."""
    epochs = [int(e) + 1 for e in log.get("epoch", [])]
    figure, (loss_axis, right_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in log:
            loss_axis.plot(epochs, log[key], style, label=key)
    if chance_loss is not None:
        loss_axis.axhline(chance_loss, color="grey", lw=0.8, label="chance log(1+N)")
    loss_axis.set(xlabel="epoch", ylabel=ylabel, title="loss")
    loss_axis.legend()
    return figure, right_axis, epochs


def plot_pretraining(log_path: str | Path, out_path: str | Path, chance_loss: float | None = None) -> None:
    """Loss and per-step accuracy curves (training and validation) of a CPC run, as a PNG."""
    log = read_log(log_path)
    figure, acc_axis, epochs = _loss_figure(log, "InfoNCE loss", chance_loss)
    steps = sorted(int(k.split("_")[-1]) for k in log if k.startswith("acc_"))
    colours = plt.cm.viridis([i / max(len(steps) - 1, 1) for i in range(len(steps))])
    for step, colour in zip(steps, colours):
        acc_axis.plot(epochs, log[f"acc_{step:02d}"], color=colour, label=f"step {step}")
        if f"val_acc_{step:02d}" in log:
            acc_axis.plot(epochs, log[f"val_acc_{step:02d}"], "--", color=colour)
    acc_axis.set(xlabel="epoch", ylabel="accuracy", title="prediction accuracy (dashed: validation)")
    if steps:
        acc_axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(out_path, dpi=100)
    plt.close(figure)


def plot_finetuning(log_path: str | Path, out_path: str | Path, names: Sequence[str]) -> None:
    """CCC-loss curves and validation CCC of each dimension of a recognizer run, as a PNG."""
    log = read_log(log_path)
    figure, ccc_axis, epochs = _loss_figure(log, "1 - weighted CCC")
    for name in names:
        for prefix, style in (("", "-"), ("val_", "--")):
            if f"{prefix}ccc_{name}" in log:
                ccc_axis.plot(epochs, log[f"{prefix}ccc_{name}"], style, label=f"{prefix}{name}")
    ccc_axis.set(xlabel="epoch", ylabel="CCC", title="CCC over each set (dashed: validation)")
    ccc_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_path, dpi=100)
    plt.close(figure)


def plot_scatter(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], scores: Sequence[float],
                 out_path: str | Path, title: str = "") -> None:
    """Predicted against true value of each dimension, with its CCC, as a PNG."""
    figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2))
    for axis, column, name, score in zip(np.atleast_1d(axes), range(len(names)), names, scores):
        axis.scatter(y_true[:, column], y_pred[:, column], s=6, alpha=0.4)
        low = min(y_true[:, column].min(), y_pred[:, column].min())
        high = max(y_true[:, column].max(), y_pred[:, column].max())
        axis.plot([low, high], [low, high], color="grey", lw=0.8)
        axis.set(xlabel=f"true {name}", ylabel=f"predicted {name}", title=f"{name}: CCC {score:.3f}")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out_path, dpi=100)
    plt.close(figure)


def plot_runs(results: Sequence[dict], names: Sequence[str], out_path: str | Path, title: str = "") -> None:
    """Test CCC of every run (a dot, coloured by fold) and each system's mean over them (a line),
    per dimension, as a PNG. `results` are dicts with `system`, `fold` and `ccc_<name>`."""
    systems = list(dict.fromkeys(r["system"] for r in results))
    folds = sorted({r["fold"] for r in results})
    colours = dict(zip(folds, plt.cm.tab10(np.arange(len(folds)) % 10)))
    figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), sharey=True)
    for axis, name in zip(np.atleast_1d(axes), names):
        for x, system in enumerate(systems):
            rows = [r for r in results if r["system"] == system]
            axis.hlines(np.mean([r[f"ccc_{name}"] for r in rows]), x - 0.35, x + 0.35, color="black")
            for r in rows:
                offset = 0.12 * (folds.index(r["fold"]) - (len(folds) - 1) / 2)
                axis.scatter(x + offset, r[f"ccc_{name}"], color=colours[r["fold"]], s=20)
        axis.set_xticks(range(len(systems)), systems)
        axis.set(title=name, ylabel="test CCC")
        axis.grid(axis="y", alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", ls="", color=colours[f]) for f in folds]
    figure.legend(handles, [f"fold {f}" for f in folds], loc="lower center", ncol=len(folds))
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(out_path, dpi=100)
    plt.close(figure)


def plot_conditions(scores: dict[str, dict[str, dict[str, float]]], names: Sequence[str], out_path: str | Path,
                    title: str = "") -> None:
    """CCC of each system (a bar each) under each condition, one panel per dimension, as a PNG.
    `scores` is `{condition: {system: {name: CCC}}}`."""
    conditions = list(scores)
    systems = list(dict.fromkeys(system for row in scores.values() for system in row))
    width = 0.8 / len(systems)
    figure, axes = plt.subplots(len(names), 1, figsize=(max(8.0, 0.6 * len(conditions) * len(systems)),
                                                         2.8 * len(names)), sharex=True)
    for axis, name in zip(np.atleast_1d(axes), names):
        for i, system in enumerate(systems):
            values = [scores[c].get(system, {}).get(name, np.nan) for c in conditions]
            axis.bar(np.arange(len(conditions)) + (i - (len(systems) - 1) / 2) * width, values, width,
                     label=system)
        axis.set(ylabel=f"CCC {name}")
        axis.grid(axis="y", alpha=0.3)
    axis.set_xticks(range(len(conditions)), conditions, rotation=45, ha="right")
    np.atleast_1d(axes)[0].legend(fontsize="small", ncol=min(len(systems), 3))
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out_path, dpi=100)
    plt.close(figure)
