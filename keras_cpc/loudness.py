"""Speech-level normalisation: the front end of every model's audio, causal so that it streams (NumPy only).

A recording's level tells more about the microphone, the room and the gain knob than about the
speaker, and RAVDESS ties it to arousal (angry is loud): a model fed raw levels learns the
recording. `LevelNormalizer` brings the speech level to `target_dbfs` with a gain that depends
on the audio heard so far only, so that a stream normalised hop by hop equals the whole file
normalised at once, and training, `training.export`, the streaming engine and the app share it.

The speech level is gated as in ITU-R BS.1770's integrated loudness, on blocks of `block_seconds`:
blocks below `floor_dbfs` are silence; of the others, those more than `relative_gate_db` below
their mean power are pauses; the level is the mean power of the rest. Past blocks are forgotten
with a time constant of `memory_seconds` (a live session adapts to a new microphone level). Block
powers are kept in a histogram of `BIN_DB` bins, so that a block costs the same after an hour as
after a second; the gate compares bins, so a level change of a whole number of bins gives exactly
the same output. Every block's gain is `target / level`, at most `max_gain_db`, and applies to
the block itself, which is part of the level it is computed from.

A stream can start from a speaker's level (`calibrate`: a prior worth `prior_seconds` of speech):
the channel's gain is then taken out while a shout stays louder than the speaker's usual level, an
arousal cue that normalising each utterance alone would erase. Models are trained that way
(`per_speaker`: each utterance calibrated with its speaker's `speaker_level`, the median over their
recordings); the app calibrates from a reading, `app.analyze` from a file, and without calibration
a live session's level settles as the speaker goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from keras_cpc.audio import SAMPLE_RATE
from keras_cpc.frontend import part_config, part_settings
from keras_cpc.suppression import suppress_noise, suppression_settings

BIN_DB = 0.25
FLOOR_DBFS = -100.0
TOP_DBFS = 20.0  # louder blocks count in the top bin


@dataclass(frozen=True)
class LevelSettings:
    """How `LevelNormalizer` measures and sets the level; `model.json` records them as `frontend.level`."""

    target_dbfs: float = -25.0
    block_seconds: float = 0.02
    relative_gate_db: float = 10.0
    memory_seconds: float = 30.0
    max_gain_db: float = 40.0
    floor_dbfs: float = FLOOR_DBFS
    prior_seconds: float = 30.0  # the weight of a speaker's calibration (`LevelNormalizer.calibrate`)
    per_speaker: bool = False  # trained with each speaker's `speaker_level` as the calibration


class LevelNormalizer:
    """Streaming speech-level normalisation: `push` samples in chunks of any size, get back the
    normalised samples of every complete block; `flush` returns the rest with the last gain.

    The state is the level histogram; `reset` forgets it (a new speaker or recording).
    """

    def __init__(self, settings: LevelSettings = LevelSettings(), sample_rate: int = SAMPLE_RATE):
        self.settings = settings
        self.block = round(settings.block_seconds * sample_rate)
        if self.block < 1:
            raise ValueError(f"a level block of {settings.block_seconds} s holds no sample at {sample_rate} Hz")
        self._decay = float(np.exp(-settings.block_seconds / settings.memory_seconds))
        self._bins = int(np.ceil((TOP_DBFS - settings.floor_dbfs) / BIN_DB))
        self._target = 10.0 ** (settings.target_dbfs / 10)
        self._max_gain = 10.0 ** (settings.max_gain_db / 20)
        self._prior: tuple[float, float] | None = None
        self.reset()

    def reset(self) -> None:
        """Forgets all audio heard (back to the `calibrate` prior, if any)."""
        self._weights = np.zeros(self._bins)  # decayed count of blocks per power bin
        self._powers = np.zeros(self._bins)  # decayed sum of their powers
        self._pending = np.zeros(0, np.float32)
        self._gain = 1.0
        if self._prior is not None:
            level_dbfs, seconds = self._prior
            index = self._bin(10.0 ** (level_dbfs / 10))
            if index >= 0:
                self._weights[index] = seconds / self.settings.block_seconds
                self._powers[index] = self._weights[index] * 10.0 ** (level_dbfs / 10)
            self._gain = self._block_gain()

    def calibrate(self, level_dbfs: float | None, seconds: float | None = None) -> None:
        """Starts every stream as if `seconds` (default `prior_seconds`) of speech at `level_dbfs` had been
        heard (a speaker's calibration, e.g. `speaker_level` of recordings of them); `None` removes it.
        Then `reset`."""
        seconds = self.settings.prior_seconds if seconds is None else seconds
        self._prior = None if level_dbfs is None else (float(level_dbfs), float(seconds))
        self.reset()

    @property
    def level_dbfs(self) -> float | None:
        """The speech level heard so far (dBFS); `None` before any block above the floor."""
        level = self._level()
        return None if level is None else float(10 * np.log10(level))

    @property
    def gain(self) -> float:
        """The gain of the last block."""
        return self._gain

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Adds samples; returns the normalised samples of the blocks they complete (float32)."""
        pending = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        complete = len(pending) // self.block * self.block
        blocks = pending[:complete].reshape(-1, self.block)
        self._pending = pending[complete:].copy()
        if not len(blocks):
            return np.zeros(0, np.float32)
        powers = np.mean(np.square(blocks, dtype=np.float64), axis=1)
        gains = np.array([self._add_block(power) for power in powers], np.float32)
        return (blocks * gains[:, None]).reshape(-1)

    def flush(self) -> np.ndarray:
        """The samples of an incomplete last block, scaled by the last gain; the stream can go on."""
        rest, self._pending = self._pending * np.float32(self._gain), np.zeros(0, np.float32)
        return rest

    def _add_block(self, power: float) -> float:
        """Adds one block's mean power to the histogram; returns the gain for that block."""
        self._weights *= self._decay
        self._powers *= self._decay
        index = self._bin(power)
        if index >= 0:
            self._weights[index] += 1.0
            self._powers[index] += power
        self._gain = self._block_gain()
        return self._gain

    def _level(self) -> float | None:
        """The gated mean power of the histogram; `None` when it is empty."""
        total = self._weights.sum()
        if total <= 0:
            return None
        gate = max(self._bin(self._powers.sum() / total * 10.0 ** (-self.settings.relative_gate_db / 10)), 0)
        return self._powers[gate:].sum() / self._weights[gate:].sum()

    def _block_gain(self) -> float:
        """`target / level`, at most the largest gain (which an empty histogram gets)."""
        level = self._level()
        return self._max_gain if level is None else min(float(np.sqrt(self._target / level)), self._max_gain)

    def _bin(self, power: float) -> int:
        """The histogram bin of a block power; -1 below the floor (silence)."""
        if power <= 0:
            return -1
        index = int(np.floor((10 * np.log10(power) - self.settings.floor_dbfs) / BIN_DB))
        return min(index, self._bins - 1) if index >= 0 else -1


def normalize_level(audio: np.ndarray, settings: LevelSettings = LevelSettings(),
                    sample_rate: int = SAMPLE_RATE, calibration: float | None = None) -> np.ndarray:
    """A whole waveform through a new `LevelNormalizer` (calibrated with `calibration` dBFS, if given):
    what a stream of it gives."""
    normalizer = LevelNormalizer(settings, sample_rate)
    normalizer.calibrate(calibration)
    return np.concatenate([normalizer.push(audio), normalizer.flush()])


def speech_level(audio: np.ndarray, settings: LevelSettings = LevelSettings(),
                 sample_rate: int = SAMPLE_RATE) -> float | None:
    """The speech level (dBFS) of a whole recording as `LevelNormalizer` measures it (its memory aside:
    with `memory_seconds` shorter than the recording, the last part weighs most)."""
    normalizer = LevelNormalizer(settings, sample_rate)
    normalizer.push(audio)
    return normalizer.level_dbfs


def speaker_level(clips: Iterable[np.ndarray], settings: LevelSettings = LevelSettings(),
                  sample_rate: int = SAMPLE_RATE) -> float | None:
    """A speaker's speech level (dBFS): the median of `speech_level` over their recordings, so that neither a
    shouted nor a whispered one sets it; `None` when none holds speech."""
    levels = [level for clip in clips if (level := speech_level(clip, settings, sample_rate)) is not None]
    return float(np.median(levels)) if levels else None


def frontend_config(settings: LevelSettings | None) -> dict:
    """The front end as a model and `model.json` record it: `{"level": {...}}`, or `{}` for raw audio."""
    return part_config("level", settings)


def frontend_settings(frontend: dict | None) -> LevelSettings | None:
    """The level settings of a recorded front end; `None` when it passes raw audio (older models)."""
    return part_settings(frontend, "level", LevelSettings, "level normalisation")


def suppressed(audio: np.ndarray, frontend: dict | None, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A whole waveform through a recorded front end's noise suppression (`keras_cpc.suppression`), which comes
    before its level normalisation, so that the speech level is measured without the noise; unchanged without one."""
    suppression = suppression_settings(frontend)
    return audio if suppression is None else suppress_noise(audio, suppression, sample_rate)


def apply_frontend(audio: np.ndarray, frontend: dict | None, sample_rate: int = SAMPLE_RATE,
                   calibration: float | None = None) -> np.ndarray:
    """A whole waveform through a recorded front end: the noise suppression, then the level normalisation,
    calibrated with its speaker's level (of suppressed audio) when given, each if it has it (unchanged for raw
    audio)."""
    audio = suppressed(audio, frontend, sample_rate)
    settings = frontend_settings(frontend)
    return audio if settings is None else normalize_level(audio, settings, sample_rate, calibration)
