"""Speech frames: which CPC frames hold speech, decided causally from the front end's audio (NumPy only).

The head pools over every frame it is given. About 40% of a RAVDESS clip is the silence around the
sentence, and a model trained on whole clips leans on it: cut to their speech, the held-out clips lose
.18 of valence CCC, and under noise the silent frames turn into noise frames that move every pooled
statistic (`docs/robustness/silence`). With speech frames, only frames that hold speech reach the head
and the speaker statistics: training drops the others from the cached contexts
(`keras_cpc.features.cache_features`), the streaming engine from its window.

A frame hears `field` samples, one every `hop`. It is speech when the power of those samples (about their mean
with `remove_dc`: a microphone's DC offset is not speech) is above
`floor_dbfs` (the level front end brings speech to -25 dBFS) and `margin_db` above the noise floor, or
when it is one of the `hangover_frames` frames after such a frame. The noise floor follows the frame powers
down at once and rises by at most `rise_db_per_second` otherwise (minimum tracking), so the decision at a
frame depends on the frames before it only, and a stream decided hop by hop equals the whole recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_cpc.audio import SAMPLE_RATE
from keras_cpc.frontend import part_config, part_settings


@dataclass(frozen=True)
class SpeechFrameSettings:
    """How `SpeechFrames` decides; `model.json` records them as `frontend.speech_frames`."""

    floor_dbfs: float = -60.0
    margin_db: float = 10.0
    rise_db_per_second: float = 3.0
    hangover_frames: int = 10
    remove_dc: bool = True


def frame_powers(audio: np.ndarray, frames: int, field: int, hop: int, remove_dc: bool = True) -> np.ndarray:
    """Mean power (float64) of the `field` samples each of the first `frames` frames hears, about their mean with
    `remove_dc`."""
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(audio, np.float64)[:(frames - 1) * hop + field],
                                                       field)[::hop] if frames else np.zeros((0, field))
    return np.var(windows, axis=1) if remove_dc else np.mean(windows**2, axis=1)


class SpeechFrames:
    """Streaming speech-frame decisions: `push` the powers of the next frames (`frame_powers`), get a mask.

    The state is the noise floor and the frames since the last speech frame; `reset` forgets both.
    """

    def __init__(self, settings: SpeechFrameSettings = SpeechFrameSettings(), hop: int = 160,
                 sample_rate: int = SAMPLE_RATE):
        self.settings = settings
        self._rise = settings.rise_db_per_second * hop / sample_rate
        self.reset()

    def reset(self) -> None:
        self._floor = np.inf
        self._since_speech = self.settings.hangover_frames + 1

    def push(self, powers: np.ndarray) -> np.ndarray:
        """Whether each of these frames, which follow the frames pushed before, is speech."""
        settings = self.settings
        speech = np.zeros(len(powers), bool)
        for index, db in enumerate(10 * np.log10(np.maximum(powers, 1e-20))):
            self._floor = min(db, self._floor + self._rise)
            loud = db > settings.floor_dbfs and db > self._floor + settings.margin_db
            self._since_speech = 0 if loud else self._since_speech + 1
            speech[index] = self._since_speech <= settings.hangover_frames
        return speech


def speech_mask(audio: np.ndarray, frames: int, field: int, hop: int,
                settings: SpeechFrameSettings = SpeechFrameSettings(), sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Which of the first `frames` frames of a whole recording are speech: what a stream of it decides."""
    return SpeechFrames(settings, hop, sample_rate).push(frame_powers(audio, frames, field, hop, settings.remove_dc))


def speech_frame_config(settings: SpeechFrameSettings | None) -> dict:
    """The part of a recorded front end that names the speech frames (`{}` for every frame)."""
    return part_config("speech_frames", settings)


def speech_frame_settings(frontend: dict | None) -> SpeechFrameSettings | None:
    """The speech-frame settings of a recorded front end; `None` when every frame reaches the head. Records without
    `remove_dc` (made before 2026-12-04, session 20) measured frame power about zero."""
    return part_settings(frontend, "speech_frames", SpeechFrameSettings, "speech-frame", {"remove_dc": False})
