"""Any labelled corpus, described by a CSV file with one row per audio file (`--corpus csv --data FILE.csv`).

A corpus the project has no reader for (a lab's own recordings, another acted corpus) is scored, or trained on, by
writing its labels as CSV: a header row naming the columns, then one row per file. `path` (relative to the CSV
file's folder, or absolute) and `speaker` are required; each row gives either its `activation`, `valence` and
`dominance` on [-1, 1] (0 neutral; a corpus rated on another scale is mapped linearly first) or leaves them empty
and names in `emotion` one of `CATEGORIES`, RAVDESS's categories, which get the point a strong RAVDESS clip of
the category is labelled with. `emotion` is kept as written (a calibration on neutral clips finds "neutral" in it);
`sentence`, optional, is the number of a fixed sentence read (the cross-sentence protocol).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from keras_cpc.datasets.emotion import DIMENSIONS, EmotionUtterance, read_label_text, scaled_rating
from keras_cpc.datasets.ravdess import CATEGORIES

REQUIRED = ("path", "speaker")


def csv_corpus(file: str | Path) -> list[EmotionUtterance]:
    """The utterances of the CSV file `file` (UTF-8, with or without a byte-order mark), in its rows' order.

    Raises ValueError naming the file and line for text that is not UTF-8 or not CSV, a missing or repeated column,
    a row with more cells than the header (a decimal comma?), an empty `path` or `speaker`, a file listed twice, a
    row whose dimensions are partly given, a rating that is not a number, an emotion that is not one of `CATEGORIES`
    where the dimensions are empty, or a `sentence` that is not a whole number; FileNotFoundError for the CSV file or
    an audio file that does not exist. A rating outside [-1, 1] is clipped, with a warning naming the line.
    """
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: corpus CSV not found")
    reader = csv.DictReader(io.StringIO(read_label_text(file, "utf-8-sig"), newline=""), strict=True)
    utterances, seen = [], {}
    try:
        columns = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = columns
        if repeated := sorted({name for name in columns if columns.count(name) > 1}):
            raise ValueError(f"{file}:1: column(s) {', '.join(repeated)} named more than once")
        missing = [c for c in REQUIRED if c not in columns]
        if not set(DIMENSIONS) <= set(columns) and "emotion" not in columns:
            missing.append(f"{', '.join(DIMENSIONS)} or emotion")
        if missing:
            raise ValueError(f"{file}:1: missing column(s) {', '.join(missing)}")
        for row in reader:
            where = f"{file}:{reader.line_num}"
            if None in row:
                raise ValueError(f"{where}: {len(columns) + len(row[None])} cells under a header of {len(columns)} "
                                 "(a decimal comma, or a comma in an unquoted path?)")
            cells = {name: (value or "").strip() for name, value in row.items()}
            if empty := [c for c in REQUIRED if not cells[c]]:
                raise ValueError(f"{where}: empty {', '.join(empty)}")
            audio = file.parent / cells["path"]
            if (first := seen.setdefault(audio.resolve(), reader.line_num)) != reader.line_num:
                raise ValueError(f"{where}: {cells['path']} is listed twice (first on line {first})")
            if not audio.is_file():
                raise FileNotFoundError(f"{audio}: audio of {where} not found")
            utterances.append(EmotionUtterance(str(audio), cells["speaker"], *_dimensions(cells, where),
                                               cells.get("emotion", ""), sentence=_sentence(cells, where)))
    except csv.Error as error:
        raise ValueError(f"{file}:{reader.line_num}: not CSV ({error})") from None
    if not utterances:
        raise ValueError(f"{file}: no rows under the header")
    return utterances


def _dimensions(cells: dict[str, str], where: str) -> tuple[float, float, float]:
    """A row's (activation, valence, dominance): its ratings, or with none its emotion's point in `CATEGORIES`."""
    given = [d for d in DIMENSIONS if cells.get(d)]
    if given and len(given) < len(DIMENSIONS):
        raise ValueError(f"{where}: {', '.join(d for d in DIMENSIONS if d not in given)} empty, "
                         f"{', '.join(given)} given: give all three dimensions or none (and an emotion)")
    if given:
        try:
            return tuple(scaled_rating(cells[d], -1.0, 1.0, where) for d in DIMENSIONS)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    emotion = cells.get("emotion", "")
    if emotion not in CATEGORIES:
        raise ValueError(f"{where}: no dimensions, and emotion {emotion!r} is not one of {', '.join(CATEGORIES)}")
    return CATEGORIES[emotion]


def _sentence(cells: dict[str, str], where: str) -> int | None:
    """The row's sentence number, if it has one."""
    if not cells.get("sentence"):
        return None
    try:
        return int(cells["sentence"])
    except ValueError:
        raise ValueError(f"{where}: sentence {cells['sentence']!r} is not a whole number") from None
