"""A speaker's calibration: the speech level and feature statistics of a short recording of them, where a live
session's normalisation starts.

A model's front end (`keras_cpc.loudness.LevelNormalizer`) brings the speech level to its target
from the audio heard so far, and a model that normalises its features per speaker maps them with the running
statistics of the session (`keras_cpc.speaker_features`): without a prior, a stream's first seconds are normalised
from what little it has heard. A calibration measures the speaker's level and statistics once, through the same
input (`CalibrationRecorder` is the stream of a `LiveSession`), and every session starts from them (the statistics
worth the `SECONDS` of speech they were measured on, the level the model's `prior_seconds`) and goes on adapting: to
a changed room, noise or microphone, as the session's own speech comes in (`training.robustness --session`, session
38: over 14 channel shifts better than fixed statistics and than no calibration on every dimension).
"""

from __future__ import annotations

import math

import numpy as np

from app.engine.streaming import Prediction
from keras_cpc.loudness import LevelSettings, speech_level

SECONDS = 15.0
PASSAGE = ("The library opens at nine in the morning and closes at six. Books may be borrowed for three weeks. "
           "The reading room is on the second floor, next to the maps. "
           "Please return your books before the end of the month.")  # neutral, about 15 s read aloud
NO_LEVEL = "this model has no level normalisation to calibrate"


class NoSpeechError(ValueError):
    """A calibration recording without speech; the message says what was measured."""


def measure_level(audio: np.ndarray, settings: LevelSettings, sample_rate: int,
                  floor_dbfs: float = -math.inf) -> float:
    """The speech level (dBFS) of a calibration recording as the level normalisation measures it (on the audio
    as recorded: whether it holds speech at all); `NoSpeechError` when it holds no speech, or only below
    `floor_dbfs`."""
    level = speech_level(audio, settings, sample_rate)
    if level is None:
        raise NoSpeechError(f"holds no speech (nothing above {settings.floor_dbfs:.0f} dBFS)")
    if level < floor_dbfs:
        raise NoSpeechError(f"holds no speech above {floor_dbfs:.0f} dBFS (its speech level is {level:.0f} dBFS)")
    return level


class CalibrationRecorder:
    """The stream of a calibration `LiveSession`: keeps the first `seconds` of the input at `sample_rate`
    (written by the session's thread, read by the UI: `seconds_recorded` while it runs, `audio` once stopped)."""

    def __init__(self, sample_rate: int, seconds: float = SECONDS):
        self.sample_rate = sample_rate
        self._audio = np.zeros(round(seconds * sample_rate), np.float32)
        self._filled = 0

    @property
    def seconds(self) -> float:
        """The length of the recording it makes."""
        return len(self._audio) / self.sample_rate

    @property
    def seconds_recorded(self) -> float:
        return self._filled / self.sample_rate

    @property
    def done(self) -> bool:
        return self._filled == len(self._audio)

    def audio(self) -> np.ndarray:
        """The samples recorded so far."""
        return self._audio[:self._filled]

    def push(self, samples: np.ndarray) -> list[Prediction]:
        """Keeps the samples that fit; predicts nothing."""
        kept = np.asarray(samples, np.float32).reshape(-1)[:len(self._audio) - self._filled]
        self._audio[self._filled:self._filled + len(kept)] = kept
        self._filled += len(kept)
        return []

    def flush(self) -> list[Prediction]:
        return []
