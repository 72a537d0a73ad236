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
suppressor (`keras_cpc.rnnoise`); and where that floor is also close under the speech, to a third
(`SuppressionSettings.low_snr_level`): RNNoise gains valence in steady noise at 10 dB SNR and costs activation at 20
dB, where WebRTC's strongest level costs less. RNNoise's output alone costs activation in 10 dB noise; mixed with
the input 30 dB below it (an attenuation limit, `SuppressionSettings.rnnoise_limit_db`) it wins most of that back.
The output lags by `DELAY` samples (RNNoise's by more), which `NoiseSuppressor` takes off (the raw samples it fades
with are delayed to match), so that a stream suppressed chunk by chunk equals the whole recording suppressed at once,
sample for sample. docs/results.md, sessions 34 to 37 and 44, has the measurements.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from keras_cpc import rnnoise
from keras_cpc.audio import SAMPLE_RATE
from keras_cpc.frontend import part_config, part_settings

FRAME = 160  # 10 ms at 16 kHz, the only frame WebRTC's suppressor takes
DELAY = 96  # samples: the lag of the output's peak cross-correlation with a clean input, measured
WARM_UP_FRAMES = 100  # 1 s: what RNNoise hears before it fades in (more than its delay of `rnnoise.DELAY`)
IDLE_FRAMES = 100  # 1 s: how long RNNoise runs unused before it stops (it starts warm again if asked)
LEVELS = (1, 2, 3, 4)  # WebRTC's aggressiveness: about 6, 12, 18 and 21 dB of noise removed
RNNOISE = "rnnoise"  # a steady or low-SNR level: RNNoise (`keras_cpc.rnnoise`) in place of WebRTC
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
    (babble) costs the speech. With `low_snr_level`, a steady floor whose SNR estimate is also below
    `gate_low_snr_db` (15 dB SNR of white or pink noise estimates about 20 dB) gets that level; RNNoise, if used, is
    the last level. With `rnnoise_limit_db`, RNNoise removes at most that many dB: its output is mixed with the input
    at that level below it (an attenuation limit, as DeepFilterNet's), so that the speech it distorts is partly
    restored."""

    level: int = 2
    gate_snr_db: float | None = 35.0
    gate_memory_seconds: float = 10.0
    gate_min_seconds: float = 0.5
    steady_level: int | str | None = None
    gate_steady_db: float = 0.9
    low_snr_level: int | str | None = None
    gate_low_snr_db: float = 20.0
    rnnoise_limit_db: float | None = None

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"suppression level {self.level}: expected one of {LEVELS}")
        for name, level in (("steady-noise", self.steady_level), ("low-SNR", self.low_snr_level)):
            if level is not None and level not in STEADY_LEVELS:
                raise ValueError(f"{name} suppression level {level}: expected one of {STEADY_LEVELS}")
        if self.steady_level is not None and self.gate_snr_db is None:
            raise ValueError("a steady-noise suppression level needs the gate (gate_snr_db)")
        if self.low_snr_level is not None and self.steady_level is None:
            raise ValueError("a low-SNR suppression level needs a steady-noise level (steady_level)")
        if len(set(self.levels)) < len(self.levels):
            raise ValueError(f"suppression levels {self.levels}: each must differ from the others")
        if self.low_snr_level is not None and not self.gate_low_snr_db < self.gate_snr_db:
            raise ValueError(f"low-SNR gate {self.gate_low_snr_db} dB: expected below the gate's {self.gate_snr_db} dB")
        if RNNOISE in self.levels[:-1]:
            raise ValueError(f"suppression levels {self.levels}: RNNoise can only be the last")
        if self.rnnoise_limit_db is not None and RNNOISE not in self.levels:
            raise ValueError(f"RNNoise's attenuation limit {self.rnnoise_limit_db} dB: no level is RNNoise")
        if self.rnnoise_limit_db is not None and not 0 < self.rnnoise_limit_db < math.inf:
            raise ValueError(f"RNNoise's attenuation limit {self.rnnoise_limit_db} dB: expected a positive number")

    @property
    def rnnoise_input_share(self) -> float:
        """The weight of the input in RNNoise's output (1 minus RNNoise's own): 0 without an attenuation limit."""
        return 0.0 if self.rnnoise_limit_db is None else 10 ** (-self.rnnoise_limit_db / 20)

    @property
    def levels(self) -> tuple[int | str, ...]:
        """The suppression levels a stream may get, in the order of `NoiseGate.push`'s states after 0 (none)."""
        return tuple(level for level in (self.level, self.steady_level, self.low_snr_level) if level is not None)


class NoiseGate:
    """Whether a stream is noisy: the 95th minus the 10th percentile of the levels of its 10 ms frames (loud speech
    against the floor of its pauses: an SNR estimate), the past forgotten with a time constant of `memory_seconds`,
    below `snr_db` once `min_seconds` of frames above digital silence were heard; and, with `steady_db`, whether its
    floor is steady: the standard deviation of the levels of its quietest fifth of audible frames below `steady_db`;
    and, with `low_snr_db` too, whether that steady floor's SNR estimate is also below `low_snr_db` (as it is before
    any speech: a steady floor alone spreads by 1-6 dB).
    Frame levels are kept in a histogram of `BIN_DB` bins, so that a frame costs the same after an hour as after a
    second; the decision is taken anew every `STRIDE` frames."""

    BIN_DB = 0.5
    FLOOR_DBFS = -120.0  # quieter frames (digital silence) count in the lowest bin
    TOP_DBFS = 20.0
    QUIET_SHARE = 0.2
    STRIDE = 10  # 100 ms

    @classmethod
    def from_settings(cls, settings: SuppressionSettings) -> NoiseGate:
        """The gate `settings` ask for (it needs `gate_snr_db`), judging steadiness only with a `steady_level`, and
        a low SNR only with a `low_snr_level`."""
        return cls(settings.gate_snr_db, settings.gate_memory_seconds, settings.gate_min_seconds,
                   settings.gate_steady_db if settings.steady_level is not None else None,
                   settings.gate_low_snr_db if settings.low_snr_level is not None else None)

    def __init__(self, snr_db: float, memory_seconds: float, min_seconds: float, steady_db: float | None = None,
                 low_snr_db: float | None = None):
        self.snr_db, self.steady_db, self.low_snr_db = snr_db, steady_db, low_snr_db
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
        with a steady floor (only with `steady_db`), 3 that and a low SNR (only with `low_snr_db`)."""
        frame = np.asarray(frame, np.float64)
        power = float(np.dot(frame, frame)) / len(frame)
        level = 10 * np.log10(power) if power > 0 else self.FLOOR_DBFS
        index = int(np.clip((level - self.FLOOR_DBFS) / self.BIN_DB, 0, self._bins - 1))
        self._weights *= self._decay
        self._weights[index] += 1.0
        self._audible += index > 0  # the frames `floor_deviation_db` counts
        self._frames += 1
        if self._frames % self.STRIDE == 0:
            snr = self.snr_estimate_db
            noisy = self._audible >= self._min_frames and snr < self.snr_db
            deviation = self.floor_deviation_db if noisy and self.steady_db is not None else None
            self._state = 2 if deviation is not None and deviation < self.steady_db else int(noisy)
            self._state += self._state == 2 and self.low_snr_db is not None and snr < self.low_snr_db
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
        self._rnnoise = RNNOISE in settings.levels
        self._input_share = settings.rnnoise_input_share  # of the input in RNNoise's output, fixed for the stream
        self._webrtc_levels = [level for level in settings.levels if level != RNNOISE]
        if self._rnnoise:
            rnnoise.library()  # raises ImportError without it
        # the output's lag behind the input: RNNoise's, or WebRTC's; the faster paths are delayed to match
        self.delay = rnnoise.DELAY if self._rnnoise else DELAY
        self.reset()

    def reset(self) -> None:
        """Forgets all audio heard: the next sample starts a new stream."""
        settings = self.settings
        # 0: its automatic gain off; each level's processor runs on every frame, so that its noise model is warm
        self._processors = [self._processor_type(0, level) for level in self._webrtc_levels]
        # RNNoise starts when the gate asks for it, from the last `WARM_UP_FRAMES` frames heard; the frames since the
        # gate last asked
        self._denoiser, self._heard, self._idle = None, deque(maxlen=WARM_UP_FRAMES), 0
        self._restorer = LowBandRestorer()
        self._gate = None if settings.gate_snr_db is None else NoiseGate.from_settings(settings)
        self._pending = np.zeros(0, np.float32)
        self._raw = np.zeros(self.delay, np.float32)  # the input samples that the next output frame starts with
        # each WebRTC level's output, delayed to match RNNoise's, so that every fade of a gate decision is aligned
        self._webrtc = [np.zeros(self.delay - DELAY) for _ in self._processors]
        # as the last frame ended: the weight of the suppressed samples against the raw, the WebRTC level in use (the
        # last one held while the gate is off or RNNoise on; an index of `_webrtc_levels`), and the weight of RNNoise's
        # output against WebRTC's
        self._on, self._level, self._denoising = (0.0 if self._gate else 1.0), 0, 0.0
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
        the gate moves between them (the last WebRTC level held while it is off or RNNoise on), WebRTC's low band
        restored (after the fade between two WebRTC levels, which share the restorer; before the fade to RNNoise,
        which has no high-pass filter to undo), and that cross-faded with the raw samples as the gate opens or closes
        (every path delayed to the slowest's lag before its fade); less the delay still to drop. A frame at a time,
        so that the float sums are the same however the stream was cut."""
        samples = np.clip(np.round(frame.astype(np.float64) * 32768), -32768, 32767).astype(np.int16).tobytes()
        raw, self._raw = delayed(self._raw, frame)
        outputs = []
        for index, processor in enumerate(self._processors):
            output, self._webrtc[index] = delayed(self._webrtc[index],
                                                  np.frombuffer(processor.Process10ms(samples).audio, np.int16) / 32768)
            outputs.append(output)
        if self._gate and not self._flushing:
            self._state = self._gate.push(frame)
        state = self._state
        self.active_level = level = (None, *self.settings.levels)[state]
        denoised = self._denoise(frame, level == RNNOISE) if self._rnnoise else None
        on, self._on = self._on, float(state > 0)
        held, self._level = self._level, (self._webrtc_levels.index(level) if level in self._webrtc_levels
                                          else self._level)
        fade, self._denoising = self._denoising, (float(level == RNNOISE) if state else self._denoising)
        webrtc = outputs[held] if held == self._level else cross_fade(outputs[held], outputs[self._level], 0.0, 1.0)
        suppressed = self._restorer(webrtc)
        if denoised is not None:
            share = self._input_share
            suppressed = cross_fade(suppressed, denoised + share * (raw - denoised) if share else denoised, fade,
                                    self._denoising)
        out = cross_fade(raw, suppressed, on, self._on)
        dropped = min(self._dropping, len(out))
        self._dropping -= dropped
        return out[dropped:].astype(np.float32)

    def _denoise(self, frame: np.ndarray, wanted: bool) -> np.ndarray | None:
        """The frame's RNNoise output (`delay` samples behind it); `None` while it is not running. It starts when the
        gate asks for it (`wanted`), on the frames heard before, so that it is warm when it fades in, and stops after
        `IDLE_FRAMES` unused (it fades out in the first): a stream that never asks for it costs nothing, and one
        whose noise became weaker stops paying for it."""
        self._heard.append(frame.copy())
        self._idle = 0 if wanted else self._idle + 1
        if self._idle > IDLE_FRAMES:
            self._denoiser = None
        if self._denoiser is None:
            if not wanted:
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


def without_rnnoise(settings: SuppressionSettings) -> SuppressionSettings:
    """`settings` with RNNoise's level (the last) left out, where its library is missing: the level below it takes
    its streams (and RNNoise's attenuation limit goes with it)."""
    if settings.low_snr_level == RNNOISE:
        return replace(settings, low_snr_level=None, rnnoise_limit_db=None)
    if settings.steady_level == RNNOISE:
        return replace(settings, steady_level=None, rnnoise_limit_db=None)
    return settings


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
