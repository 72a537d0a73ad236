"""Rewrites the model card's tables from the shipped model's records (never from numbers copied by hand).

    python -m tools.model_card

In `assets/models/README.md`: the Keras, float and int8 rows of the held-out table and the exports' largest
differences per clip (`emotion/heldout.json`), the out-of-domain table of the int8 model against the MFCC floor and the
neutral read-speech line (`emotion/robustness/results.json`). `assets/models/build.sh` runs it last.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EMOTION = REPO / "assets" / "models" / "emotion"
CARD = REPO / "assets" / "models" / "README.md"
MODEL = "assets/models/emotion/int8"
FLOAT = "assets/models/emotion/float"
KERAS = "keras (whole utterance)"
FLOOR = "MFCC + ridge floor"
DIMENSIONS = ("activation", "valence", "dominance")
HEADER = "| condition | int8 | change from clean | MFCC + ridge floor |"


def _scores(scores: dict[str, float], separator: str = " / ", sign: str = "") -> str:
    return separator.join(f"{scores[name]:{sign}.3f}" for name in DIMENSIONS)


def out_of_domain_table(conditions: dict[str, dict[str, dict[str, float]]]) -> str:
    """The int8 model's CCC per condition, its change from clean and the floor's, as a Markdown table."""
    clean = conditions["clean"][MODEL]
    rows = [HEADER, "|---|---|---|---|"]
    for name, scores in conditions.items():
        change = {dimension: scores[MODEL][dimension] - clean[dimension] for dimension in DIMENSIONS}
        rows.append(f"| {name} | {_scores(scores[MODEL])} | {_scores(change, sign='+')} | {_scores(scores[FLOOR])} |")
    return "\n".join(rows)


def read_speech_line(record: dict) -> str:
    """The neutral read-speech sentence of the card."""
    spread = ", ".join(f"{name} {record['mean'][name]:+.2f} ± {record['std'][name]:.2f}" for name in DIMENSIONS)
    silent = record.get("files_without_estimate", 0)
    unheard = f" ({silent} without a frame of speech, so without an estimate, left out)" if silent else ""
    return (f"Neutral read speech ({record['files']} LibriSpeech files, each calibrated with itself{unheard}): "
            f"{100 * record['hops_inside']:.0f}% of hop estimates and {100 * record['files_inside']:.0f}% of files "
            f"inside [-1, 1]; per-file mean ± std: {spread}.")


def rewrite(card: str, heldout: dict, robustness: dict) -> str:
    """`card` with its generated parts replaced; a part it lacks is a `ValueError`."""
    rows = {"Keras `recognizer.keras` (whole utterance)": KERAS, "LiteRT float (`float/`)": FLOAT,
            "LiteRT int8 (`int8/`, the app's default)": MODEL}
    differences = heldout["max_abs_difference_to_keras_window"]
    replacements = [
        *((re.escape(f"| {row} |") + r"[^\n]*", f"| {row} | " + _scores(heldout["ccc"][key], " | ") + " |")
          for row, key in rows.items()),
        (r"Float LiteRT equals Keras to [0-9.e+-]+ on every clip",
         f"Float LiteRT equals Keras to {differences[FLOAT]:.1e} on every clip"),
        (r"int8 differs by at most\n[0-9.]+ on a clip", f"int8 differs by at most\n{differences[MODEL]:.2f} on a clip"),
        (re.escape(HEADER) + r"\n(?:\|[^\n]*\n?)+", out_of_domain_table(robustness["conditions"]) + "\n"),
        (r"Neutral read speech \([0-9]+ LibriSpeech files[^\n]*", read_speech_line(robustness["read_speech"][MODEL])),
    ]
    for pattern, text in replacements:
        card, count = re.subn(pattern, lambda _: text, card)
        if count != 1:
            raise ValueError(f"{CARD}: {count} places match {pattern!r} (expected one)")
    return card


def main() -> None:
    heldout = json.loads((EMOTION / "heldout.json").read_text())
    robustness = json.loads((EMOTION / "robustness" / "results.json").read_text())
    CARD.write_text(rewrite(CARD.read_text(), heldout, robustness))


if __name__ == "__main__":
    main()
