"""Analysis of audio files with the streaming engine: blocks read and resampled as they stream (memory stays
bounded for hours of audio), each speaker's calibration (a folder's files, or those a name pattern groups), and a
file's per-hop predictions."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import CancelledError
from pathlib import Path

import numpy as np
import soundfile
import soxr

from app.engine.calibration import NO_LEVEL, measure_level
from app.engine.streaming import Prediction, StreamingRecognizer
from keras_cpc.speaker_features import Statistics

BLOCK_SECONDS = 10.0


class AnalysisError(ValueError):
    """A file that could not be analysed to its end; `predictions` holds those made before the problem."""

    def __init__(self, message: str, predictions: list[Prediction]):
        super().__init__(message)
        self.predictions = predictions


def read_blocks(path: Path, sample_rate: int) -> Iterator[np.ndarray]:
    """Mono float32 blocks of a file at `sample_rate`, resampled on the fly with soxr. A file that cannot be
    decoded, or holds less audio than its header promises, is a `ValueError` saying why, after the samples
    before its problem (a NaN or Inf one, or the end of those it holds)."""
    try:
        with soundfile.SoundFile(path) as audio:
            resampler = None if audio.samplerate == sample_rate else \
                soxr.ResampleStream(audio.samplerate, sample_rate, 1, dtype="float32")
            read = 0
            for block in audio.blocks(round(BLOCK_SECONDS * audio.samplerate), dtype="float32", always_2d=True):
                mono = block.mean(axis=1)
                if not (finite := np.isfinite(mono)).all():
                    first = int(np.argmin(finite))
                    yield mono[:first] if resampler is None else resampler.resample_chunk(mono[:first], last=True)
                    seconds = (read + first) / audio.samplerate
                    raise ValueError(f"audio contains NaN or Inf samples from {seconds:.2f} s")
                read += len(mono)
                yield mono if resampler is None else resampler.resample_chunk(mono)
            if resampler is not None:
                yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            promised = promised_frames(audio)
    except (soundfile.LibsndfileError, RuntimeError, OSError, TypeError) as error:  # TypeError: headerless .raw
        raise ValueError(f"cannot decode audio ({error})") from None
    if read < promised:
        raise ValueError(f"holds {read / audio.samplerate:.2f} s of the {promised / audio.samplerate:.2f} s "
                         "its header promises")


def promised_frames(audio: soundfile.SoundFile) -> int:
    """The frames an open file's header promises: libsndfile counts those of a WAV cut short as the ones there,
    and logs what its data chunk promised (0 and 0xFFFFFFFF, the size of a stream, promise nothing)."""
    logged = re.search(r"^data\s*:\s*(\d+) \(should be (\d+)\)", audio.extra_info, re.MULTILINE)
    if logged is None or int(logged[1]) in (0, 0xFFFFFFFF) or not int(logged[2]):
        return audio.frames
    return audio.frames * int(logged[1]) // int(logged[2])


def calibrate(recognizer: StreamingRecognizer, path: Path) -> None:
    """Calibrates the recognizer with a recording of the speaker (read as the analysed files are): its speech
    level and, for a model trained so, its contexts' statistics, which `reset` keeps. A `ValueError` names
    the file and why it cannot."""
    if not recognizer.calibratable:
        raise ValueError(f"--calibration {path}: {NO_LEVEL}")
    try:
        audio = np.concatenate([np.zeros(0, np.float32), *read_blocks(path, recognizer.sample_rate)])
        if recognizer.level is not None:
            measure_level(audio, recognizer.level.settings, recognizer.sample_rate)  # NoSpeechError
    except ValueError as error:  # the audio's problem, or no speech in it
        raise ValueError(f"--calibration {path}: {error}") from None
    recognizer.calibrate_speaker(lambda: [[audio]])


def readable_blocks(path: Path, sample_rate: int) -> Iterator[np.ndarray]:
    """`read_blocks` up to a problem of the file, which is left to its analysis to report."""
    try:
        yield from read_blocks(path, sample_rate)
    except ValueError:
        pass


def folder(path: Path) -> Path:
    """A file's speaker when each folder holds one speaker's files: its folder."""
    return path.parent


def speaker_calibrations(recognizer: StreamingRecognizer, files: Sequence[Path],
                         speaker: Callable[[Path], Hashable] = folder, neutral: bool = True
                         ) -> dict[Hashable, tuple[float | None, Statistics | None]]:
    """Each speaker's calibration, by `speaker(file)` (by default a folder's files are one speaker's), as
    `StreamingRecognizer.calibrate_speaker` measures it over their files, streamed: the median of their speech levels
    and, for a model trained so, their contexts' statistics, presumed `neutral` speech on average or not (as training
    presumed an actor); none for a model with nothing to calibrate. Leaves the recognizer uncalibrated."""
    if not recognizer.calibratable:
        return {}
    speakers: dict[Hashable, list[Path]] = {}
    for path in files:
        speakers.setdefault(speaker(path), []).append(path)
    calibrations = {name: recognizer.calibrate_speaker(
        lambda paths=paths: (readable_blocks(p, recognizer.sample_rate) for p in paths), neutral=neutral)
        for name, paths in speakers.items()}
    recognizer.calibrate(None)
    return calibrations


def analyze_file(recognizer: StreamingRecognizer, path: Path, stop: threading.Event | None = None
                 ) -> list[Prediction]:
    """Per-hop predictions over a whole file; raises `AnalysisError` saying the file's problem (with
    the predictions made before it), and `CancelledError` at the next block once `stop` is set."""
    recognizer.reset()
    predictions, samples = [], 0
    try:
        for block in read_blocks(path, recognizer.sample_rate):
            if stop is not None and stop.is_set():
                raise CancelledError(f"analysis of {path} stopped")
            predictions += recognizer.push(block)
            samples += len(block)
        predictions += recognizer.flush()
    except ValueError as error:  # from read_blocks, after the audio before its problem
        raise AnalysisError(str(error), predictions + recognizer.flush()) from None
    except RuntimeError as error:  # from LiteRT
        raise AnalysisError(f"the model failed on it ({error})", predictions) from None
    if not predictions and samples < recognizer.config["receptive_field"]:
        raise AnalysisError(f"shorter than the {recognizer.config['receptive_field']} samples of one frame", [])
    if not predictions:
        raise AnalysisError("no speech heard: the model predicts from speech frames only, and no frame of the file "
                            "stands out from its noise floor", [])
    return predictions
