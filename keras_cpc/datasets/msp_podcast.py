"""MSP-Podcast (Lotfian & Busso 2019): podcast segments with consensus activation, valence, dominance."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from keras_cpc.datasets.emotion import EmotionUtterance, read_label_text, scaled_rating

SCALE = (1.0, 7.0)  # MSP-Podcast's 7-point ratings; mapped to [-1, 1] as (x - 4) / 3
SPLITS = ("train", "development", "test1", "test2")  # `Split_Set` Train / Development / Test1 / Test2
_RATINGS = ("EmoAct", "EmoVal", "EmoDom")  # activation, valence, dominance
_COLUMNS = ("FileName", "EmoClass", *_RATINGS, "SpkrID", "Split_Set")
_PODCAST = re.compile(r"MSP-PODCAST_(\d+)_")
# Releases 1.6-1.8 spell the file "labels_concensus.csv"; later ones "labels_consensus.csv".
LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv")


def msp_podcast(root: str | Path) -> list[EmotionUtterance]:
    """Every row of `<root>/Labels/labels_consensus.csv` (or the older releases' `labels_concensus.csv`),
    its audio in `<root>/Audios/<FileName>`.

    The speaker is `SpkrID` as written; where the corpus writes "Unknown" it is "Unknown:<podcast>",
    one speaker per podcast of the file name (`MSP-PODCAST_0153_0021.wav`: "Unknown:0153").
    `emotion` is `EmoClass` and `split` is `Split_Set` in lower case ("train", "development",
    "test1", "test2"). Raises ValueError naming the file and line for text that is not UTF-8 or
    not CSV, a missing column, an empty cell or a rating that is not a number, and
    FileNotFoundError for a missing file.
    """
    root = Path(root)
    audios, candidates = root / "Audios", [root / "Labels" / name for name in LABEL_FILES]
    labels = next((path for path in candidates if path.is_file()), None)
    if labels is None:
        raise FileNotFoundError(f"{candidates[0]}: MSP-Podcast consensus labels not found (nor {LABEL_FILES[1]})")
    utterances = []
    reader = csv.DictReader(io.StringIO(read_label_text(labels, "utf-8-sig"), newline=""))
    try:
        reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
        missing = [c for c in _COLUMNS if c not in reader.fieldnames]
        if missing:
            raise ValueError(f"{labels}:1: missing column(s) {', '.join(missing)}")
        for row in reader:
            where = f"{labels}:{reader.line_num}"
            empty = [c for c in _COLUMNS if not (row[c] or "").strip()]
            if empty:
                raise ValueError(f"{where}: empty {', '.join(empty)}")
            try:
                activation, valence, dominance = (scaled_rating(row[c], *SCALE, where) for c in _RATINGS)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            audio = audios / row["FileName"].strip()
            if not audio.is_file():
                raise FileNotFoundError(f"{audio}: audio of {where} not found")
            utterances.append(
                EmotionUtterance(
                    str(audio), _speaker(row["SpkrID"].strip(), audio.name), activation, valence, dominance,
                    row["EmoClass"].strip(), split=row["Split_Set"].strip().lower(),
                )
            )
    except csv.Error as error:
        raise ValueError(f"{labels}:{reader.line_num}: not CSV ({error})") from None
    return utterances


def _speaker(speaker_id: str, file_name: str) -> str:
    """`SpkrID`, or for "Unknown" one speaker per podcast (`MSP-PODCAST_<podcast>_<segment>.wav`):
    segments of unknown speakers are not all one person, nor each a different one."""
    if speaker_id.lower() != "unknown":
        return speaker_id
    podcast = _PODCAST.match(file_name)
    return f"Unknown:{podcast[1] if podcast else Path(file_name).stem}"


def msp_podcast_split(utterances: Sequence[EmotionUtterance]) -> dict[str, list[EmotionUtterance]]:
    """The official partition: "train", "development", "test1", "test2" (each present, maybe empty).

    A split of a later release (e.g. "test3") gets its own key after these.
    """
    splits: dict[str, list[EmotionUtterance]] = {name: [] for name in SPLITS}
    for u in utterances:
        if u.split is None:
            raise ValueError(f"{u.path}: no MSP-Podcast split; use `msp_podcast()`'s utterances")
        splits.setdefault(u.split, []).append(u)
    return splits
