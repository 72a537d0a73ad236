"""Emotion-labelled utterances shared by the emotion corpora, label scaling and cross-validation folds.

Every corpus reader returns `EmotionUtterance`s with activation, valence and dominance on one
scale, [-1, 1] with 0 at the middle of the corpus's own rating scale, so corpora can be mixed and
compared. The map is linear (IEMOCAP 1..5: (x - 3) / 2; MSP-Podcast 1..7: (x - 4) / 3), so a
concordance correlation computed on it equals the one on the corpus's own scale (predictions
mapped back the same way); only a rating outside its scale is changed beyond that: clipped, with
a warning naming the file and line.
RAVDESS has categories only; `keras_cpc.datasets.ravdess.EMOTIONS` maps them onto the same space.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_cpc.audio import AUDIO_EXTENSIONS, audio_files_under

DIMENSIONS = ("activation", "valence", "dominance")  # the order of every label and prediction
NEUTRAL = frozenset({"neutral", "neu", "N"})  # the neutral category of RAVDESS, IEMOCAP and MSP-Podcast
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmotionUtterance:
    """One audio file, its speaker and its emotion; activation, valence and dominance in [-1, 1].

    `emotion` is the corpus's categorical label as the corpus writes it (IEMOCAP "neu",
    MSP-Podcast "N", RAVDESS "neutral"). `split` is the corpus's official partition (MSP-Podcast
    "train", "development", "test1", "test2"), `session` its recording session (IEMOCAP 1..5) and
    `sentence` the fixed sentence read (RAVDESS statement 1 or 2); each is None for a corpus
    without one.
    """

    path: str
    speaker: str
    activation: float
    valence: float
    dominance: float
    emotion: str
    split: str | None = None
    session: int | None = None
    sentence: int | None = None


Fold = tuple[list[EmotionUtterance], list[EmotionUtterance]]
"""The training and the test utterances of one cross-validation fold."""


def calibration_indices(utterances: Sequence[EmotionUtterance], calibration: str) -> list[int]:
    """Positions of the utterances of one speaker that calibrate their feature statistics: all of them, or with
    `calibration` "neutral" their neutral ones (all when they have none)."""
    everything = list(range(len(utterances)))
    if calibration != "neutral":
        return everything
    return [i for i in everything if utterances[i].emotion in NEUTRAL] or everything


def named_clips(root: str | Path, corpus: str, pattern: re.Pattern, scheme: str) -> list[tuple[Path, re.Match]]:
    """Every audio file under `root` of a corpus whose file names say what each clip is, with its name's match of
    `pattern` (`scheme` describes it). Raises FileNotFoundError for a missing folder or one without audio, and
    ValueError naming the file for a name that does not match or a clip found twice (two copies under `root`)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: {corpus} folder not found")
    files = audio_files_under(root)
    if not files:
        raise FileNotFoundError(f"{root}: no {'/'.join(AUDIO_EXTENSIONS)} files")
    seen: dict[str, Path] = {}
    clips = []
    for file in files:
        if (first := seen.setdefault(file.stem, file)) != file:
            raise ValueError(f"{file}: the same {corpus} clip as {first} (two copies of the corpus under {root}?)")
        if not (match := pattern.fullmatch(file.stem)):
            raise ValueError(f"{file}: not named as {corpus} names a clip ({scheme})")
        clips.append((file, match))
    return clips


def labels(utterances: Sequence[EmotionUtterance]) -> np.ndarray:
    """`(n, 3)` float32 targets in the order of `DIMENSIONS`: activation, valence, dominance."""
    return np.array([[u.activation, u.valence, u.dominance] for u in utterances], np.float32)


def read_label_text(file: Path, encoding: str = "utf-8") -> str:
    """The text of a label file; bytes that do not decode are an error naming the file and line."""
    data = file.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(f"{file}:{line}: not {encoding} text ({error.reason}, byte {error.start})") from None


def scaled_rating(text: str, low: float, high: float, where: str = "label") -> float:
    """A rating written as `text` on the `low`..`high` scale, mapped linearly onto [-1, 1].

    The middle of the scale goes to 0. Raises ValueError for text that is not a finite number;
    a value outside the scale (a stray annotation) is clipped to the nearer end, with a warning
    naming `where` (the file and line).
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"rating {text!r} is not a finite number")
    if not low <= value <= high:
        logger.warning("%s: rating %s is outside the scale %g..%g; clipped", where, text, low, high)
    return min(1.0, max(-1.0, (2 * value - low - high) / (high - low)))


def leave_one_group_out(
    utterances: Sequence[EmotionUtterance], group: Callable[[EmotionUtterance], Hashable]
) -> list[Fold]:
    """One fold per value of `group` (in sorted order), testing the utterances of that value.

    Every utterance is tested in exactly one fold; input order is kept within each list.
    """
    groups = sorted({group(u) for u in utterances})
    if len(groups) < 2:
        raise ValueError(f"{len(groups)} group(s) of utterances; folds need at least 2")
    return [
        ([u for u in utterances if group(u) != held_out], [u for u in utterances if group(u) == held_out])
        for held_out in groups
    ]


def folds_by_speaker(utterances: Sequence[EmotionUtterance], num_folds: int, seed: int = 0) -> list[Fold]:
    """`num_folds` speaker-independent folds: no speaker is in both the training and test set of any.

    Speakers, in an order drawn from a seeded hash of their names, each join the fold with the
    fewest utterances so far (ties: fewest speakers, then lowest index). The folds are therefore
    deterministic for a seed and differ in size by at most one speaker's utterances; with equal
    speakers (RAVDESS: 24 actors of 60 clips) every fold has as many (4 folds: 6 actors each).
    """
    if num_folds < 2:
        raise ValueError(f"num_folds is {num_folds}; cross-validation needs at least 2 folds")
    counts: dict[str, int] = {}
    for u in utterances:
        counts[u.speaker] = counts.get(u.speaker, 0) + 1
    if len(counts) < num_folds:
        raise ValueError(f"{len(counts)} speakers cannot fill {num_folds} speaker-independent folds")

    def rank(speaker: str) -> bytes:
        return hashlib.sha256(f"{seed}:{speaker}".encode()).digest()

    sizes, speakers, fold_of = [0] * num_folds, [0] * num_folds, {}
    for speaker in sorted(counts, key=rank):
        fold = min(range(num_folds), key=lambda i: (sizes[i], speakers[i], i))
        fold_of[speaker] = fold
        sizes[fold] += counts[speaker]
        speakers[fold] += 1
    return leave_one_group_out(utterances, lambda u: fold_of[u.speaker])
