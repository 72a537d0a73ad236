"""Tests of keras_cpc.rnnoise: a stream of 10 ms frames against RNNoise run on the whole recording resampled at once,
its alignment, and what it removes."""

from __future__ import annotations

import ctypes
import importlib.util

import numpy as np
import pytest
import soxr

from keras_cpc import rnnoise
from keras_cpc.audio import SAMPLE_RATE
from keras_cpc.rnnoise import DELAY, FRAME, LAG, RATE, RNNoise

if importlib.util.find_spec("pyrnnoise") is None:  # its package is not imported: it needs more to load
    pytest.skip("needs RNNoise's wheel, pyrnnoise (installed on Linux)", allow_module_level=True)


def whole_recording(audio: np.ndarray) -> np.ndarray:
    """The recording resampled to 48 kHz at once, RNNoise's frames each into a new array, its lag taken off, and the
    whole resampled back: aligned with the input."""
    library = rnnoise.library()
    size = library.rnnoise_get_frame_size()
    upsampled = soxr.resample(audio, SAMPLE_RATE, RATE) * 32768
    upsampled = np.concatenate([upsampled, np.zeros(-len(upsampled) % size + LAG, np.float32)])
    out, pointer, state = np.zeros_like(upsampled), ctypes.POINTER(ctypes.c_float), library.rnnoise_create(None)
    for start in range(0, len(upsampled), size):
        frame = np.ascontiguousarray(upsampled[start:start + size])
        library.rnnoise_process_frame(state, out[start:].ctypes.data_as(pointer), frame.ctypes.data_as(pointer))
    library.rnnoise_destroy(state)
    return soxr.resample(out[LAG:LAG + len(upsampled) - LAG] / 32768, RATE, SAMPLE_RATE)[:len(audio)]


@pytest.fixture(scope="module")
def noisy(speech_clip) -> tuple[np.ndarray, np.ndarray]:
    """3 s of speech, and that under white noise 10 dB below it."""
    speech = speech_clip[:48000]
    noise = np.random.default_rng(0).normal(0, np.sqrt(np.mean(speech**2) / 10), len(speech))
    return speech, (speech + noise).astype(np.float32)


def stream(audio: np.ndarray) -> np.ndarray:
    denoiser = RNNoise()
    return np.concatenate([denoiser.process(audio[start:start + FRAME]) for start in range(0, len(audio), FRAME)])


def test_a_stream_of_frames_equals_the_whole_recording_resampled_at_once_less_the_delay(noisy):
    _, audio = noisy
    out = stream(audio)
    assert out.dtype == np.float32 and len(out) == len(audio)
    np.testing.assert_array_equal(out[:DELAY - LAG // 3], 0)  # the resamplers' buffer, then RNNoise's own lag
    np.testing.assert_allclose(out[DELAY + 160:], whole_recording(audio)[160:len(audio) - DELAY], atol=2e-4)


def test_noise_is_removed_and_speech_comes_out_aligned(noisy):
    speech, audio = noisy
    out = stream(audio)[DELAY:]
    lags = range(-50, 51)
    correlations = [np.dot(np.roll(out, lag), speech[:len(out)]) for lag in lags]
    assert lags[int(np.argmax(correlations))] == 0

    def snr(signal):
        return 10 * np.log10(np.sum(speech[:len(out)] ** 2) / np.sum((signal - speech[:len(out)]) ** 2))

    assert snr(out) > snr(audio[:len(out)]) + 4  # 10 dB in, about 16 out


def test_without_its_wheel_rnnoise_is_an_import_error_naming_it(monkeypatch):
    rnnoise.library.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="needs the pyrnnoise package") as error:
        RNNoise()
    assert error.value.name == "pyrnnoise"
    monkeypatch.undo()
    rnnoise.library.cache_clear()
    assert RNNoise().process(np.zeros(FRAME)).shape == (FRAME,)
