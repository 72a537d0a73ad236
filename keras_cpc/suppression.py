"""Noise suppression: WebRTC's stationary-noise suppressor behind the level normalisation, gated, causal so that it
streams (NumPy and the `webrtc-noise-gain` wheel only).

Steady noise (a fan, a hum, a hiss) fills the pauses and the spectrum's valleys that carry valence: at 10 dB SNR of
white noise the session 29 model lost .36 of valence CCC. WebRTC's suppressor (the one in browser calls) tracks the
noise spectrum and removes what stays steady. It runs on 10 ms frames of 16-bit samples at 16 kHz with its automatic
gain off, after the level normalisation: its input then has the speech level the model's has, and a quiet recording
is suppressed as a loud one is. Everything WebRTC runs first goes through a 100 Hz high-pass filter, which alone cost
.03 of valence and dominance on clean speech; `LowBandRestorer` undoes it down to 20 Hz. Always on, the suppressor
still cost a little where there is no steady noise (rooms, the telephone band), so `NoiseGate` turns it on only for a
noisy stream, fading over one frame. Its output lags by `DELAY` samples, which `NoiseSuppressor` takes off (the raw
samples it fades with are delayed to match), so that a stream suppressed chunk by chunk equals the whole recording
suppressed at once, sample for sample. docs/results.md, session 34, has the measurements.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from keras_cpc.audio import SAMPLE_RATE

FRAME = 160  # 10 ms at 16 kHz, the only frame WebRTC's suppressor takes
DELAY = 96  # samples: the lag of the output's peak cross-correlation with a clean input, measured
LEVELS = (1, 2, 3, 4)  # WebRTC's aggressiveness: about 6, 12, 18 and 21 dB of noise removed
# WebRTC's fixed high-pass filter of its input, butter(2, 100 / 8000, 'high') as its source rounds it (numerator,
# denominator), and the corner of what `LowBandRestorer` leaves of it (the MFCCs' lowest band edge)
HIGH_PASS = ((0.97261, -1.94523, 0.97261), (1.0, -1.94448, 0.94598))
LOW_EDGE_HZ = 20.0


@dataclass(frozen=True)
class SuppressionSettings:
    """How `NoiseSuppressor` suppresses and when (`NoiseGate`; `gate_snr_db` None: always); `model.json` records
    them as `frontend.suppression`."""

    level: int = 2
    gate_snr_db: float | None = 35.0
    gate_memory_seconds: float = 10.0
    gate_min_seconds: float = 0.5

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"suppression level {self.level}: expected one of {LEVELS}")


class NoiseGate:
    """Whether a stream is noisy: the 95th minus the 10th percentile of the levels of its 10 ms frames (loud speech
    against the floor of its pauses: an SNR estimate), the past forgotten with a time constant of `memory_seconds`,
    below `snr_db` once `min_seconds` of frames above digital silence were heard. Frame levels are kept in a histogram
    of `BIN_DB` bins, so that a frame costs the same after an hour as after a second."""

    BIN_DB = 0.5
    FLOOR_DBFS = -120.0  # quieter frames (digital silence) count in the lowest bin
    TOP_DBFS = 20.0

    def __init__(self, snr_db: float, memory_seconds: float, min_seconds: float):
        self.snr_db = snr_db
        self._decay = float(np.exp(-FRAME / SAMPLE_RATE / memory_seconds))
        self._min_frames = min_seconds * SAMPLE_RATE / FRAME
        self._bins = int((self.TOP_DBFS - self.FLOOR_DBFS) / self.BIN_DB)
        self.reset()

    def reset(self) -> None:
        self._weights = np.zeros(self._bins)  # decayed count of frames per level bin
        self._audible = 0  # frames heard above the floor

    @property
    def snr_estimate_db(self) -> float | None:
        """The spread of the frame levels heard (dB); `None` before any frame."""
        if not self._weights.any():
            return None
        cumulative = np.cumsum(self._weights) / self._weights.sum()
        low, high = np.searchsorted(cumulative, (0.10, 0.95))
        return float((high - low) * self.BIN_DB)

    def push(self, frame: np.ndarray) -> bool:
        """Adds a frame's level; returns whether the stream is noisy (suppress it)."""
        power = float(np.mean(np.square(frame, dtype=np.float64)))
        level = 10 * np.log10(power) if power > 0 else self.FLOOR_DBFS
        index = int(np.clip((level - self.FLOOR_DBFS) / self.BIN_DB, 0, self._bins - 1))
        self._weights *= self._decay
        self._weights[index] += 1.0
        self._audible += level > self.FLOOR_DBFS
        return self._audible >= self._min_frames and self.snr_estimate_db < self.snr_db


class LowBandRestorer:
    """Gives back the band under 100 Hz that WebRTC's high-pass filter takes from speech (a low voice's pitch):
    its inverse, with the double zero at DC it cannot invert made a double pole at `LOW_EDGE_HZ`, so that the two
    together are a high-pass filter at that corner. Streams: chunks of any size give the samples of the whole (to
    float rounding)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        self._pole = float(np.exp(-2 * np.pi * LOW_EDGE_HZ / sample_rate))
        self._powers = self._pole ** np.arange(FRAME)
        (gain, *_), denominator = HIGH_PASS
        self._zeros = np.array(denominator) / gain  # the high-pass filter's poles as zeros
        self.reset()

    def reset(self) -> None:
        self._inputs = np.zeros(2)  # the last two samples in
        self._states = [0.0, 0.0]  # the last output of each of the two one-pole stages

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The next samples restored (float32); cut a stream the same way to get the same float sums."""
        padded = np.concatenate([self._inputs, np.asarray(samples, np.float64)])
        self._inputs = padded[-2:]
        first, second, third = self._zeros
        out = first * padded[2:] + second * padded[1:-1] + third * padded[:-2]
        for stage in range(2):
            for start in range(0, len(out), FRAME):  # y[n] = x[n] + pole * y[n - 1], a frame at a time
                block = out[start:start + FRAME]
                block[:] = np.convolve(block, self._powers)[:len(block)] + self._states[stage] * self._pole \
                    * self._powers[:len(block)]
                self._states[stage] = float(block[-1])
        return out.astype(np.float32)


class NoiseSuppressor:
    """Streaming noise suppression: `push` samples (float, about [-1, 1]) in chunks of any size, get back the
    suppressed samples that are ready, aligned with the input; `flush` returns the rest and starts a new stream."""

    def __init__(self, settings: SuppressionSettings = SuppressionSettings(), sample_rate: int = SAMPLE_RATE):
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"noise suppression runs at {SAMPLE_RATE} Hz, not {sample_rate} Hz")
        try:
            from webrtc_noise_gain import AudioProcessor
        except ImportError as error:
            raise ImportError(f"noise suppression needs the webrtc-noise-gain package ({error})") from None
        self.settings = settings
        self._processor_type = AudioProcessor
        self.reset()

    def reset(self) -> None:
        """Forgets all audio heard: the next sample starts a new stream."""
        self._processor = self._processor_type(0, self.settings.level)  # 0: its automatic gain off
        self._restorer = LowBandRestorer()
        self._gate = NoiseGate(self.settings.gate_snr_db, self.settings.gate_memory_seconds,
                               self.settings.gate_min_seconds) if self.settings.gate_snr_db is not None else None
        self._pending = np.zeros(0, np.float32)
        self._raw = np.zeros(DELAY, np.float32)  # the input samples that the next output frame starts with
        self._weight = 0.0 if self._gate else 1.0  # of the suppressed samples against the raw, as the last frame ended
        self._delay = DELAY  # output samples still to drop

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Adds samples; returns the output samples of every frame they complete, less the delay (float32)."""
        pending = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        complete = len(pending) // FRAME * FRAME
        self._pending = pending[complete:].copy()
        return np.concatenate([np.zeros(0, np.float32)] + [self._frame(pending[start:start + FRAME])
                                                           for start in range(0, complete, FRAME)])

    def _frame(self, frame: np.ndarray) -> np.ndarray:
        """One frame through WebRTC, its low band restored, cross-faded over the frame from or to the raw input as
        the gate opens or closes (the raw samples aligned with WebRTC's output), less the delay still to drop. A
        frame at a time, so that the float sums are the same however the stream was cut."""
        samples = np.clip(np.round(frame.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
        suppressed = self._restorer(np.frombuffer(self._processor.Process10ms(samples.tobytes()).audio,
                                                  np.int16) / 32768)
        raw = np.concatenate([self._raw, frame])
        raw, self._raw = raw[:FRAME], raw[FRAME:]
        weight = 1.0 if self._gate is None or self._gate.push(frame) else 0.0
        weights = np.linspace(self._weight, weight, FRAME + 1, dtype=np.float32)[1:]
        self._weight = weight
        out = raw if not weights.any() else weights * suppressed + (1 - weights) * raw
        dropped = min(self._delay, len(out))
        self._delay -= dropped
        return out[dropped:].astype(np.float32)

    def flush(self) -> np.ndarray:
        """The suppressed samples still held (the last frame's and the delay's, through silence); then `reset`."""
        held = len(self._pending) + DELAY - self._delay  # input samples not yet returned
        out = self.push(np.zeros(-(len(self._pending) + DELAY) % FRAME + DELAY, np.float32))[:held]
        self.reset()
        return out


def suppress_noise(audio: np.ndarray, settings: SuppressionSettings = SuppressionSettings(),
                   sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A whole waveform through a new `NoiseSuppressor`: what a stream of it gives, of the same length."""
    suppressor = NoiseSuppressor(settings, sample_rate)
    return np.concatenate([suppressor.push(audio), suppressor.flush()])


def suppression_config(settings: SuppressionSettings | None) -> dict:
    """The suppression as a front end records it: `{"suppression": {...}}`, or `{}` for none."""
    return {"suppression": asdict(settings)} if settings is not None else {}


def suppression_settings(frontend: dict | None) -> SuppressionSettings | None:
    """The suppression settings of a recorded front end; `None` when it has none."""
    suppression = (frontend or {}).get("suppression")
    if suppression is None:
        return None
    try:
        return SuppressionSettings(**suppression)
    except TypeError as error:
        raise ValueError(f"unknown noise suppression settings {suppression} ({error})") from None
