"""What a gain of its own per training file buys and costs, plotted from out-of-domain records (session 25):

    python docs/robustness/gain_plot.py OUT.png "LABEL=RECORD_FOLDER,RECORD_FOLDER,..." ...

One point per variant (in the order given, e.g. per-file gain 0, 5, 10 dB, then level per utterance), the mean over
its runs of the float export's CCC on clean clips, on peak-normalised clips (the proxy for a corpus whose loud
emotions are not louder) and over the 14 shifted conditions, with each run's value as a dot, per dimension.
"""

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from summary import DIMENSIONS, float_export  # noqa: E402

SERIES = {"clean": lambda c: ["clean"], "peak-normalised": lambda c: ["peak"],
          "mean of 14 shifts": lambda c: [name for name in c if name != "clean"]}


def scores(record: dict, conditions: list[str], dimension: str) -> float:
    model = float_export(record)
    return statistics.mean(record["conditions"][c][model][dimension] for c in conditions)


def main(out: str, variants: list[str]) -> None:
    labels, records = [], []
    for variant in variants:
        label, folders = variant.split("=", 1)
        labels.append(label)
        records.append([json.loads((Path(f) / "results.json").read_text()) for f in folders.split(",")])
    figure, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for axis, dimension in zip(axes, DIMENSIONS):
        for series, pick in SERIES.items():
            runs = [[scores(r, pick(r["conditions"]), dimension) for r in group] for group in records]
            line, = axis.plot(range(len(labels)), [statistics.mean(v) for v in runs], marker="o", label=series)
            for x, values in enumerate(runs):
                axis.scatter([x] * len(values), values, color=line.get_color(), s=10, alpha=0.5)
        axis.set_xticks(range(len(labels)), labels, rotation=15)
        axis.set_title(dimension)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("CCC, held-out actors (float)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
