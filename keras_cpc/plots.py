"""Plots of training runs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

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


def plot_pretraining(log_path: str | Path, out_path: str | Path, chance_loss: float | None = None) -> None:
    """Loss and per-step accuracy curves (training and validation) of a CPC run, as a PNG."""
    log = read_log(log_path)
    epochs = [int(e) + 1 for e in log.get("epoch", [])]
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in log:
            loss_axis.plot(epochs, log[key], style, label=key)
    if chance_loss is not None:
        loss_axis.axhline(chance_loss, color="grey", lw=0.8, label="chance log(1+N)")
    loss_axis.set(xlabel="epoch", ylabel="InfoNCE loss", title="loss")
    loss_axis.legend()
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
