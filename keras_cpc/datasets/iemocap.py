"""IEMOCAP (Busso et al. 2008): utterances with their evaluators' mean activation, valence, dominance."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from keras_cpc.datasets.emotion import (
    EmotionUtterance,
    Fold,
    leave_one_group_out,
    read_label_text,
    scaled_rating,
)

SCALE = (1.0, 5.0)  # IEMOCAP's self-assessment-manikin ratings; mapped to [-1, 1] as (x - 3) / 2

# `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`: the last
# bracket holds VALENCE, ACTIVATION, DOMINANCE in that order (the files' own header says [V, A, D]).
_SUMMARY = re.compile(
    r"\[\s*\S+\s+-\s+\S+\s*\]\s+(?P<turn>\S+)\s+(?P<emotion>\S+)\s+"
    r"\[\s*(?P<valence>\S+),\s*(?P<activation>\S+),\s*(?P<dominance>\S+)\s*\]\s*"
)
# The speaker is the session and the gender of the turn: Ses01F_impro01_M000 -> Ses01M.
_TURN = re.compile(r"(Ses\d\d)[FM]_\S+_([FM])[0-9A-Z]+")
_SESSION = re.compile(r"Session(\d+)")


def iemocap(root: str | Path) -> list[EmotionUtterance]:
    """Every utterance of `Session<N>/dialog/EmoEvaluation/<dialog>.txt` that has a summary line.

    `root` is `IEMOCAP_full_release/` (under any name: the folder holding `Session<N>/`) or the folder
    holding `IEMOCAP_full_release/`; the audio of each utterance is
    `Session<N>/sentences/wav/<dialog>/<utterance>.wav`. Only lines starting with `[` are read
    (headers, evaluator lines such as `C-E1:` and blank lines are not); every utterance is kept,
    whatever its category (including "xxx": no agreed category). The speaker is e.g. "Ses01F" and
    `session` the session number. Raises ValueError naming the file and line for a summary line
    that does not parse or names a turn of another session, and for a dialog file without summary
    lines, and FileNotFoundError for a missing folder or a labelled utterance
    without its wav file.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: IEMOCAP folder not found")
    corpus = root / "IEMOCAP_full_release" if (root / "IEMOCAP_full_release").is_dir() else root
    sessions = sorted(
        (int(match[1]), path) for path in corpus.iterdir() if (match := _SESSION.fullmatch(path.name))
    )
    if not sessions:
        raise FileNotFoundError(f"{corpus}: no Session<N> folders (nor an IEMOCAP_full_release folder holding them)")
    utterances = []
    for number, session in sessions:
        evaluations = session / "dialog" / "EmoEvaluation"
        if not evaluations.is_dir():
            raise FileNotFoundError(f"{evaluations}: EmoEvaluation folder not found")
        # Names starting with "." are macOS resource forks ("._Ses01F_impro01.txt") some copies carry.
        files = sorted(f for f in evaluations.glob("*.txt") if not f.name.startswith("."))
        if not files:
            raise FileNotFoundError(f"{evaluations}: no <dialog>.txt evaluation files")
        for file in files:
            wavs = session / "sentences" / "wav" / file.stem
            utterances += _read_evaluation(file, wavs, number)
    return utterances


def _read_evaluation(file: Path, wavs: Path, session: int) -> list[EmotionUtterance]:
    utterances = []
    for number, line in enumerate(read_label_text(file).splitlines(), start=1):
        if not line.startswith("["):
            continue
        summary = _SUMMARY.fullmatch(line)
        turn = summary and _TURN.fullmatch(summary["turn"])
        try:
            if not (summary and turn):
                raise ValueError("expected `[START - END]<TAB>Ses..._F000<TAB>emotion<TAB>[V, A, D]`")
            valence, activation, dominance = (
                scaled_rating(summary[key], *SCALE, where=f"{file}:{number}")
                for key in ("valence", "activation", "dominance")
            )
        except ValueError as error:
            raise ValueError(f"{file}:{number}: cannot parse summary line {line!r} ({error})") from None
        name = summary["turn"]
        if turn[1] != f"Ses{session:02d}":  # a turn of another session would put its speaker in two folds
            raise ValueError(f"{file}:{number}: {name} is not a turn of Session{session}")
        wav = wavs / f"{name}.wav"
        if not wav.is_file():
            raise FileNotFoundError(f"{wav}: audio of {name} (labelled in {file}:{number}) not found")
        utterances.append(
            EmotionUtterance(
                str(wav), turn[1] + turn[2], activation, valence, dominance, summary["emotion"],
                session=session,
            )
        )
    if not utterances:
        raise ValueError(f"{file}: no summary lines (`[START - END]<TAB>turn<TAB>emotion<TAB>[V, A, D]`)")
    return utterances


def iemocap_folds(utterances: Sequence[EmotionUtterance]) -> list[Fold]:
    """Leave-one-session-out folds, one per session in order (the first tests Session1).

    Each fold tests both speakers of its session and trains on the other sessions.
    """
    if any(u.session is None for u in utterances):
        raise ValueError("utterances without a session; IEMOCAP folds need `iemocap()`'s utterances")
    return leave_one_group_out(utterances, lambda u: u.session)
