"""Audio decoding: any WAV/FLAC/OGG file to mono float32 at 16 kHz, with clear errors."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16000
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
SILENCE_PEAK = 1e-4  # below -80 dBFS everywhere: treated as silent

logger = logging.getLogger(__name__)


class AudioError(ValueError):
    """A file that cannot be used as speech audio; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, min_samples: int = 1) -> np.ndarray:
    """Reads an audio file as mono float32 in [-1, 1] at `sample_rate`.

    Channels are averaged; other rates are resampled with soxr. Raises `AudioError` for an
    unsupported format, a corrupt or empty file, fewer than `min_samples` samples after
    resampling (e.g. the encoder's receptive field) or NaN/Inf samples. An all-silent file
    is returned with a warning.
    """
    path = Path(path)
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise AudioError(path, f"unsupported format {path.suffix!r}; expected one of {AUDIO_EXTENSIONS}")
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    try:
        audio, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioError(path, f"cannot decode audio ({error})") from None
    if audio.size == 0:
        raise AudioError(path, "file holds no audio samples")
    audio = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if not np.isfinite(audio).all():
        raise AudioError(path, "audio contains NaN or Inf samples")
    if file_rate != sample_rate:
        audio = soxr.resample(audio, file_rate, sample_rate).astype(np.float32, copy=False)
    if audio.shape[0] < min_samples:
        raise AudioError(
            path, f"{audio.shape[0]} samples at {sample_rate} Hz is shorter than the {min_samples} needed"
        )
    if np.abs(audio).max() < SILENCE_PEAK:
        logger.warning("%s: audio is silent (peak below %.0e)", path, SILENCE_PEAK)
    return np.ascontiguousarray(audio)


def audio_files_under(folder: str | os.PathLike) -> list[Path]:
    """The audio files under `folder`, recursively and sorted; hidden names (".", such as macOS's
    "._clip.wav") and `__MACOSX` folders are not audio."""
    folder = Path(folder)
    return sorted(f for f in folder.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file()
                  and not any(p.startswith(".") or p == "__MACOSX" for p in f.relative_to(folder).parts))


def audio_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The files named and the audio files under the folders named (`audio_files_under`), in order.

    Raises `FileNotFoundError` naming a path that does not exist, `ValueError` for an empty name (which `Path` would
    read as the working directory) or when none is audio.
    """
    names = [os.fspath(path) for path in paths]
    if "" in names:
        raise ValueError("an empty name is no file or folder")
    paths = [Path(name) for name in names]
    files = []
    for path in paths:
        if path.is_dir():
            files += audio_files_under(path)
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    if not files:
        raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {', '.join(map(str, paths))}")
    return files
