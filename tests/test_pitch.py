"""`keras_cpc.layers.Pitch` against a NumPy reference, on tones of known pitch, through channels and levels."""

import keras
import numpy as np
import pytest

from keras_cpc.channels import apply_condition
from keras_cpc.layers import Pitch, append_mfccs

RATE = 16000


def _harmonic(f0: float, seconds: float = 0.5, harmonics: int = 12) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(np.sin(2 * np.pi * f0 * h * t + h) / h for h in range(1, harmonics + 1)).astype(np.float32)


def _pitch(audio: np.ndarray, **settings) -> tuple[np.ndarray, np.ndarray]:
    """(voicing, pitch in Hz) per frame of the layer."""
    out = keras.ops.convert_to_numpy(Pitch(**settings)(audio[None]))[0]
    voicing = out[:, 0]
    return voicing, 150 * 2 ** (out[:, 1] / np.maximum(voicing, 1e-9))


def _numpy_pitch(audio: np.ndarray, low=75.0, high=500.0, bottom=60.0, top=2000.0, cost=0.2, reference=150.0):
    """Boersma's autocorrelation computed another way: each frame's band-passed autocorrelation by an inverse FFT,
    the Hann window's by direct correlation, peaks by neighbours (the lag range, octave cost and voicing rule are the
    layer's, checked on tones below)."""
    window, hop, fft = 400, 160, 1024
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)  # periodic, as tf.signal.stft's
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(float), window)[::hop] * hann
    spectrum = np.fft.rfft(frames, fft)
    hz = np.fft.rfftfreq(fft, 1 / RATE)
    spectrum[:, (hz < bottom - 1e-9) | (hz > top + 1e-9)] = 0
    correlation = np.fft.irfft(np.abs(spectrum) ** 2, fft)
    own = np.correlate(hann, hann, "full")[window - 1:]
    lags = np.arange(int(np.ceil(RATE / high)), int(RATE / low) + 1)
    normalised = correlation[:, lags] / (correlation[:, :1] + 1e-9) / (own[lags] / own[0])
    before = correlation[:, lags - 1] / (correlation[:, :1] + 1e-9) / (own[lags - 1] / own[0])
    after = correlation[:, lags + 1] / (correlation[:, :1] + 1e-9) / (own[lags + 1] / own[0])
    score = np.where((normalised > before) & (normalised >= after), normalised + cost * np.log2(lags[-1] / lags), -1)
    best = score.argmax(1)
    voicing = np.clip(normalised[np.arange(len(best)), best] * (score.max(1) > -1), 0, 1)
    return voicing, voicing * np.log2(RATE / lags[best] / reference)


def test_pitch_matches_a_numpy_reference():
    rng = np.random.default_rng(3)
    t = np.arange(8000) / RATE
    glide = np.sin(2 * np.pi * np.cumsum(np.linspace(110, 260, 8000)) / RATE)  # a voice rising an octave
    for audio in (glide + 0.3 * np.sin(3 * np.pi * np.cumsum(np.linspace(110, 260, 8000)) / RATE),
                  0.5 * _harmonic(190, 0.5) + 0.05 * rng.normal(size=8000), rng.normal(size=8000) * (t < 0.3)):
        audio = audio.astype(np.float32)
        ours = keras.ops.convert_to_numpy(Pitch()(audio[None]))[0]
        np.testing.assert_allclose(ours, np.stack(_numpy_pitch(audio), axis=1), atol=2e-3)


@pytest.mark.parametrize("f0", [90.0, 140.0, 230.0, 420.0])
def test_pitch_of_a_voice_like_tone_clean_through_a_telephone_and_in_noise(f0):
    clean = _harmonic(f0, 1.0)
    for condition in ("clean", "telephone", "white-10db", "rt60-0.3"):
        audio = clean if condition == "clean" else apply_condition(condition, clean, seed=1).astype(np.float32)
        voicing, pitch = _pitch(audio)
        inner = slice(5, -5)  # away from the edges of a room's tail and the codec's
        assert np.median(np.abs(np.log2(pitch[inner] / f0))) < 0.03, condition  # within 0.03 octave
        assert np.median(voicing[inner]) > (0.85 if condition == "clean" else 0.5), condition


def test_noise_and_silence_are_less_voiced_than_a_voice():
    noise = np.random.default_rng(0).normal(size=RATE).astype(np.float32)
    voicing, _ = _pitch(noise)
    assert np.median(voicing) < 0.45 < np.median(_pitch(_harmonic(140, 1.0))[0])
    silent = keras.ops.convert_to_numpy(Pitch()(np.zeros((1, 4000), np.float32)))
    np.testing.assert_array_equal(silent, 0)


def test_pitch_does_not_depend_on_the_level():
    audio = _harmonic(170, 0.5) + 0.2 * np.random.default_rng(1).normal(size=8000).astype(np.float32)
    features = [keras.ops.convert_to_numpy(Pitch()(gain * audio[None])) for gain in (1, 0.1, 3)]
    for scaled in features[1:]:
        np.testing.assert_allclose(scaled, features[0], atol=1e-4)


def test_pitch_settings_serialise_and_impossible_ones_are_errors():
    layer = Pitch(low=80, high=400, octave_cost=0.1)
    clone = Pitch.from_config(layer.get_config())
    audio = _harmonic(200, 0.2)[None]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(audio)), keras.ops.convert_to_numpy(layer(audio)))
    with pytest.raises(ValueError, match="not within"):
        Pitch(low=300, high=200)
    with pytest.raises(ValueError, match="not within"):
        Pitch(top=9000)
    with pytest.raises(ValueError, match="holds no period of 30 Hz"):
        Pitch(low=30)
    with pytest.raises(ValueError, match="holds no period of 40.1 Hz"):  # a lag past the window's last
        Pitch(low=40.1)
    with pytest.raises(ValueError, match="from 405 to 410 Hz spans no whole lag"):
        Pitch(low=405, high=410)
    with pytest.raises(ValueError, match="pitch is appended after the MFCCs: it needs MFCCs"):
        append_mfccs(0, pitch=True)
