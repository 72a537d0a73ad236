"""A shipped model against issue 24's bars, from its records (for the model card and docs/results.md):

    PYTHONPATH=.:docs/robustness python docs/robustness/bars.py [MODEL_FOLDER [SENTENCE_RUNS_PREFIX]]

Reads MODEL_FOLDER's `heldout.json` and `robustness/results.json`, its read speech from
`robustness/read-speech/results.json` where that exists, as `summary.py` reads it (default `assets/models/emotion`,
whose int8 export the app runs), and, for cross-sentence, the finetuning records of its recipe's runs 0-2 trained on
one RAVDESS sentence (`PREFIX[-run1|-run2]-train-sentence{1,2}/run`, session 29), ensembled as `sentence_ensemble.py`
does (it reads the RAVDESS folder that their predictions name). Prints a Markdown table: each bar, what the records
measure, and whether it is met.
"""

import json
import sys
from pathlib import Path

from sentence_ensemble import ensemble_by_sentence
from summary import DIMENSIONS, read_record, short

SHIPPED = "assets/models/emotion"
SENTENCE_RUNS = "docs/robustness/speech-average0.995-reference-frames8-mfccs20-pitch-gain10"
HELDOUT = {"activation": 0.66, "valence": 0.42}  # int8 CCC on the held-out actors
LEVELS, LEVEL_TOLERANCE = ("level-20", "level+10", "peak"), 0.02  # of the unchanged clips, every dimension
HARSH, HARSH_DROP = ("white-10db", "pink-10db", "babble-10db", "rt60-0.8"), 0.10  # activation and valence
SENTENCE_TOLERANCE = 0.05  # of the same-sentence CCC, every dimension
READ_SPEECH_MEANS = {"activation": 0.3, "valence": 0.25}  # the per-file means' mean, absolute


def triple(values: dict[str, float], dimensions=DIMENSIONS, signed: bool = False) -> str:
    return " / ".join(f"{values[d]:+.3f}" if signed else short(values[d]) for d in dimensions)


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def bars(model: Path, sentence_runs: str) -> list[tuple[str, str, bool]]:
    """(bar, measured, met) for each of the issue's bars that the records measure."""
    record = read_record(str(model / "robustness"))
    int8 = next(m for m in record["models"] if m.endswith("int8"))  # the same name in heldout.json
    heldout = json.loads((model / "heldout.json").read_text())["ccc"][int8]
    conditions = {name: scores[int8] for name, scores in record["conditions"].items()}
    clean = conditions["clean"]
    rows = [(f"held-out int8 CCC: activation ≥ {HELDOUT['activation']}, valence ≥ {HELDOUT['valence']}",
             triple(heldout, HELDOUT), all(heldout[d] >= low for d, low in HELDOUT.items()))]
    for name in LEVELS:
        change = {d: conditions[name][d] - clean[d] for d in DIMENSIONS}
        rows.append((f"{name}: within {LEVEL_TOLERANCE} of clean, every dimension", triple(change, signed=True),
                     all(abs(c) <= LEVEL_TOLERANCE for c in change.values())))
    for name in HARSH:
        change = {d: conditions[name][d] - clean[d] for d in DIMENSIONS[:2]}
        rows.append((f"{name}: activation and valence drop ≤ {HARSH_DROP}", triple(change, DIMENSIONS[:2], True),
                     all(c >= -HARSH_DROP for c in change.values())))
    runs = {train: [f"{sentence_runs}{run}-train-sentence{train}/run" for run in ("", "-run1", "-run2")]
            for train in ("1", "2")}
    by_sentence = {train: ensemble_by_sentence(dirs) for train, dirs in runs.items()}
    for test, other in (("1", "2"), ("2", "1")):
        change = {d: by_sentence[other][test][d] - by_sentence[test][test][d] for d in DIMENSIONS}
        rows.append((f"cross-sentence, tested on sentence {test}: within {SENTENCE_TOLERANCE} of trained on it "
                     "(ensemble of runs 0-2, Keras)", triple(change, signed=True),
                     all(abs(c) <= SENTENCE_TOLERANCE for c in change.values())))
    read = record["read_speech"][int8]
    rows.append(("read speech: every estimate, every hop, inside [-1, 1]", f"{read['hops_inside']:.1%} of "
                 f"{read['hops']} hops, {read['files_inside']:.1%} of {read['files']} files", read["hops_inside"] == 1))
    rows.append(("read speech: each file's mean estimate, averaged over the files, within ±0.3 (activation) and ±0.25 "
                 "(valence)", triple(read["mean"], READ_SPEECH_MEANS, True),
                 all(abs(read["mean"][d]) <= high for d, high in READ_SPEECH_MEANS.items())))
    if "largest" in read:  # recorded since session 44
        rows.append(("read speech: every file's mean estimate within ±0.3 (activation) and ±0.25 (valence)",
                     "the largest " + triple(read["largest"], READ_SPEECH_MEANS),
                     all(read["largest"][d] <= high for d, high in READ_SPEECH_MEANS.items())))
    below = [f"{name} {d}" for name, scores in record["conditions"].items() for d in DIMENSIONS
             if scores[int8][d] <= scores["MFCC + ridge floor"][d]]
    rows.append(("every condition above the MFCC + ridge floor, every dimension",
                 f"below or at it: {', '.join(below)}" if below else f"all {len(conditions)} conditions above",
                 not below))
    return rows


def main(model: str = SHIPPED, sentence_runs: str = SENTENCE_RUNS) -> None:
    print("| bar | measured (activation / valence / dominance) | |\n|---|---|---|")
    for bar, measured, met in bars(Path(model), sentence_runs):
        print(f"| {bar} | {measured} | {verdict(met)} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
