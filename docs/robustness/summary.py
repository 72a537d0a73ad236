"""Compact tables of out-of-domain records, printed from their `results.json` (for docs/results.md):

    python docs/robustness/summary.py "NAME=RECORD_FOLDER" ...
    python docs/robustness/summary.py --seeds "NAME=RECORD_FOLDER,RECORD_FOLDER,..." ...
    python docs/robustness/summary.py --conditions "NAME=RECORD_FOLDER,RECORD_FOLDER,..." ...

Per record: the float export's CCC on clean speech, under noise, in the 0.8 s room and the telephone
band, its neutral read speech means, and the largest CCC difference between its two exports.
A record's `read-speech/results.json`, when there is one (read speech scored again after a fix), gives its read
speech numbers. With `--seeds`, per variant (records of several runs of it): the mean and spread over its runs of the
float export's clean CCC, of its mean CCC over the 14 shifted conditions, of its worst shifted
condition, and its runs' read-speech valence means. With `--conditions`, every condition's float CCC per variant,
averaged over its runs.
"""

import json
import statistics
import sys
from pathlib import Path

DIMENSIONS = ("activation", "valence", "dominance")


def short(value: float) -> str:
    """A CCC as `.817` or `-.117`."""
    return f"{value:.3f}".replace("0.", ".", 1)


def float_export(record: dict) -> str:
    """The record's float model (exported with `--quantize none`), or its only model."""
    models = record["models"]
    return models[0] if len(models) == 1 else next(m for m in models if m.endswith(("none", "float")))


def row(name: str, record: dict) -> str:
    models = record["models"]
    float_model = float_export(record)
    other = next((m for m in models if m != float_model), float_model)  # a record of the float export alone: 0
    conditions = record["conditions"]

    def act_val(condition: str) -> str:
        return " / ".join(short(conditions[condition][float_model][d]) for d in DIMENSIONS[:2])

    gap = max(abs(c[float_model][d] - c[other][d]) for c in conditions.values() for d in DIMENSIONS)
    means = record["read_speech"][float_model]["mean"]
    cells = [name, " / ".join(short(conditions["clean"][float_model][d]) for d in DIMENSIONS),
             *map(act_val, ("white-20db", "white-10db", "pink-10db", "babble-10db")),
             short(conditions["rt60-0.8"][float_model]["valence"]), short(conditions["telephone"][float_model]["valence"]),
             f"{means['activation']:+.2f} / {means['valence']:+.2f}", short(gap)]
    return "| " + " | ".join(cells) + " |"


def spread(values: list[float]) -> str:
    """Mean ± standard deviation over runs, e.g. `.512 ± .031` (the value alone for one run)."""
    if len(values) == 1:
        return short(values[0])
    return f"{short(statistics.mean(values))} ± {short(statistics.stdev(values))}"


def seeds_row(name: str, records: list[dict]) -> str:
    clean, shifted, worst = ([] for _ in range(3))
    for record in records:
        conditions = {c: scores[float_export(record)] for c, scores in record["conditions"].items()}
        clean.append([conditions["clean"][d] for d in DIMENSIONS])
        shifted.append([statistics.mean(s[d] for c, s in conditions.items() if c != "clean") for d in DIMENSIONS])
        worst.append([min(s[d] for c, s in conditions.items() if c != "clean") for d in DIMENSIONS])
    valence = ", ".join(f"{r['read_speech'][float_export(r)]['mean']['valence']:+.2f}" if "read_speech" in r else "—"
                        for r in records)  # a probe's record may have no read speech
    cells = [name, str(len(records)),
             *(" / ".join(spread([run[i] for run in runs]) for i in range(3)) for runs in (clean, shifted, worst)),
             valence]
    return "| " + " | ".join(cells) + " |"


def condition_table(variants: list[tuple[str, list[dict]]]) -> list[str]:
    """Per condition (rows), each variant's float CCC activation / valence / dominance, averaged over its runs."""
    lines = ["| condition | " + " | ".join(f"{name} act / val / dom" for name, _ in variants) + " |",
             "|---|" + "---|" * len(variants)]
    for condition in variants[0][1][0]["conditions"]:
        cells = [" / ".join(short(statistics.mean(r["conditions"][condition][float_export(r)][d] for r in records))
                            for d in DIMENSIONS) for _, records in variants]
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return lines


def read_record(folder: str) -> dict:
    """A record's `results.json`, its read speech from `read-speech/results.json` if that exists."""
    record = json.loads((Path(folder) / "results.json").read_text())
    again = Path(folder) / "read-speech" / "results.json"
    if again.exists():
        record["read_speech"] |= json.loads(again.read_text())["read_speech"]
    return record


def main(arguments: list[str]) -> None:
    if arguments[:1] == ["--conditions"]:
        variants = [(name, [read_record(f) for f in folders.split(",")])
                    for name, folders in (a.split("=", 1) for a in arguments[1:])]
        print("\n".join(condition_table(variants)))
        return
    if arguments[:1] == ["--seeds"]:
        print("| variant | runs | clean act / val / dom | mean of 14 shifted conditions act / val / dom "
              "| worst shifted condition act / val / dom | read speech valence mean, per run |")
        print("|---|---:|---|---|---|---|")
        for argument in arguments[1:]:
            name, folders = argument.split("=", 1)
            print(seeds_row(name, [read_record(f) for f in folders.split(",")]))
        return
    print("| variant | clean act / val / dom | white 20 dB act / val | white 10 dB act / val | pink 10 dB act / val "
          "| babble 10 dB act / val | RT60 0.8 s val | telephone val | read speech act / val mean "
          "| float vs int8, largest gap |")
    print("|---|---|---|---|---|---|---:|---:|---|---:|")
    for argument in arguments:
        name, folder = argument.split("=", 1)
        print(row(name, read_record(folder)))


if __name__ == "__main__":
    main(sys.argv[1:])
