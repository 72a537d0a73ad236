"""Finding utterances on disk: LibriSpeech layout, any folder of audio, speaker splits."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from keras_cpc.audio import AUDIO_EXTENSIONS, audio_files_under
from keras_cpc.datasets.emotion import read_label_text


@dataclass(frozen=True)
class Utterance:
    """One audio file and the speaker who says it."""

    path: str
    speaker: str


_LIBRISPEECH_NAME = re.compile(r"(\d+)-\d+-\d+")


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: {what} folder not found")


def librispeech(root: str | Path, subsets: Sequence[str] | None = None) -> list[Utterance]:
    """Utterances of a LibriSpeech tree, `<root>/LibriSpeech/<subset>/<spk>/<chapter>/*.flac`.

    `root` may be the folder holding `LibriSpeech/` or `LibriSpeech/` itself; `subsets`
    (e.g. `["train-clean-100", "train-clean-360"]`) defaults to every subset present.
    """
    root = Path(root)
    corpus = root if root.name == "LibriSpeech" else root / "LibriSpeech"
    _require_dir(corpus, "LibriSpeech")
    names = sorted(p.name for p in corpus.iterdir() if p.is_dir()) if subsets is None else subsets
    if not names:
        raise FileNotFoundError(f"{corpus}: no subsets to read")
    utterances = []
    for name in names:
        subset = corpus / name
        _require_dir(subset, "LibriSpeech subset")
        files = sorted(subset.glob("*/*/*.flac"))
        if not files:
            raise FileNotFoundError(f"{subset}: no <speaker>/<chapter>/*.flac files")
        utterances += [Utterance(str(f), f.parent.parent.name) for f in files]
    return utterances


def audio_folder(root: str | Path) -> list[Utterance]:
    """Every audio file under `root` (`keras_cpc.audio.audio_files_under`); the speaker is the first
    sub-folder (or the file)."""
    root = Path(root)
    _require_dir(root, "audio")
    files = audio_files_under(root)
    if not files:
        raise FileNotFoundError(f"{root}: no {'/'.join(AUDIO_EXTENSIONS)} files")
    return [Utterance(str(f), _speaker_of(f.relative_to(root))) for f in files]


def _speaker_of(relative: Path) -> str:
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def file_list(path: str | Path) -> list[Utterance]:
    """Utterances named in a text file, one per line: an audio path, optionally followed by a tab
    and its speaker (without one: the speaker of a LibriSpeech file name, `<speaker>-<chapter>-<n>`,
    else the name of the file's folder). Relative paths are taken from the working directory, as
    `training.finetune` writes miniCPC's list."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file list not found")
    entries = [line.strip().partition("\t") for line in read_label_text(path).splitlines() if line.strip()]
    if not entries:
        raise FileNotFoundError(f"{path}: file list names no audio files")
    return [Utterance(str(Path(file)), speaker.strip() or _listed_speaker(Path(file))) for file, _, speaker in entries]


def _listed_speaker(path: Path) -> str:
    """A LibriSpeech file's speaker (its folder is the chapter: one speaker has several), else the folder."""
    librispeech = _LIBRISPEECH_NAME.fullmatch(path.stem)
    return librispeech.group(1) if librispeech else path.parent.name


def find_utterances(roots: Iterable[str | Path]) -> list[Utterance]:
    """Utterances of several roots: a LibriSpeech tree, a `.txt` file list, or a folder of audio."""
    utterances = []
    for root in map(Path, roots):
        if root.suffix == ".txt":
            utterances += file_list(root)
        elif root.name == "LibriSpeech" or (root / "LibriSpeech").is_dir():
            utterances += librispeech(root)
        else:
            utterances += audio_folder(root)
    return utterances


def _speaker_rank(speaker: str, seed: int) -> float:
    """A seeded hash of a speaker's name, uniform in [0, 1)."""
    digest = hashlib.sha256(f"{seed}:{speaker}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _split(utterances: Sequence[Utterance], held_out: set[str],
           group: Callable[[Utterance], str] = attrgetter("speaker")) -> tuple[list[Utterance], list[Utterance]]:
    train = [u for u in utterances if group(u) not in held_out]
    validation = [u for u in utterances if group(u) in held_out]
    return train, validation


def split_by_speaker(
    utterances: Sequence[Utterance], validation_fraction: float = 0.05, seed: int = 0
) -> tuple[list[Utterance], list[Utterance]]:
    """Training and validation utterances with no speaker in both, for large corpora.

    A speaker goes to validation when a seeded hash of its name falls below the fraction, so
    the split is stable as the corpus grows; when there are two speakers or more, at least one
    is held out and at least one is kept for training.
    """
    rank = {s: _speaker_rank(s, seed) for s in {u.speaker for u in utterances}}
    speakers = sorted(rank, key=rank.get)
    if validation_fraction <= 0 or len(speakers) < 2:
        return _split(utterances, set())
    held_out = {s for s in speakers if rank[s] < validation_fraction} | {speakers[0]}
    return _split(utterances, held_out - {speakers[-1]})


def hold_out_speakers(
    utterances: Sequence[Utterance], validation_fraction: float, seed: int = 0,
    group: Callable[[Utterance], str] = attrgetter("speaker"),
) -> tuple[list[Utterance], list[Utterance]]:
    """Training and validation utterances with exactly `round(fraction * groups)` validation
    groups (at least one when there are two), drawn by seeded hash, for corpora of few speakers.

    A group is a speaker by default; IEMOCAP holds out whole sessions, whose two speakers share
    dialogs (and each other's voice in the background). `split_by_speaker`'s count is binomial:
    on RAVDESS's 18 training actors it held out 1 to 8.
    """
    groups = sorted({group(u) for u in utterances})
    count = round(validation_fraction * len(groups))
    if validation_fraction > 0 and len(groups) > 1:
        count = min(max(count, 1), len(groups) - 1)
    return _split(utterances, set(sorted(groups, key=lambda g: _speaker_rank(g, seed))[:count]), group)
