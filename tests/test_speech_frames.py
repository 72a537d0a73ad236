"""Tests of the speech-frame decisions (keras_cpc.speech_frames), on powers and signals whose answer is known."""

import numpy as np
import pytest

from keras_cpc.speech_frames import (
    SpeechFrames,
    SpeechFrameSettings,
    frame_powers,
    speech_frame_config,
    speech_frame_settings,
    speech_mask,
)


def db(level: float, frames: int) -> np.ndarray:
    return np.full(frames, 10 ** (level / 10))


def test_loud_frames_over_a_quiet_floor_are_speech_and_a_hangover_follows_them():
    settings = SpeechFrameSettings(hangover_frames=4)
    speech = SpeechFrames(settings).push(np.concatenate([db(-80, 20), db(-30, 15), db(-80, 20)]))
    expected = np.zeros(55, bool)
    expected[20:35 + 4] = True  # the loud frames, then 4 more
    np.testing.assert_array_equal(speech, expected)


def test_a_steady_noise_is_not_speech_and_speech_must_stand_out_of_it_by_the_margin():
    settings = SpeechFrameSettings(hangover_frames=0)
    frames = SpeechFrames(settings)
    assert not frames.push(db(-45, 50)).any()  # above floor_dbfs, but it is the floor
    assert not frames.push(db(-36, 5)).any()  # 9 dB above the floor: not speech
    assert frames.push(db(-34, 5)).all()  # 11 dB above it
    assert not SpeechFrames(settings).push(np.concatenate([db(-100, 5), db(-65, 5)])).any()  # below floor_dbfs


def test_the_noise_floor_falls_at_once_and_rises_at_most_its_rate():
    settings = SpeechFrameSettings(rise_db_per_second=100.0, hangover_frames=0)  # 1 dB a 10 ms frame
    speech = SpeechFrames(settings, hop=160).push(np.concatenate([db(-70, 10), db(-40, 40)]))
    # after the step the floor climbs from -70 by 1 dB a frame: -40 is more than 10 dB above it for 19 frames
    np.testing.assert_array_equal(np.flatnonzero(speech), np.arange(10, 29))


def test_a_stream_decided_in_any_chunks_equals_the_whole_recording():
    rng = np.random.default_rng(0)
    audio = np.concatenate([rng.normal(0, 10 ** (level / 20), 4000) for level in (-70, -25, -60, -20, -75, -50)])
    frames = (len(audio) - 465) // 160 + 1
    whole = speech_mask(audio, frames, 465, 160)
    assert 0.2 < whole.mean() < 0.8
    powers = frame_powers(audio, frames, 465, 160)
    np.testing.assert_allclose(powers[30], np.var(audio[30 * 160:30 * 160 + 465].astype(np.float64)))
    stream = SpeechFrames()
    cuts = [0, 1, 7, 50, 51, 120, frames]
    pieces = [stream.push(frame_powers(audio[a * 160:], b - a, 465, 160)) for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_a_dc_offset_is_not_speech():
    """Two LibriSpeech files carry a DC offset 10 dB above their speech: measured about zero, no frame stood out."""
    rng = np.random.default_rng(1)
    audio = np.concatenate([rng.normal(0, 10 ** (level / 20), 4000) for level in (-70, -25, -60, -20, -75, -50)])
    frames = (len(audio) - 465) // 160 + 1
    offset = audio + 10 ** (-15 / 20)
    np.testing.assert_array_equal(speech_mask(offset, frames, 465, 160), speech_mask(audio, frames, 465, 160))
    about_zero = SpeechFrameSettings(remove_dc=False)
    assert not speech_mask(offset, frames, 465, 160, about_zero).any()
    assert speech_mask(audio, frames, 465, 160, about_zero).mean() > 0.2


def test_settings_round_trip_through_the_recorded_front_end():
    settings = SpeechFrameSettings(margin_db=8.0)
    assert speech_frame_settings({"level": {}, **speech_frame_config(settings)}) == settings
    assert speech_frame_settings({"level": {}}) is None and speech_frame_config(None) == {}
    before = {"floor_dbfs": -60.0, "margin_db": 10.0, "rise_db_per_second": 3.0, "hangover_frames": 10}
    assert speech_frame_settings({"speech_frames": before}) == SpeechFrameSettings(remove_dc=False)
    with pytest.raises(ValueError, match="unknown speech-frame settings"):
        speech_frame_settings({"speech_frames": {"margin": 3}})
