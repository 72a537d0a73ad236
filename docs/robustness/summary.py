"""A compact table of out-of-domain records, printed from their `results.json` (for docs/results.md):

    python docs/robustness/summary.py "NAME=RECORD_FOLDER" ...

Per record: the float export's CCC on clean speech, under noise, in the 0.8 s room and the telephone
band, its neutral read speech means, and the largest CCC difference between its two exports.
"""

import json
import sys
from pathlib import Path

DIMENSIONS = ("activation", "valence", "dominance")


def short(value: float) -> str:
    """A CCC as `.817` or `-.117`."""
    return f"{value:.3f}".replace("0.", ".", 1)


def row(name: str, record: dict) -> str:
    models = record["models"]
    float_model = next(m for m in models if m.endswith(("none", "float")))
    other = next(m for m in models if m != float_model)
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


def main(arguments: list[str]) -> None:
    print("| variant | clean act / val / dom | white 20 dB act / val | white 10 dB act / val | pink 10 dB act / val "
          "| babble 10 dB act / val | RT60 0.8 s val | telephone val | read speech act / val mean "
          "| float vs int8, largest gap |")
    print("|---|---|---|---|---|---|---:|---:|---|---:|")
    for argument in arguments:
        name, folder = argument.split("=", 1)
        print(row(name, json.loads((Path(folder) / "results.json").read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
