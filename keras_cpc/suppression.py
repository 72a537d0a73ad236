"""Noise suppression: WebRTC's stationary-noise suppressor before the level normalisation, gated, causal so that it
streams (NumPy and the `webrtc-noise-gain` wheel; RNNoise's for steady noise).

Steady noise (a fan, a hum, a hiss) fills the pauses and the spectrum's valleys that carry valence: at 10 dB SNR of
white noise the session 29 model lost .36 of valence CCC. WebRTC's suppressor (the one in browser calls) tracks the
noise spectrum and removes what stays steady. It runs on 10 ms frames of 16-bit samples at 16 kHz with its automatic
gain off, before the level normalisation, so that the speech level is measured on speech rather than on speech and
noise, and the gate judges the input as recorded. Everything WebRTC runs first goes through a 100 Hz high-pass
filter, which alone cost .03 of valence and dominance on clean speech; `LowBandRestorer` undoes it down to 20 Hz.
Always on, the suppressor still cost a little where there is no steady noise (rooms, the telephone band), so
`NoiseGate` turns it on only for a noisy stream, fading over one frame; where the noise floor is also steady (a fan,
a hiss, not babble) it can switch to a stronger level (`SuppressionSettings.steady_level`), or to RNNoise, a learned
suppressor (`keras_cpc.rnnoise`). Its output lags by `DELAY` samples (RNNoise's by more), which `NoiseSuppressor`
takes off (the raw samples it fades with are delayed to match), so that a stream suppressed chunk by chunk equals
the whole recording suppressed at once, sample for sample. docs/results.md, sessions 34 to 36, has the
measurements.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from keras_cpc import rnnoise
from keras_cpc.audio import SAMPLE_RATE
from keras_cpc.frontend import part_config, part_settings

FRAME = 160  # 10 ms at 16 kHz, the only frame WebRTC's suppressor takes
DELAY = 96  # samples: the lag of the output's peak cross-correlation with a clean input, measured
WARM_UP_FRAMES = 100  # 1 s: what RNNoise hears before it fades in (more than its delay of `rnnoise.DELAY`)
LEVELS = (1, 2, 3, 4)  # WebRTC's aggressiveness: about 6, 12, 18 and 21 dB of noise removed
RNNOISE = "rnnoise"  # a steady level: RNNoise (`keras_cpc.rnnoise`) in place of WebRTC
STEADY_LEVELS = (*LEVELS, RNNOISE)
# WebRTC's fixed high-pass filter of its input, butter(2, 100 / 8000, 'high') as its source rounds it (numerator,
# denominator), and the corner of what `LowBandRestorer` leaves of it (the MFCCs' lowest band edge)
HIGH_PASS = ((0.97261, -1.94523, 0.97261), (1.0, -1.94448, 0.94598))
LOW_EDGE_HZ = 20.0


@dataclass(frozen=True)
class SuppressionSettings:
    """How `NoiseSuppressor` suppresses and when (`NoiseGate`; `gate_snr_db` None: always); `model.json` records
    them as `frontend.suppression`. With `steady_level`, a noisy stream whose floor is steady (its quietest frames'
    levels deviate by less than `gate_steady_db`: a fan, a hiss) is suppressed at that level, or by RNNoise
    (`RNNOISE`), instead: WebRTC's noise model assumes a stationary noise, and stronger removal of a changing one
    (babble) costs the speech."""

    level: int = 2
    gate_snr_db: float | None = 35.0
    gate_memory_seconds: float = 10.0
    gate_min_seconds: float = 0.5
    steady_level: int | str | None = None
    gate_steady_db: float = 0.9

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"suppression level {self.level}: expected one of {LEVELS}")
        if self.steady_level is not None and self.steady_level not in STEADY_LEVELS:
            raise ValueError(f"steady-noise suppression level {self.steady_level}: expected one of {STEADY_LEVELS}")
        if self.steady_level is not None and self.gate_snr_db is None:
            raise ValueError("a steady-noise suppression level needs the gate (gate_snr_db)")
        if self.steady_level == self.level:
            raise ValueError(f"steady-noise suppression level {self.steady_level} is the level itself: leave it out")

    @property
    def levels(self) -> tuple[int | str, ...]:
        """The suppression levels a stream may get, in the order of `NoiseGate.push`'s states after 0 (none)."""
        return (self.level,) if self.steady_level is None else (self.level, self.steady_level)


class NoiseGate:
    """Whether a stream is noisy: the 95th minus the 10th percentile of the levels of its 10 ms frames (loud speech
    against the floor of its pauses: an SNR estimate), the past forgotten with a time constant of `memory_seconds`,
    below `snr_db` once `min_seconds` of frames above digital silence were heard; and, with `steady_db`, whether its
    floor is steady: the standard deviation of the levels of its quietest fifth of audible frames below `steady_db`.
    Frame levels are kept in a histogram of `BIN_DB` bins, so that a frame costs the same after an hour as after a
    second; the decision is taken anew every `STRIDE` frames."""

    BIN_DB = 0.5
    FLOOR_DBFS = -120.0  # quieter frames (digital silence) count in the lowest bin
    TOP_DBFS = 20.0
    QUIET_SHARE = 0.2
    STRIDE = 10  # 100 ms

    @classmethod
    def from_settings(cls, settings: SuppressionSettings) -> NoiseGate:
        """The gate `settings` ask for (it needs `gate_snr_db`), judging steadiness only with a `steady_level`."""
        return cls(settings.gate_snr_db, settings.gate_memory_seconds, settings.gate_min_seconds,
                   settings.gate_steady_db if settings.steady_level is not None else None)

    def __init__(self, snr_db: float, memory_seconds: float, min_seconds: float, steady_db: float | None = None):
        self.snr_db, self.steady_db = snr_db, steady_db
        self._decay = float(np.exp(-FRAME / SAMPLE_RATE / memory_seconds))
        self._min_frames = min_seconds * SAMPLE_RATE / FRAME
        self._bins = int((self.TOP_DBFS - self.FLOOR_DBFS) / self.BIN_DB)
        self._centres = self.FLOOR_DBFS + (np.arange(self._bins) + 0.5) * self.BIN_DB
        self.reset()

    def reset(self) -> None:
        self._weights = np.zeros(self._bins)  # decayed count of frames per level bin
        self._audible = 0  # frames heard above the floor
        self._frames, self._state = 0, 0  # frames heard; the state decided at the last stride

    @property
    def snr_estimate_db(self) -> float | None:
        """The spread of the frame levels heard (dB); `None` before any frame."""
        if not self._weights.any():
            return None
        cumulative = np.cumsum(self._weights) / self._weights.sum()
        low, high = np.searchsorted(cumulative, (0.10, 0.95))
        return float((high - low) * self.BIN_DB)

    @property
    def floor_deviation_db(self) -> float | None:
        """The standard deviation of the levels of the quietest `QUIET_SHARE` of the audible frames heard (dB, bin
        centres; digital silence, such as a stream's zero padding, left out); `None` before any audible frame."""
        audible = np.concatenate([[0.0], self._weights[1:]])
        quiet = self.QUIET_SHARE * audible.sum()
        if not quiet > 0:  # none heard, or their weights decayed to nothing in a long silence
            return None
        weights = np.clip(quiet - (np.cumsum(audible) - audible), 0, audible)  # each bin's frames among the quietest
        mean = np.dot(weights, self._centres) / quiet
        return float(np.sqrt(max(np.dot(weights, np.square(self._centres - mean)) / quiet, 0.0)))

    def push(self, frame: np.ndarray) -> int:
        """Adds a frame's level; returns the stream's state as last decided: 0 clean, 1 noisy (suppress it), 2 noisy
        with a steady floor (only with `steady_db`)."""
        frame = np.asarray(frame, np.float64)
        power = float(np.dot(frame, frame)) / len(frame)
        level = 10 * np.log10(power) if power > 0 else self.FLOOR_DBFS
        index = int(np.clip((level - self.FLOOR_DBFS) / self.BIN_DB, 0, self._bins - 1))
        self._weights *= self._decay
        self._weights[index] += 1.0
        self._audible += index > 0  # the frames `floor_deviation_db` counts
        self._frames += 1
        if self._frames % self.STRIDE == 0:
            noisy = self._audible >= self._min_frames and self.snr_estimate_db < self.snr_db
            deviation = self.floor_deviation_db if noisy and self.steady_db is not None else None
            self._state = 2 if deviation is not None and deviation < self.steady_db else int(noisy)
        return self._state


class LowBandRestorer:
    """Gives back the band under 100 Hz that WebRTC's high-pass filter takes from speech (a low voice's pitch):
    its inverse, with the double zero at DC it cannot invert made a double pole at `LOW_EDGE_HZ`, so that the two
    together are a high-pass filter at that corner. Streams: chunks of any size give the samples of the whole (to
    float rounding)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        pole = float(np.exp(-2 * np.pi * LOW_EDGE_HZ / sample_rate))
        steps = np.arange(FRAME)
        (gain, *_), denominator = HIGH_PASS
        # a frame of the filter: its input (and the two samples before) through the high-pass filter's poles made
        # zeros, convolved with the double pole's impulse response, plus (first + second n) pole^n from the two
        # outputs before it (the solution of y[n] = 2 pole y[n - 1] - pole^2 y[n - 2] that continues them)
        self._zeros = np.array(denominator) / gain
        self._pole, self._powers, self._ramp = pole, pole**steps, steps * pole**steps
        self._response = self._powers + self._ramp
        self.reset()

    def reset(self) -> None:
        self._inputs = np.zeros(2)  # the last two samples in
        self._older, self._last = 0.0, 0.0  # the last two samples out

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The next samples restored (float32); cut a stream the same way to get the same float sums."""
        samples = np.asarray(samples, np.float64)
        out = np.empty(len(samples))
        for start in range(0, len(samples), FRAME):
            padded = np.concatenate([self._inputs, samples[start:start + FRAME]])
            length = len(padded) - 2
            second = self._pole * (self._last - self._pole * self._older)
            first = self._pole * self._last + second
            block = np.convolve(np.convolve(padded, self._zeros, "valid"), self._response[:length])[:length] \
                + first * self._powers[:length] + second * self._ramp[:length]
            out[start:start + length] = block
            self._inputs = padded[-2:]
            self._older, self._last = (float(block[-2]) if length > 1 else self._last), float(block[-1])
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
            raise ImportError(f"noise suppression needs the webrtc-noise-gain package ({error})",
                              name="webrtc-noise-gain") from None
        self.settings = settings
        self._processor_type = AudioProcessor
        self._rnnoise = settings.steady_level == RNNOISE
        if self._rnnoise:
            rnnoise.library()  # raises ImportError without it
        # the output's lag behind the input: RNNoise's, or WebRTC's; the faster paths are delayed to match
        self.delay = rnnoise.DELAY if self._rnnoise else DELAY
        self.reset()

    def reset(self) -> None:
        """Forgets all audio heard: the next sample starts a new stream."""
        settings = self.settings
        # 0: its automatic gain off; each level's processor runs on every frame, so that its noise model is warm
        self._processors = [self._processor_type(0, level) for level in settings.levels if level != RNNOISE]
        # RNNoise starts when the gate first finds a steady floor, from the last `WARM_UP_FRAMES` frames heard
        self._denoiser, self._heard = None, deque(maxlen=WARM_UP_FRAMES)
        self._restorer = LowBandRestorer()
        self._gate = None if settings.gate_snr_db is None else NoiseGate.from_settings(settings)
        self._pending = np.zeros(0, np.float32)
        self._raw = np.zeros(self.delay, np.float32)  # the input samples that the next output frame starts with
        self._webrtc = np.zeros(self.delay - DELAY, np.float32)  # WebRTC's restored output, delayed to match
        # as the last frame ended: the weight of the suppressed samples against the raw, and of the steady level's
        # output against the level's in the suppressed samples
        self._on, self._steady = (0.0 if self._gate else 1.0), 0.0
        self._state = 0 if self._gate else 1  # the gate's last state; held through `flush`'s padding
        self._flushing = False
        # the level the gate chose for the last frame in (its samples come out `delay` later); None: raw
        self.active_level = None if self._gate else settings.level
        self._dropping = self.delay  # output samples still to drop

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Adds samples; returns the output samples of every frame they complete, less the delay (float32)."""
        pending = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        complete = len(pending) // FRAME * FRAME
        self._pending = pending[complete:].copy()
        return np.concatenate([np.zeros(0, np.float32)] + [self._frame(pending[start:start + FRAME])
                                                           for start in range(0, complete, FRAME)])

    def _frame(self, frame: np.ndarray) -> np.ndarray:
        """One frame through WebRTC at each level (and RNNoise); the levels' outputs cross-faded over the frame as
        the gate moves between them (the last level held while it is off), WebRTC's low band restored (after the
        fade between two WebRTC levels, which share the restorer; before the fade to RNNoise, which has no high-pass
        filter to undo), and that cross-faded with the raw samples as the gate opens or closes (all aligned with the
        slowest path); less the delay still to drop. A frame at a time, so that the float sums are the same however
        the stream was cut."""
        samples = np.clip(np.round(frame.astype(np.float64) * 32768), -32768, 32767).astype(np.int16).tobytes()
        raw, self._raw = delayed(self._raw, frame)
        base, *steady = [np.frombuffer(processor.Process10ms(samples).audio, np.int16) / 32768
                         for processor in self._processors]
        if self._gate and not self._flushing:
            self._state = self._gate.push(frame)
        state = self._state
        denoised = self._denoise(frame, state) if self._rnnoise else None
        self.active_level = (None, *self.settings.levels)[state]
        on, self._on = self._on, float(state > 0)
        fade, self._steady = self._steady, (float(state == 2) if state else self._steady)
        suppressed = self._restorer(cross_fade(base, steady[0], fade, self._steady) if steady else base)
        if self._rnnoise:
            suppressed, self._webrtc = delayed(self._webrtc, suppressed)
            suppressed = cross_fade(suppressed, denoised, fade, self._steady) if denoised is not None else suppressed
        out = cross_fade(raw, suppressed, on, self._on)
        dropped = min(self._dropping, len(out))
        self._dropping -= dropped
        return out[dropped:].astype(np.float32)

    def _denoise(self, frame: np.ndarray, state: int) -> np.ndarray | None:
        """The frame's RNNoise output (`delay` samples behind it); `None` until the gate first finds a steady floor.
        RNNoise then starts on the frames heard before, so that it is warm when it fades in; a stream that never
        has steady noise costs nothing."""
        if self._denoiser is None:
            self._heard.append(frame.copy())
            if state != 2:
                return None
            self._denoiser = rnnoise.RNNoise()
            *earlier, frame = self._heard
            for heard in earlier:
                self._denoiser.process(heard)
        return self._denoiser.process(frame)

    def flush(self) -> np.ndarray:
        """The suppressed samples still held (the last frame's and the delay's, through silence, which the gate does
        not hear: its last state holds); then `reset`."""
        held = len(self._pending) + self.delay - self._dropping  # input samples not yet returned
        self._flushing = True
        out = self.push(np.zeros(-(len(self._pending) + self.delay) % FRAME + self.delay, np.float32))[:held]
        self.reset()
        return out


def delayed(line: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A frame through a delay line holding `line`: the frame's length of samples out, and the line after it."""
    joined = np.concatenate([line, frame])
    return joined[:len(frame)], joined[len(frame):]


def cross_fade(first: np.ndarray, second: np.ndarray, start: float, end: float) -> np.ndarray:
    """A frame of `second` weighted from `start` after the frame before to `end` at its last sample, `first` the
    rest; either alone where the weight stays 0 or 1."""
    if start == end and end in (0.0, 1.0):
        return second if end else first
    weights = np.linspace(start, end, len(first) + 1, dtype=np.float32)[1:]
    return weights * second + (1 - weights) * first


def suppress_noise(audio: np.ndarray, settings: SuppressionSettings = SuppressionSettings(),
                   sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A whole waveform through a new `NoiseSuppressor`: what a stream of it gives, of the same length."""
    suppressor = NoiseSuppressor(settings, sample_rate)
    return np.concatenate([suppressor.push(audio), suppressor.flush()])


def suppression_config(settings: SuppressionSettings | None) -> dict:
    """The suppression as a front end records it: `{"suppression": {...}}`, or `{}` for none."""
    return part_config("suppression", settings)


def suppression_settings(frontend: dict | None) -> SuppressionSettings | None:
    """The suppression settings of a recorded front end; `None` when it has none."""
    return part_settings(frontend, "suppression", SuppressionSettings, "noise suppression")
