"""Per-sentence CCC of an ensemble from its members' finetuning records (session 29):

    PYTHONPATH=. python docs/robustness/sentence_ensemble.py RUN_DIR...

Each RUN_DIR is a `training.finetune` output on RAVDESS (or its copy here, `.../run`) whose `predictions.csv` holds
the same test clips. A clip's ensemble prediction is the mean of the runs' (what `RecognizerEnsemble` predicts when
each speaker is mapped with the statistics of all their clips, as finetuning maps the test set); printed as JSON, CCC
per dimension over each sentence's clips (`keras_cpc.datasets.protocol.scores_by_sentence`), beside the members'.
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

from keras_cpc.datasets.protocol import read_corpus, scores_by_sentence
from keras_cpc.metrics.ccc import DIMENSIONS

COLUMNS = [f"predicted_{d}" for d in DIMENSIONS]


def predictions(run: Path) -> tuple[list[str], np.ndarray]:
    """The clips of a run's `predictions.csv` and its (activation, valence, dominance) for each."""
    with open(run / "predictions.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    return [row["path"] for row in rows], np.array([[float(row[c]) for c in COLUMNS] for row in rows])


def members_by_sentence(runs: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """The ensemble's CCC per sentence (under "ensemble") and each run's (under its folder). Raises `ValueError` when
    the runs' predictions hold other clips or another order."""
    read = [predictions(Path(run)) for run in runs]
    paths = read[0][0]
    if any(other != paths for other, _ in read[1:]):
        raise ValueError("the runs' predictions.csv hold other clips or another order")
    by_path = {u.path: u for u in read_corpus("ravdess", str(Path(paths[0]).parents[1]))}
    test = [by_path[path] for path in paths]
    return {"ensemble": scores_by_sentence(test, np.mean([values for _, values in read], axis=0)),
            **{run: scores_by_sentence(test, values) for run, (_, values) in zip(runs, read)}}


def ensemble_by_sentence(runs: list[str]) -> dict[str, dict[str, float]]:
    """The ensemble's CCC per dimension over each sentence's clips."""
    return members_by_sentence(runs)["ensemble"]


def main(runs: list[str]) -> None:
    """Prints the ensemble's and each run's CCC per sentence."""
    print(json.dumps(members_by_sentence(runs), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
