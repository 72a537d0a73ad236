"""Every condition's CCC per variant, averaged over its runs, beside the MFCC floor, as bars (session 26):

    python docs/robustness/conditions_plot.py OUT.png "LABEL=RECORD_FOLDER,RECORD_FOLDER,..." ...

The float export of each record (`summary.float_export`); the floor from the first variant's first record (the
same actors and conditions in every record). Drawn by `keras_cpc.plots.plot_conditions`.
"""

import statistics
import sys

from keras_cpc.plots import plot_conditions
from summary import DIMENSIONS, float_export, read_record

FLOOR = "MFCC + ridge floor"


def main(out: str, variants: list[str]) -> None:
    groups = [(label, [read_record(f) for f in folders.split(",")])
              for label, folders in (variant.split("=", 1) for variant in variants)]
    first = groups[0][1][0]["conditions"]
    scores = {condition: {label: {d: statistics.mean(r["conditions"][condition][float_export(r)][d] for r in records)
                                  for d in DIMENSIONS} for label, records in groups}
              | {FLOOR: first[condition][FLOOR]} for condition in first}
    plot_conditions(scores, DIMENSIONS, out, "RAVDESS fold 0, held-out actors: mean over runs (float)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
