"""Tests of keras_cpc.loudness against a direct NumPy reference of the gated, forgetting speech level."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cpc.loudness import (
    BIN_DB,
    LevelNormalizer,
    LevelSettings,
    apply_frontend,
    frontend_config,
    frontend_settings,
    normalize_level,
    speech_level,
)

SETTINGS = LevelSettings()
BLOCK = 320


def reference_gains(audio: np.ndarray, settings: LevelSettings = SETTINGS) -> np.ndarray:
    """Each whole block's gain, from every earlier block's power kept in a list (no histogram)."""
    decay = np.exp(-settings.block_seconds / settings.memory_seconds)
    powers = np.mean(np.square(audio[:len(audio) // BLOCK * BLOCK].reshape(-1, BLOCK).astype(np.float64)), 1)

    def bin_of(power):
        return np.floor((10 * np.log10(power) - settings.floor_dbfs) / BIN_DB)

    gains = []
    for k in range(len(powers)):
        past, weights = powers[:k + 1], decay ** np.arange(k, -1, -1)
        heard = past > 10 ** (settings.floor_dbfs / 10)
        mean = np.sum(weights[heard] * past[heard]) / np.sum(weights[heard])
        gated = heard & (bin_of(past) >= bin_of(mean * 10 ** (-settings.relative_gate_db / 10)))
        level = np.sum(weights[gated] * past[gated]) / np.sum(weights[gated])
        gains.append(min(np.sqrt(10 ** (settings.target_dbfs / 10) / level), 10 ** (settings.max_gain_db / 20)))
    return np.array(gains)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """3 s of syllable-like bursts (harmonic tones under a 4 Hz envelope) with pauses, at about -40 dBFS,
    over a faint noise floor, starting with 0.3 s of that floor alone."""
    rng = np.random.default_rng(0)
    time = np.arange(48000) / 16000
    voice = sum(np.sin(2 * np.pi * f * time) / k for k, f in enumerate((140, 280, 420, 560), 1))
    envelope = np.clip(np.sin(2 * np.pi * 4 * time), 0, None) * (np.sin(2 * np.pi * 0.5 * time) > -0.3)
    audio = 0.01 * voice * envelope * (time > 0.3) + rng.normal(0, 1e-4, len(time))
    return audio.astype(np.float32)


def test_gains_match_the_reference(speech):
    normalizer = LevelNormalizer()
    gains = []
    for block in speech.reshape(-1, BLOCK):
        normalizer.push(block)
        gains.append(normalizer.gain)
    np.testing.assert_allclose(gains, reference_gains(speech), rtol=1e-9)
    assert max(gains) / min(gains) > 10  # the floor before speech is raised, the speech not


def test_output_is_the_audio_times_each_blocks_gain(speech):
    expected = speech * np.repeat(reference_gains(speech), BLOCK).astype(np.float32)
    np.testing.assert_allclose(normalize_level(speech), expected, rtol=1e-6, atol=1e-9)


def test_speech_ends_at_the_target_level(speech):
    out = normalize_level(speech)[-16000:]  # the last second, once the level has settled
    powers = np.mean(np.square(out.reshape(-1, BLOCK)), 1)
    loud = powers[powers > powers.max() / 10]
    assert abs(10 * np.log10(loud.mean()) - SETTINGS.target_dbfs) < 1.5


@pytest.mark.parametrize("scale", [0.1, 3.0, 10 ** (13.25 / 20)])
def test_scaled_audio_gives_the_same_output(speech, scale):
    """Invariance to the recording level, up to blocks crossing the gate's histogram bin edge (0.25 dB)."""
    original, scaled = normalize_level(speech)[4800:], normalize_level(speech * scale)[4800:]  # once speech began
    assert np.abs(scaled - original).max() < 0.03 * np.abs(original).max()


def test_streaming_equals_batch_for_any_chunks(speech):
    expected = normalize_level(speech)
    for size in (1, 123, 320, 5000):
        normalizer = LevelNormalizer()
        parts = [normalizer.push(speech[start:start + size]) for start in range(0, len(speech), size)]
        np.testing.assert_array_equal(np.concatenate([*parts, normalizer.flush()]), expected)


def test_incomplete_last_block_takes_the_last_gain(speech):
    normalizer = LevelNormalizer()
    whole = normalizer.push(speech[:1000])
    assert len(whole) == 960
    assert normalizer.flush().tolist() == (speech[960:1000] * np.float32(normalizer.gain)).tolist()
    assert len(normalize_level(speech[:1000])) == 1000


def test_a_new_level_is_learned_within_the_memory():
    """After the level drops by 20 dB, the gain rises by 20 dB within 10 memory time constants (the gate
    first leaves the quiet blocks out, then the loud ones' weight decays)."""
    rng = np.random.default_rng(1)
    settings = LevelSettings(memory_seconds=2.0)
    loud, quiet = (rng.normal(0, scale, 16000 * 20).astype(np.float32) for scale in (0.1, 0.01))
    normalizer = LevelNormalizer(settings)
    normalizer.push(loud)
    before = normalizer.gain
    normalizer.push(quiet)
    assert 20 * np.log10(normalizer.gain / before) == pytest.approx(20, abs=0.3)


def test_silence_gets_the_largest_gain_and_stays_silent():
    assert not normalize_level(np.zeros(3200, np.float32)).any()
    normalizer = LevelNormalizer()
    normalizer.push(np.full(320, 1e-7, np.float32))  # below the -100 dBFS floor
    assert normalizer.gain == pytest.approx(100.0)


def test_frontend_round_trip_and_raw_audio():
    frontend = frontend_config(SETTINGS)
    assert frontend_settings(frontend) == SETTINGS and frontend_config(None) == {}
    audio = np.ones(640, np.float32)
    assert apply_frontend(audio, {}) is audio and apply_frontend(audio, None) is audio
    with pytest.raises(ValueError, match="unknown level normalisation settings"):
        frontend_settings({"level": {"target": -20}})
    with pytest.raises(ValueError, match="holds no sample"):
        LevelNormalizer(LevelSettings(block_seconds=1e-5))


def test_speech_level_is_the_level_behind_the_last_gain(speech):
    level = speech_level(speech)
    last_gain = reference_gains(speech)[-1]
    assert level == pytest.approx(SETTINGS.target_dbfs - 20 * np.log10(last_gain), abs=1e-9)
    assert -45 < level < -35  # the bursts' level, not the pauses'
    assert speech_level(np.zeros(640, np.float32)) is None


def test_a_calibrated_stream_starts_at_the_speakers_level(speech):
    """A prior of the speaker's level sets the gain before they speak: the leading noise floor is gated
    out under it instead of being raised to the target; `None` removes the prior, `reset` keeps it."""
    level = speech_level(speech)
    normalizer = LevelNormalizer()
    normalizer.calibrate(level, seconds=10)
    expected = 10 ** ((SETTINGS.target_dbfs - level) / 20)
    for _ in range(2):
        normalizer.push(speech[:4800])  # the noise floor before the bursts
        assert normalizer.gain == pytest.approx(expected, rel=0.03)  # the prior's bin: within 0.25 dB
        normalizer.reset()
    normalizer.calibrate(None)
    normalizer.push(speech[:4800])
    assert normalizer.gain > 10 * expected  # uncalibrated: the floor alone sets the level
