"""Out-of-domain records side by side: `python -m training.compare NAME=DIR ... --out FILE.md`.

Reads the `results.json` that `training.robustness` wrote in each DIR and writes one Markdown table
of CCC (activation / valence / dominance) per condition and system, the protocol's checks per
system (the largest change under a gain and under peak normalisation, the drop under 10 dB noise
and the 0.8 s room, the conditions where it is not above the MFCC + ridge floor) and the
read-speech statistics. Tables are
rebuilt from the records, never typed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from keras_cpc.floor import FLOOR
from keras_cpc.metrics.ccc import DIMENSIONS
from training import run_cli

GAINS = ("level-20", "level+10")  # one gain for all of a speaker's clips; "peak" gives each clip its own
HARSH = ("white-10db", "pink-10db", "babble-10db", "rt60-0.8")


def triple(scores: dict[str, float]) -> str:
    return " / ".join(f"{scores[d]:.3f}" for d in DIMENSIONS)


def columns(records: dict[str, dict]) -> list[tuple[str, str]]:
    """`(record name, system)` of every system of every record; the floor once (it is the same in all)."""
    found = [(name, system) for name, record in records.items()
             for system in next(iter(record["conditions"].values())) if system != FLOOR]
    return [*found, (next(iter(records)), FLOOR)]


def checks(record: dict, system: str) -> list[str]:
    """The protocol's checks of one system in one record, as table cells."""
    conditions = record["conditions"]
    clean = conditions["clean"][system]
    def change(names):
        return max((abs(conditions[c][system][d] - clean[d]) for c in names if c in conditions for d in DIMENSIONS),
                   default=float("nan"))

    harsh = {c: max(clean[d] - conditions[c][system][d] for d in DIMENSIONS[:2]) for c in HARSH if c in conditions}
    below = [c for c, row in conditions.items() if any(row[system][d] <= row[FLOOR][d] for d in DIMENSIONS)]
    floor = "" if system == FLOOR else ", ".join(below) or "none"
    return [f"{change(GAINS):.3f}", f"{change(['peak']):.3f}", ", ".join(f"{c} {v:+.3f}" for c, v in harsh.items()),
            floor]


def comparison(records: dict[str, dict]) -> str:
    """The Markdown tables of several records."""
    shown = columns(records)
    header = [f"{name}: {system}" if system != FLOOR else FLOOR for name, system in shown]
    lines = ["| condition | " + " | ".join(header) + " |", "|---|" + "---:|" * len(shown)]
    conditions = list(dict.fromkeys(c for record in records.values() for c in record["conditions"]))
    for condition in conditions:
        cells = [triple(records[name]["conditions"][condition][system])
                 if condition in records[name]["conditions"] else "" for name, system in shown]
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    lines += ["", "| model | largest change under a gain (-20, +10 dB) | under peak normalisation | "
              "drop of activation or valence (the larger) | not above the floor on every dimension |",
              "|---|---:|---:|---|---|"]
    for (name, system), title in zip(shown, header):
        lines.append(f"| {title} | " + " | ".join(checks(records[name], system)) + " |")
    read = [(f"{name}: {model}", row) for name, record in records.items()
            for model, row in record.get("read_speech", {}).items()]
    if read:
        lines += ["", "| read speech | hops inside [-1, 1] | files inside | "
                  + " | ".join(f"{d} mean ± std" for d in DIMENSIONS) + " |",
                  "|---|" + "---:|" * (2 + len(DIMENSIONS))]
        for title, row in read:
            lines.append(f"| {title} | {row['hops_inside']:.3f} | {row['files_inside']:.3f} | "
                         + " | ".join(f"{row['mean'][d]:+.2f} ± {row['std'][d]:.2f}" for d in DIMENSIONS) + " |")
    return "\n".join(lines) + "\n"


def compare(args: argparse.Namespace) -> str:
    records = {}
    for item in args.records:
        name, _, folder = item.rpartition("=")
        path = Path(folder) / "results.json"
        try:
            records[name or folder] = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a readable training.robustness record ({error})") from None
    text = comparison(records)
    Path(args.out).write_text(text)
    print(text)
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+", metavar="NAME=DIR", help="folders of training.robustness output")
    parser.add_argument("--out", required=True, help="the Markdown file to write")
    return parser


def main(argv: list[str] | None = None) -> None:
    run_cli(compare, build_parser(), argv)


if __name__ == "__main__":
    main()
