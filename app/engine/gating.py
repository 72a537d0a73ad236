"""Speech/silence gating: no emotion estimates while the input is quieter than a level.

Every estimate is kept or replaced by NaN (a gap in the plots) from the RMS level of the hop
it ends. The gate opens as soon as such a hop reaches `threshold_db`, and closes only after
`hangover` estimates in a row stay `hysteresis_db` below it, so short pauses and levels hovering
around the threshold do not make it flicker.
"""

from __future__ import annotations

import math

import numpy as np

from app.engine.streaming import Prediction, StreamingRecognizer

SILENCE_DB = -120.0  # the level of digital silence (the log of zero, clipped)
HYSTERESIS_DB = 6.0  # how far below its threshold the gate closes


def level_db(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a full-scale sine is -3 dB)."""
    if not len(samples):
        return SILENCE_DB
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(SILENCE_DB, 20 * math.log10(rms)) if rms > 0 else SILENCE_DB


class SpeechGate:
    """Open/closed decision per estimate from its last hop's level, with hysteresis and a hangover.

    Args:
        threshold_db: level that opens the gate (dBFS RMS); may be changed at any time.
        hysteresis_db: the gate closes below `threshold_db - hysteresis_db` ...
        hangover: ... after this many consecutive estimates there.
    """

    def __init__(self, threshold_db: float = -45.0, hysteresis_db: float = HYSTERESIS_DB, hangover: int = 3):
        self.threshold_db, self.hysteresis_db, self.hangover = threshold_db, hysteresis_db, hangover
        self.reset()

    def reset(self) -> None:
        """Closes the gate, as at the start of a stream."""
        self.is_open, self._quiet = False, 0

    def update(self, level: float) -> bool:
        """Takes the level of an estimate's last hop; returns whether the estimate is shown."""
        if level >= self.threshold_db:
            self.is_open, self._quiet = True, 0
        elif level < self.threshold_db - self.hysteresis_db:
            self._quiet += 1
            self.is_open = self.is_open and self._quiet < self.hangover
        else:  # in the hysteresis band: the state holds, and the quiet run is broken
            self._quiet = 0
        return self.is_open


class GatedStream:
    """A `StreamingRecognizer` whose predictions are NaN where the gate is closed.

    It starts a new stream of `recognizer`. The recognizer still hears all the audio (the same
    stream as `app.analyze`); the gate only decides which estimates are shown, from the level of
    the hop each one ends.
    """

    def __init__(self, recognizer: StreamingRecognizer, gate: SpeechGate):
        self.recognizer, self.gate, self.sample_rate = recognizer, gate, recognizer.sample_rate
        recognizer.reset()
        self._hop = recognizer.config["hop_samples"]
        # a prediction's hop ends up to a hop and the front end's delay before the latest sample
        self._kept = 2 * self._hop + (recognizer.suppressor.delay if recognizer.suppressor is not None else 0)
        self._recent = np.zeros(0, np.float32)  # the latest samples, ending at sample `_total`
        self._total = 0

    def push(self, samples: np.ndarray) -> list[Prediction]:
        """Adds 16 kHz samples; returns the predictions they complete, gated."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        self._recent = np.concatenate([self._recent[-self._kept:], samples])
        self._total += len(samples)
        return self._gated(self.recognizer.push(samples))

    def flush(self) -> list[Prediction]:
        """Ends the stream (see `StreamingRecognizer.flush`); the gate and levels start afresh."""
        predictions = self._gated(self.recognizer.flush())
        self._recent, self._total = np.zeros(0, np.float32), 0
        self.gate.reset()
        return predictions

    def _gated(self, predictions: list[Prediction]) -> list[Prediction]:
        start = self._total - len(self._recent)  # stream index of `_recent[0]`
        gated = []
        for prediction in predictions:
            end = round(prediction.time * self.recognizer.sample_rate) - start
            if self.gate.update(level_db(self._recent[max(0, end - self._hop):end])):
                gated.append(prediction)
            else:
                gated.append(Prediction(prediction.time, math.nan, math.nan, math.nan))
        return gated
