"""Tests of keras_cpc.audio.load_audio against hand-computed / NumPy references."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from keras_cpc.audio import SAMPLE_RATE, AudioError, audio_files, load_audio


def _sine(freq, seconds, rate, amplitude=0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_frequency(audio, rate):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.shape[0])))
    return np.fft.rfftfreq(audio.shape[0], 1 / rate)[np.argmax(spectrum)]


def _pcm16(values):
    """Values exactly representable as 16-bit PCM, so a PCM round trip is lossless."""
    return (np.round(np.asarray(values) * 32768) / 32768).astype(np.float32)


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["clip.wav", "clip.flac", "CLIP.WAV"])
def test_lossless_round_trip(write_audio, name):
    rng = np.random.default_rng(0)
    samples = _pcm16(rng.uniform(-0.9, 0.9, 4000))
    path = write_audio(name, samples)
    audio = load_audio(path)
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert audio.flags.c_contiguous
    np.testing.assert_allclose(audio, samples, atol=1e-6)


def test_float_wav_round_trip_is_exact(write_audio):
    samples = np.linspace(-0.99, 0.99, 3001, dtype=np.float32)
    path = write_audio("float.wav", samples, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path), samples)


def test_accepts_str_path(write_audio):
    samples = _pcm16(np.full(100, 0.25))
    path = write_audio("str.wav", samples)
    np.testing.assert_allclose(load_audio(str(path)), samples, atol=1e-6)


def test_ogg_round_trip_is_approximate(write_audio):
    samples = _sine(440, 1.0, SAMPLE_RATE)
    path = write_audio("clip.ogg", samples)
    audio = load_audio(path)
    assert audio.dtype == np.float32
    assert abs(audio.shape[0] - samples.shape[0]) <= 64
    n = min(audio.shape[0], samples.shape[0])
    assert np.corrcoef(audio[:n], samples[:n])[0, 1] > 0.95
    assert abs(_peak_frequency(audio, SAMPLE_RATE) - 440) <= 2
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_stereo_is_averaged_to_mono(write_audio):
    rng = np.random.default_rng(1)
    left = rng.uniform(-0.8, 0.8, 2000).astype(np.float32)
    right = rng.uniform(-0.8, 0.8, 2000).astype(np.float32)
    path = write_audio("stereo.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    audio = load_audio(path)
    assert audio.shape == (2000,)
    np.testing.assert_allclose(audio, (left + right) / 2, atol=1e-7)


def test_stereo_with_opposite_channels_cancels(write_audio, caplog):
    """Averaging (not picking a channel): +x and -x average to silence."""
    x = _pcm16(np.linspace(-0.5, 0.5, 1000))
    path = write_audio("cancel.flac", np.stack([x, -x], axis=1))
    with caplog.at_level(logging.WARNING):
        audio = load_audio(path)
    np.testing.assert_allclose(audio, 0, atol=1e-7)


# --- resampling ----------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "freq"), [(44100, 1000.0), (8000, 440.0), (22050, 3000.0)])
def test_resamples_to_16k_preserving_duration_and_pitch(write_audio, rate, freq):
    samples = _sine(freq, 1.0, rate)
    path = write_audio(f"sine_{rate}.wav", samples, rate=rate, subtype="FLOAT")
    audio = load_audio(path)
    assert audio.dtype == np.float32
    assert abs(audio.shape[0] - samples.shape[0] * SAMPLE_RATE / rate) <= 1
    assert abs(_peak_frequency(audio, SAMPLE_RATE) - freq) <= 2
    # amplitude preserved away from the edges
    middle = audio[1000:-1000]
    assert np.abs(middle).max() == pytest.approx(0.5, abs=0.02)


def test_resample_to_other_target_rate(write_audio):
    samples = _sine(500, 0.5, SAMPLE_RATE)
    path = write_audio("sine.wav", samples, subtype="FLOAT")
    audio = load_audio(path, sample_rate=8000)
    assert abs(audio.shape[0] - 4000) <= 1
    assert abs(_peak_frequency(audio, 8000) - 500) <= 4


def test_16k_input_is_not_resampled(write_audio):
    samples = np.random.default_rng(2).uniform(-0.5, 0.5, 777).astype(np.float32)
    path = write_audio("same.wav", samples, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path), samples)


# --- errors --------------------------------------------------------------------------------


def _assert_audio_error(path, *words, **kwargs):
    with pytest.raises(AudioError) as info:
        load_audio(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    assert info.value.path == str(path)
    for word in words:
        assert word.lower() in message.lower(), message
    assert isinstance(info.value, ValueError)
    return info.value


@pytest.mark.parametrize("name", ["song.mp3", "notes.txt", "noext"])
def test_unsupported_extension(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x00" * 1000)
    error = _assert_audio_error(path, "unsupported")
    if path.suffix:
        assert path.suffix in error.problem


def test_mp3_extension_rejected_even_if_content_is_valid(write_audio, tmp_path):
    wav = write_audio("real.wav", _pcm16(np.full(100, 0.1)))
    path = tmp_path / "real.mp3"
    path.write_bytes(wav.read_bytes())
    _assert_audio_error(path, "unsupported", ".mp3")


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _assert_audio_error(path, "decode")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.flac"
    path.write_bytes(b"")
    _assert_audio_error(path, "empty")


def test_missing_file(tmp_path):
    _assert_audio_error(tmp_path / "missing.wav", "not found")


def test_wav_with_zero_frames(write_audio):
    path = write_audio("zero.wav", np.zeros(0, np.float32))
    assert path.stat().st_size > 0
    _assert_audio_error(path, "no audio")


def test_too_short(write_audio):
    path = write_audio("short.wav", _pcm16(np.full(500, 0.3)))
    error = _assert_audio_error(path, "500", "1000", "shorter", min_samples=1000)
    assert "16000" in error.problem
    assert load_audio(path, min_samples=500).shape == (500,)


def test_too_short_counts_samples_after_resampling(write_audio):
    path = write_audio("short8k.wav", _sine(200, 0.05, 8000), rate=8000, subtype="FLOAT")  # 400 samples
    assert load_audio(path, min_samples=800).shape == (800,)
    _assert_audio_error(path, "800", "801", min_samples=801)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(write_audio, bad):
    samples = np.linspace(-0.5, 0.5, 1000).astype(np.float32)
    samples[321] = bad
    path = write_audio("bad.wav", samples, subtype="FLOAT")
    _assert_audio_error(path, "nan")


def test_non_finite_in_one_stereo_channel(write_audio):
    samples = np.zeros((500, 2), np.float32)
    samples[:, 0] = 0.2
    samples[10, 1] = np.nan
    path = write_audio("bad_stereo.wav", samples, subtype="FLOAT")
    _assert_audio_error(path, "nan")


# --- silence -------------------------------------------------------------------------------


@pytest.mark.parametrize("samples", [np.zeros(1600, np.float32), np.full(1600, 5e-5, np.float32)])
def test_silent_file_warns_but_returns_audio(write_audio, caplog, samples):
    path = write_audio("silent.wav", samples, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="keras_cpc.audio"):
        audio = load_audio(path)
    np.testing.assert_array_equal(audio, samples)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()
    assert "silent" in warnings[0].getMessage()


def test_quiet_but_not_silent_file_does_not_warn(write_audio, caplog):
    samples = np.full(1600, 1e-3, np.float32)
    path = write_audio("quiet.wav", samples, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="keras_cpc.audio"):
        load_audio(path)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- discovery -----------------------------------------------------------------------------


def test_audio_files_lists_named_files_then_folders_recursively_without_hidden_names(tmp_path):
    for name in ("b/2.wav", "b/a/1.FLAC", "b/notes.txt", "b/._3.wav", "b/__MACOSX/4.wav", "b/.cache/5.ogg", "c.ogg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert audio_files([tmp_path / "c.ogg", tmp_path / "b"]) == \
        [tmp_path / "c.ogg", tmp_path / "b" / "2.wav", tmp_path / "b" / "a" / "1.FLAC"]


def test_audio_files_names_a_missing_path_an_empty_name_and_an_empty_search(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="absent.wav: no such file or folder"):
        audio_files([tmp_path / "absent.wav"])
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match=f"no audio files .* in {tmp_path}"):
        audio_files([tmp_path])
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "clip.wav").write_bytes(b"")
    monkeypatch.chdir(tmp_path / "audio")  # an empty name is refused, not read as the working directory with audio
    with pytest.raises(ValueError, match="an empty name is no file or folder"):
        audio_files(["clip.wav", ""])
