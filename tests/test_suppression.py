"""Tests of keras_cpc.suppression: its framing and alignment against a direct run of WebRTC's frames, streaming
against the whole recording, and what it does to speech and to steady noise."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import lfilter
from webrtc_noise_gain import AudioProcessor

from keras_cpc import rnnoise
from keras_cpc.rnnoise import RNNoise
from keras_cpc.loudness import LevelSettings, apply_frontend, frontend_config, normalize_level
from keras_cpc.suppression import (
    DELAY,
    FRAME,
    HIGH_PASS,
    IDLE_FRAMES,
    LOW_EDGE_HZ,
    RNNOISE,
    WARM_UP_FRAMES,
    LowBandRestorer,
    NoiseGate,
    NoiseSuppressor,
    SuppressionSettings,
    suppress_noise,
    suppression_config,
    suppression_settings,
)


def webrtc(samples: np.ndarray, level: int) -> np.ndarray:
    """int16 samples, a whole number of 10 ms frames, each frame through one processor."""
    processor = AudioProcessor(0, level)
    return np.concatenate([np.frombuffer(processor.Process10ms(frame.tobytes()).audio, np.int16)
                           for frame in samples.reshape(-1, 160)])


def restored(audio: np.ndarray) -> np.ndarray:
    """The high-pass filter's inverse with its zeros at DC made poles at the low corner, by SciPy."""
    pole = np.exp(-2 * np.pi * LOW_EDGE_HZ / 16000)
    (gain, *_), denominator = HIGH_PASS
    return lfilter(np.array(denominator) / gain, [1, -2 * pole, pole**2], audio)


def padded_samples(audio: np.ndarray) -> np.ndarray:
    """The recording as int16 samples, zero-padded to whole 10 ms frames plus the delay."""
    samples = np.clip(np.round(audio.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
    padded = np.zeros((len(samples) + DELAY) // 160 * 160 + 160, np.int16)
    padded[:len(samples)] = samples
    return padded


def reference(audio: np.ndarray, level: int) -> np.ndarray:
    """The recording's padded samples, each frame through one processor, the output's low band restored, shifted back
    by the delay."""
    return restored(webrtc(padded_samples(audio), level) / 32768)[DELAY:DELAY + len(audio)]


def faded(targets: list[float], frames: int) -> np.ndarray:
    """Per-sample weights that move linearly over each 10 ms frame from the target of the frame before (0 before the
    first) to the frame's own; `targets` continued with its last to `frames` frames."""
    ends = np.concatenate([targets, np.full(frames - len(targets), targets[-1])]).astype(np.float64)
    starts = np.concatenate([[0.0], ends[:-1]])
    return (starts[:, None] + (ends - starts)[:, None] * np.linspace(0, 1, FRAME + 1)[1:]).reshape(-1)


ALWAYS = SuppressionSettings(gate_snr_db=None)
STEADY = SuppressionSettings(steady_level=4)
DENOISED = SuppressionSettings(steady_level=RNNOISE)
TIERED = SuppressionSettings(steady_level=4, low_snr_level=RNNOISE)


def snr_db(reference_audio: np.ndarray, audio: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference_audio**2) / np.sum((audio - reference_audio) ** 2)))


@pytest.fixture(scope="module")
def speech(speech_clip) -> np.ndarray:
    return speech_clip[:40000]


def test_the_whole_recording_matches_webrtc_run_frame_by_frame(speech):
    np.testing.assert_allclose(suppress_noise(speech, SuppressionSettings(3, gate_snr_db=None)), reference(speech, 3),
                               atol=1e-6)


def test_webrtc_filters_its_input_with_the_high_pass_filter_restored():
    noise = np.round(np.random.default_rng(0).normal(0, 3000, 16000)).astype(np.int16)
    np.testing.assert_allclose(webrtc(noise, 0), lfilter(*HIGH_PASS, noise), atol=1)  # 0: no suppression


def test_the_restorer_leaves_a_high_pass_filter_at_the_low_corner():
    noise = np.random.default_rng(0).normal(0, 0.1, 32000)
    restorer, filtered = LowBandRestorer(), lfilter(*HIGH_PASS, noise)
    streamed = np.concatenate([restorer(filtered[start:start + 700]) for start in range(0, len(noise), 700)])
    np.testing.assert_allclose(streamed, restored(filtered), atol=1e-6)
    pole = np.exp(-2 * np.pi * LOW_EDGE_HZ / 16000)
    high_pass = lfilter([1, -2, 1], [1, -2 * pole, pole**2], noise)
    assert np.abs(streamed - high_pass).max() < 0.03 * noise.std()  # the source's rounded coefficients


@pytest.mark.parametrize("length", [0, 50, DELAY, 160, 161, 40000])
@pytest.mark.parametrize("settings", [ALWAYS, SuppressionSettings(), STEADY, DENOISED, TIERED,
                                      replace(TIERED, rnnoise_limit_db=30.0)],
                         ids=["always", "gated", "steady", "rnnoise", "tiered", "tiered-limited"])
def test_a_stream_in_chunks_of_any_size_equals_the_whole_recording(noisy_speech, length, settings):
    audio = noisy_speech[:length]
    whole = suppress_noise(audio, settings)
    assert whole.dtype == np.float32 and len(whole) == length
    rng = np.random.default_rng(length)
    suppressor, parts, start = NoiseSuppressor(settings), [], 0
    while start < length:
        size = int(rng.integers(1, 700))
        parts.append(suppressor.push(audio[start:start + size]))
        start += size
    parts.append(suppressor.flush())
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    np.testing.assert_array_equal(np.concatenate([suppressor.push(audio), suppressor.flush()]), whole)  # a new stream


def test_a_stream_moving_between_all_the_tiers_in_chunks_equals_the_whole_recording(noisy_speech, monkeypatch):
    cycle = [3] * 20 + [2] * (IDLE_FRAMES + 10) + [0] * 20 + [3] * 30 + [1] * 30 + [2] * 40  # RNNoise stops, restarts

    def push(gate: NoiseGate, frame: np.ndarray) -> int:  # each new stream's gate starts the cycle again
        gate._frames += 1
        return cycle[(gate._frames - 1) % len(cycle)]

    monkeypatch.setattr(NoiseGate, "push", push)
    test_a_stream_in_chunks_of_any_size_equals_the_whole_recording(noisy_speech, len(noisy_speech), TIERED)


def test_speech_comes_out_aligned_and_nearly_unchanged(speech):
    out = suppress_noise(speech, ALWAYS)
    lags = range(-200, 201)
    correlations = [np.dot(np.roll(out, lag), speech) for lag in lags]
    assert abs(lags[int(np.argmax(correlations))]) <= 1  # its group delay is not a whole number of samples
    assert snr_db(speech, out) > 15  # off by a sample, 8 dB less; with WebRTC's high-pass filter, 9 dB


def test_steady_noise_is_removed_by_about_the_level_asked_for():
    noise = np.random.default_rng(0).normal(0, 0.01, 3 * 16000).astype(np.float32)
    removed = [10 * np.log10(np.mean(noise[16000:] ** 2) / np.mean(
        suppress_noise(noise, SuppressionSettings(level, gate_snr_db=None))[16000:] ** 2)) for level in (1, 2, 3, 4)]
    np.testing.assert_allclose(removed, [6, 12, 18, 21], atol=2.5)  # after a second to learn the noise


@pytest.fixture(scope="module")
def noisy_speech(speech) -> np.ndarray:
    """1 s of speech, a 1 s pause, 1 s of speech, under white noise 10 dB below the speech."""
    clip = np.concatenate([speech[:16000], np.zeros(16000, np.float32), speech[16000:32000]])
    noise = np.random.default_rng(1).normal(0, 1, len(clip)).astype(np.float32)
    return clip + noise * np.sqrt(np.mean(speech[:32000] ** 2) / np.mean(noise**2) / 10)


def test_noise_in_a_pause_is_removed_and_speech_keeps_its_level(speech, noisy_speech):
    out = suppress_noise(noisy_speech)
    clip = np.concatenate([speech[:16000], np.zeros(16000, np.float32), speech[16000:32000]])
    pause, talk = slice(17600, 30400), slice(32000, 48000)
    assert 10 * np.log10(np.mean(noisy_speech[pause] ** 2) / np.mean(out[pause] ** 2)) > 9  # level 2: about 12 dB
    assert abs(10 * np.log10(np.mean(out[talk] ** 2) / np.mean(clip[talk] ** 2))) < 1.5


def test_the_gate_passes_clean_speech_untouched_and_opens_in_noise_after_half_a_second(speech, noisy_speech):
    silence = np.zeros(8000, np.float32)
    clean = np.concatenate([silence, speech[:16000], np.zeros(16000, np.float32), speech[16000:32000]])
    np.testing.assert_array_equal(suppress_noise(clean), clean)  # its spread: over 100 dB
    noisy = np.concatenate([noisy_speech[16000:24000], noisy_speech])  # half a second of the noise first
    out, opened = suppress_noise(noisy), 49 * FRAME - DELAY  # the 50th frame fades in, aligned with its input
    np.testing.assert_array_equal(out[:opened], noisy[:opened])
    assert np.abs(out[opened:opened + FRAME] - noisy[opened:opened + FRAME]).max() > 1e-3
    np.testing.assert_allclose(out[opened + FRAME:], suppress_noise(noisy, ALWAYS)[opened + FRAME:], atol=1e-7)


def weighted_levels(frames: np.ndarray, memory_seconds: float, ages: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The frames' levels (dB) in increasing order and their weights, as the gate forgets them, summing to 1;
    `ages`: how many frames before the last each one came (minus; default: one after the other)."""
    levels = 10 * np.log10(np.mean(frames**2, axis=1))
    ages = -np.arange(len(frames))[::-1] if ages is None else ages
    weights = np.exp(ages * FRAME / 16000 / memory_seconds)
    order = np.argsort(levels)
    return levels[order], weights[order] / weights.sum()


def test_the_gate_estimates_the_spread_of_the_frame_levels_as_weighted_percentiles_do():
    rng = np.random.default_rng(3)
    frames = rng.normal(0, 1, (900, FRAME)) * 10 ** (rng.uniform(-80, -20, 900) / 20)[:, None]
    gate = NoiseGate(snr_db=35.0, memory_seconds=2.0, min_seconds=0.5)
    for frame in frames:
        gate.push(frame)
    levels, weights = weighted_levels(frames, 2.0)
    low, high = (levels[np.searchsorted(np.cumsum(weights), q)] for q in (0.10, 0.95))
    assert abs(gate.snr_estimate_db - (high - low)) <= 2 * NoiseGate.BIN_DB


@pytest.mark.parametrize("spread_db", [0.5, 3.0])
def test_the_gate_estimates_the_deviation_of_the_quietest_fifth_as_a_weighted_standard_deviation(spread_db):
    rng = np.random.default_rng(4)
    frames = rng.normal(0, 1, (900, FRAME)) * 10 ** (rng.normal(-50, spread_db, 900) / 20)[:, None]
    frames[rng.choice(900, 150, replace=False)] = 0  # digital silence: left out
    gate = NoiseGate(snr_db=35.0, memory_seconds=2.0, min_seconds=0.5, steady_db=0.9)
    for frame in frames:
        gate.push(frame)
    audible = frames.any(axis=1)
    levels, weights = weighted_levels(frames[audible], 2.0, np.flatnonzero(audible) - len(frames) + 1)
    quiet = np.cumsum(weights) <= 0.2
    deviation = np.sqrt(np.cov(levels[quiet], aweights=weights[quiet], bias=True))
    assert abs(gate.floor_deviation_db - deviation) <= 0.1 + 0.05 * deviation  # 0.5 dB bins, one frame at the edge


def test_a_steady_floor_gets_the_steady_level_and_a_changing_one_the_base_level(speech, noisy_speech):
    out, opened = suppress_noise(noisy_speech, STEADY), 49 * FRAME - DELAY  # white noise: steady from the start
    np.testing.assert_array_equal(out[:opened], noisy_speech[:opened])
    settled = opened + 4000  # the restorer's memory of the level before (its double pole at 20 Hz) has faded
    np.testing.assert_allclose(out[settled:], suppress_noise(noisy_speech, SuppressionSettings(
        4, gate_snr_db=None))[settled:], atol=1e-6)
    rng = np.random.default_rng(5)  # noise whose level changes by a few dB every 10 ms, as babble's does
    clip = np.concatenate([speech[:16000], np.zeros(16000, np.float32), speech[16000:32000]])
    gains = np.repeat(10 ** (rng.normal(0, 3, len(clip) // FRAME) / 20), FRAME)
    babble = (clip + rng.normal(0, 0.3, len(clip)) * gains * np.std(clip)).astype(np.float32)
    np.testing.assert_allclose(suppress_noise(babble, STEADY)[opened + FRAME:],
                               suppress_noise(babble)[opened + FRAME:], atol=1e-6)


def test_the_levels_cross_fade_over_one_frame_before_the_low_band_is_restored(noisy_speech, monkeypatch):
    states = iter([2] * 60 + [1] * len(noisy_speech))  # steady for 60 frames, then the base level
    monkeypatch.setattr(NoiseGate, "push", lambda gate, frame: next(states))
    out = suppress_noise(noisy_speech, STEADY)
    padded = padded_samples(noisy_speech)
    weights = faded([1] * 60 + [0], len(padded) // FRAME)
    mixed = (weights * webrtc(padded, 4) + (1 - weights) * webrtc(padded, 2)) / 32768
    expected = restored(mixed)[DELAY:DELAY + len(out)]
    start = FRAME - DELAY  # the first frame also fades in from the raw samples
    np.testing.assert_allclose(out[start:], expected[start:], atol=1e-6)


def rnnoise_stream(audio: np.ndarray, start: int = 0) -> np.ndarray:
    """RNNoise started on frame `start` of the recording: each later frame's output (`rnnoise.DELAY` late)."""
    denoiser, padded = rnnoise.RNNoise(), np.concatenate([audio, np.zeros(rnnoise.DELAY + FRAME, np.float32)])
    return np.concatenate([denoiser.process(frame) for frame in padded[start * FRAME:].reshape(-1, FRAME)])


def test_a_steady_floor_fades_to_rnnoise_which_hears_the_second_before(noisy_speech, monkeypatch):
    out, opened = suppress_noise(noisy_speech, DENOISED), 49 * FRAME - rnnoise.DELAY  # steady from the start
    np.testing.assert_array_equal(out[:opened], noisy_speech[:opened])
    denoised = rnnoise_stream(noisy_speech)[rnnoise.DELAY:]  # its output, aligned with the input
    np.testing.assert_allclose(out[opened + FRAME:], denoised[opened + FRAME:len(out)], atol=1e-6)
    switch = 150  # frames: the base level for 1.5 s, then steady; RNNoise starts from the second before
    states = iter([1] * switch + [2] * len(noisy_speech))
    monkeypatch.setattr(NoiseGate, "push", lambda gate, frame: next(states))
    start = (switch + 1) * FRAME - rnnoise.DELAY  # the fade's frame is done
    warmed = rnnoise_stream(noisy_speech, switch + 1 - WARM_UP_FRAMES)[(WARM_UP_FRAMES - 1) * FRAME:]
    np.testing.assert_allclose(suppress_noise(noisy_speech, DENOISED)[start:], warmed[FRAME:len(out) - start + FRAME],
                               atol=1e-6)


def test_an_attenuation_limit_mixes_the_input_into_rnnoise_output_alone_at_that_level(noisy_speech, monkeypatch):
    switch = 150  # frames: WebRTC's level 4 for 1.5 s, then RNNoise

    def suppressed(settings: SuppressionSettings) -> np.ndarray:
        states = iter([2] * switch + [3] * len(noisy_speech))
        monkeypatch.setattr(NoiseGate, "push", lambda gate, frame: next(states))
        return suppress_noise(noisy_speech, settings)

    out, limited = suppressed(TIERED), suppressed(replace(TIERED, rnnoise_limit_db=20.0))
    start = (switch + 1) * FRAME - rnnoise.DELAY  # the fade's frame is done: RNNoise alone
    np.testing.assert_array_equal(limited[:start - FRAME], out[:start - FRAME])  # WebRTC's output untouched
    np.testing.assert_allclose(limited[start:], 0.9 * out[start:] + 0.1 * noisy_speech[start:len(out)], atol=1e-6)


@pytest.mark.parametrize("settings, states, level4, denoising", [
    (DENOISED, [1] * 60 + [2] * 60 + [1], [0], [0] * 60 + [1] * 60 + [0]),  # the base level, steady (RNNoise), base
    (TIERED, [2] * 60 + [3] * 60 + [2], [1], [0] * 60 + [1] * 60 + [0]),  # steady, low SNR, steady again
    (TIERED, [3] * 60 + [2], [0] * 60 + [1], [1] * 60 + [0]),  # low SNR first (level 2 held), then steady: two fades
], ids=["rnnoise-steady", "steady-first", "low-snr-first"])
def test_every_fade_of_a_gate_decision_reaches_the_output_at_once(noisy_speech, monkeypatch, settings, states, level4,
                                                                   denoising):
    decisions = iter(states[:-1] + [states[-1]] * len(noisy_speech))
    monkeypatch.setattr(NoiseGate, "push", lambda gate, frame: next(decisions))
    out = suppress_noise(noisy_speech, settings)
    padded = padded_samples(noisy_speech)
    frames = (rnnoise.DELAY + len(padded)) // FRAME + 1
    at_output = lambda weights: weights[rnnoise.DELAY:rnnoise.DELAY + len(out)]  # frame k's fades, `delay` later
    steady = faded(level4, frames)[rnnoise.DELAY - DELAY:][:len(padded)]  # on WebRTC's output, itself `DELAY` late
    base = restored((steady * webrtc(padded, 4) + (1 - steady) * webrtc(padded, 2)) / 32768)[DELAY:DELAY + len(out)]
    denoised = rnnoise_stream(noisy_speech)[rnnoise.DELAY:][:len(out)]  # (started on the frames from the first)
    weights = at_output(faded(denoising, frames))
    np.testing.assert_allclose(out, weights * denoised + (1 - weights) * base, atol=1e-6)


@pytest.mark.parametrize("middle, unused, starts", [(2, IDLE_FRAMES, 1), (2, IDLE_FRAMES + 1, 2),
                                                    (0, IDLE_FRAMES + 50, 2)], ids=["kept", "stopped", "gate-off"])
def test_rnnoise_stops_after_a_second_unused_and_restarts_warm(noisy_speech, monkeypatch, middle, unused, starts):
    switch = 30 + unused  # frames: low SNR, then steady noise (or the gate off) `unused` frames, then low SNR again
    states = iter([3] * 30 + [middle] * unused + [3] * len(noisy_speech))
    monkeypatch.setattr(NoiseGate, "push", lambda gate, frame: next(states))
    started = []
    monkeypatch.setattr(rnnoise, "RNNoise", lambda: started.append(1) or RNNoise())
    out = suppress_noise(noisy_speech, TIERED)
    assert len(started) == starts
    begun = 0 if starts == 1 else switch + 1 - WARM_UP_FRAMES  # restarted at `switch` on the second before
    reference = rnnoise_stream(noisy_speech, begun)[(switch - begun) * FRAME:]  # frame `switch` on
    start = (switch + 1) * FRAME - rnnoise.DELAY  # the fade's frame is done: RNNoise alone
    np.testing.assert_allclose(out[start:], reference[FRAME:len(out) - start + FRAME], atol=1e-6)


def test_the_gate_does_not_hear_the_padding_of_a_flush(noisy_speech):
    audio = noisy_speech[:12800]  # ends in noise, the gate's last decision at frame 80 of 80
    out = suppress_noise(audio, DENOISED)
    np.testing.assert_allclose(out[-FRAME:], rnnoise_stream(audio)[rnnoise.DELAY:][len(audio) - FRAME:len(audio)],
                               atol=1e-6)  # suppressed to its end, not raw where the padding's silence was judged


def test_rnnoise_never_runs_on_a_stream_without_a_steady_floor(speech, noisy_speech, monkeypatch):
    clip = np.concatenate([speech[:16000], np.zeros(16000, np.float32), speech[16000:32000]])
    babble = clip + np.random.default_rng(5).normal(0, 0.3, len(clip)) * np.repeat(  # a changing floor
        10 ** (np.random.default_rng(6).normal(0, 3, len(clip) // FRAME) / 20), FRAME) * np.std(clip)
    monkeypatch.setattr(rnnoise, "RNNoise", None)
    opened = 50 * FRAME - DELAY  # babble: noisy from 0.5 s on, never steady; the gate opens RNNoise's delay earlier
    for settings in (DENOISED, TIERED):
        np.testing.assert_array_equal(suppress_noise(speech, settings), suppress_noise(speech, STEADY))  # never noisy
        np.testing.assert_allclose(suppress_noise(babble.astype(np.float32), settings)[opened:],
                                   suppress_noise(babble.astype(np.float32), STEADY)[opened:], atol=1e-6)


def test_digital_silence_is_never_noisy_nor_steady():
    silence = np.zeros(16000, np.float32)
    np.testing.assert_array_equal(suppress_noise(silence, SuppressionSettings(steady_level=4, gate_min_seconds=0)),
                                  silence)
    assert NoiseGate(snr_db=35.0, memory_seconds=10.0, min_seconds=0.5, steady_db=0.9).floor_deviation_db is None


def test_the_gate_decides_every_stride_of_frames():
    gate = NoiseGate(snr_db=35.0, memory_seconds=10.0, min_seconds=0.33)  # 33 frames: noisy from the 40th
    noise = np.random.default_rng(6).normal(0, 0.01, (60, FRAME))
    assert [gate.push(frame) for frame in noise].index(1) == 2 * NoiseGate.STRIDE + 19
    steady = NoiseGate(snr_db=35.0, memory_seconds=10.0, min_seconds=0.5, steady_db=0.9)
    assert [steady.push(frame) for frame in noise[:50]][-1] == 2  # white noise's floor: steady
    assert NoiseGate.from_settings(SuppressionSettings()).steady_db is None
    assert NoiseGate.from_settings(STEADY).steady_db == STEADY.gate_steady_db
    assert NoiseGate.from_settings(STEADY).low_snr_db is None
    assert NoiseGate.from_settings(TIERED).low_snr_db == TIERED.gate_low_snr_db


@pytest.mark.parametrize("low_snr_db, state", [(30.0, 3), (20.0, 2)])
def test_a_steady_floor_under_speech_by_less_than_the_low_snr_gets_the_last_level(speech, low_snr_db, state):
    noisy = speech + np.random.default_rng(7).normal(0, 1, len(speech)) * np.std(speech) * 10 ** (-20 / 20)
    gate = NoiseGate(snr_db=35.0, memory_seconds=10.0, min_seconds=0.5, steady_db=0.9, low_snr_db=low_snr_db)
    states = [gate.push(frame) for frame in noisy.reshape(-1, FRAME)]
    assert 20.0 < gate.snr_estimate_db < 30.0  # white noise 20 dB under the speech's mean power
    assert states[-1] == state


def test_the_front_end_suppresses_before_the_level_normalisation(noisy_speech):
    frontend = frontend_config(LevelSettings()) | suppression_config(ALWAYS)
    out = apply_frontend(noisy_speech, frontend, calibration=-30.0)
    np.testing.assert_array_equal(out, normalize_level(suppress_noise(noisy_speech, ALWAYS), LevelSettings(),
                                                       calibration=-30.0))
    assert np.abs(out - suppress_noise(normalize_level(noisy_speech, LevelSettings(), calibration=-30.0),
                                       ALWAYS)).max() > 1e-3  # the other order
    assert suppression_settings(frontend) == ALWAYS
    assert suppression_settings(frontend_config(LevelSettings())) is None


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="suppression level 5"):
        SuppressionSettings(5)
    with pytest.raises(ValueError, match="suppression level 0"):
        SuppressionSettings(steady_level=0)
    with pytest.raises(ValueError, match="level wiener: expected one of"):
        SuppressionSettings(steady_level="wiener")
    with pytest.raises(ValueError, match="steady-noise suppression level needs the gate"):
        SuppressionSettings(steady_level=4, gate_snr_db=None)
    with pytest.raises(ValueError, match=r"levels \(2, 2\): each must differ"):
        SuppressionSettings(2, steady_level=2)
    with pytest.raises(ValueError, match="low-SNR suppression level needs a steady-noise level"):
        SuppressionSettings(low_snr_level=RNNOISE)
    with pytest.raises(ValueError, match="low-SNR suppression level 6"):
        SuppressionSettings(steady_level=4, low_snr_level=6)
    with pytest.raises(ValueError, match="RNNoise can only be the last"):
        SuppressionSettings(steady_level=RNNOISE, low_snr_level=4)
    with pytest.raises(ValueError, match="low-SNR gate 35.0 dB: expected below the gate's 35.0 dB"):
        SuppressionSettings(steady_level=4, low_snr_level=RNNOISE, gate_low_snr_db=35.0)
    with pytest.raises(ValueError, match="attenuation limit 20.0 dB: no level is RNNoise"):
        SuppressionSettings(steady_level=4, rnnoise_limit_db=20.0)
    with pytest.raises(ValueError, match="attenuation limit 0.0 dB: expected a positive number"):
        replace(TIERED, rnnoise_limit_db=0.0)
    with pytest.raises(ValueError, match="unknown noise suppression settings"):
        suppression_settings({"suppression": {"strength": 2}})
    with pytest.raises(ValueError, match="16000 Hz, not 8000 Hz"):
        NoiseSuppressor(sample_rate=8000)
