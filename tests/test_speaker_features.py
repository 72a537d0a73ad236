"""Tests of the per-speaker feature normalisation (keras_cpc.speaker_features) against NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cpc.speaker_features import FeatureSettings, SpeakerFeatures, to_reference

DIM = 5
REFERENCE = (np.linspace(-1, 1, DIM), np.linspace(0.5, 2, DIM))


def _frames(seed: int, frames: int = 40, offset: float = 0.0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (offset + scale * rng.normal(size=(frames, DIM)) * np.arange(1, DIM + 1)).astype(np.float32)


def _settings(prior_frames: int = 4) -> FeatureSettings:
    return FeatureSettings(mean=tuple(REFERENCE[0]), variance=tuple(REFERENCE[1]), frame_rate=100.0,
                           prior_seconds=prior_frames / 100)


def test_to_reference_gives_a_speaker_the_reference_mean_and_variance():
    frames = _frames(0, 500, offset=3.0, scale=0.2)
    mapped = to_reference(frames, (frames.mean(0), frames.var(0)), REFERENCE)
    np.testing.assert_allclose(mapped.mean(0), REFERENCE[0], atol=1e-5)
    np.testing.assert_allclose(mapped.var(0), REFERENCE[1], rtol=1e-4)


def test_a_channel_that_shifts_and_scales_every_frame_is_taken_out():
    frames = _frames(1, 300)
    channel = frames * np.linspace(0.3, 3, DIM) + np.linspace(-2, 5, DIM)  # an affine change of every dimension
    mapped, through_channel = (to_reference(f, (f.mean(0), f.var(0)), REFERENCE) for f in (frames, channel))
    np.testing.assert_allclose(through_channel, mapped, atol=1e-4)


def test_running_statistics_equal_numpy_over_the_prior_and_the_frames_heard():
    """The prior counts as 4 frames with the reference mean and variance (m +- sqrt(v), twice each)."""
    frames = _frames(2, 30, offset=1.5)
    prior = np.concatenate([REFERENCE[0] + np.sqrt(REFERENCE[1]), REFERENCE[0] - np.sqrt(REFERENCE[1])] * 2)
    prior = prior.reshape(4, DIM)
    expected = []
    for t in range(len(frames)):
        heard = np.concatenate([prior, frames[:t + 1]]).astype(np.float64)
        expected.append(to_reference(frames[t:t + 1], (heard.mean(0), heard.var(0)), REFERENCE)[0])
    normalizer = SpeakerFeatures(_settings(4))
    np.testing.assert_allclose(normalizer.push(frames), np.array(expected), atol=1e-5)


def test_a_stream_in_any_chunks_equals_one_push():
    frames = _frames(3, 57, offset=-1.0)
    whole = SpeakerFeatures(_settings(10)).push(frames)
    for size in (1, 7, 10, 100):
        normalizer = SpeakerFeatures(_settings(10))
        chunks = [normalizer.push(frames[i:i + size]) for i in range(0, len(frames), size)]
        np.testing.assert_allclose(np.concatenate(chunks), whole, atol=1e-6)
    assert SpeakerFeatures(_settings(10)).push(frames[:0]).shape == (0, DIM)


def test_calibration_fixes_the_statistics_until_cleared_and_reset_forgets():
    frames, speaker = _frames(4, 20), (np.full(DIM, 2.0), np.full(DIM, 3.0))
    normalizer = SpeakerFeatures(_settings())
    normalizer.calibrate(speaker)
    np.testing.assert_allclose(normalizer.push(frames), to_reference(frames, speaker, REFERENCE), atol=1e-6)
    np.testing.assert_allclose(normalizer.push(frames), to_reference(frames, speaker, REFERENCE), atol=1e-6)
    normalizer.calibrate(None)
    first = normalizer.push(frames)
    normalizer.reset()
    np.testing.assert_array_equal(normalizer.push(frames), first)
    assert normalizer.statistics[0] != pytest.approx(speaker[0])


def test_a_calibration_worth_some_seconds_is_where_running_statistics_start():
    """With `seconds`, the calibration counts as that many seconds of frames with its mean and variance (the
    prior of the running statistics, m +- sqrt(v) twice each for 4 frames), mapped onto the corpus's reference when
    the speech is not presumed neutral; `reset` goes back to it."""
    frames, speaker = _frames(6, 25, offset=0.7), (np.linspace(2, 3, DIM), np.linspace(1, 4, DIM))
    neutral = (np.zeros(DIM), np.ones(DIM))
    settings = FeatureSettings(**{**_settings().__dict__, "neutral_mean": tuple(neutral[0]),
                                  "neutral_variance": tuple(neutral[1])})
    prior = np.concatenate([speaker[0] + np.sqrt(speaker[1]), speaker[0] - np.sqrt(speaker[1])] * 2).reshape(4, DIM)
    expected = []
    for t in range(len(frames)):
        heard = np.concatenate([prior, frames[:t + 1]]).astype(np.float64)
        expected.append(to_reference(frames[t:t + 1], (heard.mean(0), heard.var(0)), REFERENCE)[0])
    normalizer = SpeakerFeatures(settings)
    normalizer.calibrate(speaker, neutral=False, seconds=0.04)
    np.testing.assert_allclose(normalizer.statistics[0], speaker[0], atol=1e-9)
    np.testing.assert_allclose(normalizer.push(frames), np.array(expected), atol=1e-5)
    heard = np.concatenate([prior, frames]).astype(np.float64)
    np.testing.assert_allclose(normalizer.statistics[1], heard.var(0), atol=1e-6)
    normalizer.reset()
    np.testing.assert_allclose(normalizer.push(frames), np.array(expected), atol=1e-5)
    normalizer.calibrate(speaker, seconds=0.04)  # presumed neutral: onto the neutral reference
    np.testing.assert_allclose(normalizer.push(frames[:1]), to_reference(frames[:1], (
        np.concatenate([prior, frames[:1]]).mean(0), np.concatenate([prior, frames[:1]]).var(0)), neutral), atol=1e-5)
    for seconds in (0, -1.0, np.inf):
        with pytest.raises(ValueError, match=f"a calibration worth {seconds} s of speech"):
            normalizer.calibrate(speaker, seconds=seconds)
    normalizer.calibrate(speaker, neutral=False)  # fixed again: the prior is gone
    np.testing.assert_allclose(normalizer.push(frames), to_reference(frames, speaker, REFERENCE), atol=1e-6)
    np.testing.assert_array_equal(normalizer.statistics[0], speaker[0])


def test_a_variance_floor_bounds_the_amplification_of_near_constant_dimensions():
    frames = _frames(5, 200, scale=1e-2)  # variances about 1e-4 to 2.5e-3
    statistics = (frames.mean(0), frames.var(0))
    amplified = to_reference(frames, statistics, REFERENCE)
    floored = to_reference(frames, statistics, REFERENCE, epsilon=0.05)
    np.testing.assert_allclose(amplified.var(0), REFERENCE[1], rtol=0.02)  # a tiny default epsilon: full scale
    expected = np.sqrt((REFERENCE[1] + 0.05) / (frames.var(0) + 0.05)) * frames.std(0)
    np.testing.assert_allclose(floored.std(0), expected, rtol=1e-4)
    assert floored.std(0).max() < 0.4
    settings = FeatureSettings(mean=tuple(REFERENCE[0]), variance=tuple(REFERENCE[1]), frame_rate=100.0,
                               epsilon=0.05)
    normalizer = SpeakerFeatures(settings)
    normalizer.calibrate(statistics)
    np.testing.assert_allclose(normalizer.push(frames), floored, atol=1e-6)


def test_speech_presumed_neutral_is_mapped_onto_the_neutral_reference_and_a_whole_acted_corpus_onto_the_corpus():
    neutral = (REFERENCE[0] - 0.5, REFERENCE[1] / 2)
    settings = FeatureSettings(mean=tuple(REFERENCE[0]), variance=tuple(REFERENCE[1]), frame_rate=100.0,
                               prior_seconds=0.04, neutral_mean=tuple(neutral[0]), neutral_variance=tuple(neutral[1]))
    frames, speaker = _frames(6, 30, offset=1.0), (np.full(DIM, 1.0), np.full(DIM, 2.0))
    normalizer = SpeakerFeatures(settings)
    normalizer.calibrate(speaker)  # a calibration reading: neutral
    np.testing.assert_allclose(normalizer.push(frames), to_reference(frames, speaker, neutral), atol=1e-6)
    normalizer.calibrate(speaker, neutral=False)  # all of a speaker's acted emotions, as training maps them
    np.testing.assert_allclose(normalizer.push(frames), to_reference(frames, speaker, REFERENCE), atol=1e-6)
    normalizer.calibrate(None, neutral=False)  # a session: presumed neutral, starting at the neutral reference
    session = SpeakerFeatures(FeatureSettings(mean=tuple(neutral[0]), variance=tuple(neutral[1]), frame_rate=100.0,
                                              prior_seconds=0.04))  # neutral speech as the only reference
    np.testing.assert_allclose(normalizer.push(frames), session.push(frames), atol=1e-6)
    np.testing.assert_allclose(normalizer.statistics[0], session.statistics[0])
    without = SpeakerFeatures(_settings())  # a model without neutral statistics: one reference for both
    without.calibrate(speaker)
    np.testing.assert_allclose(without.push(frames), to_reference(frames, speaker, REFERENCE), atol=1e-6)
