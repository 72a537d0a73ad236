"""Seeded channel shifts of 16 kHz mono float32 speech: level, noise, babble, rooms, telephone, codec, microphone tilt.

`apply_condition` gives the fixed conditions of the out-of-domain evaluation (`CONDITIONS`), bit-identical for the same
(name, audio, seed, babble); `random_shift` draws one random channel per call from continuous ranges for training
augmentation. Both take and return NumPy arrays of the input's length; no TensorFlow here.

SNRs are relative to `active_power` (the speech's power over its active frames); the noise power is its mean square
over the whole clip. Everything random is drawn from a `np.random.Generator`, never from a global random state.

Libraries: pyroomacoustics for the rooms (its image-source method, with a seeded stochastic late tail:
`room_impulse_response`); SciPy for the filters (Butterworth band limits, the RBJ cookbook shelves of `shelf`, FFT
convolution); soundfile (libsndfile) for the Vorbis codec; soxr for the telephone's resampling to 8 kHz and back.
Noise, babble, mu-law and gains are a few lines of NumPy.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pyroomacoustics as pra
import soundfile
import soxr
from scipy.signal import butter, fftconvolve, sosfilt

from keras_cpc.audio import SAMPLE_RATE, audio_files

FRAME = SAMPLE_RATE * 25 // 1000  # 25 ms frames for the active power
ACTIVE_RANGE_DB = 30.0  # frames within this of the loudest frame are active
NOISE_SLOPES = {"white": 0.0, "pink": -10 * np.log10(2), "brown": -20 * np.log10(2)}  # dB per octave of the PSD
NOISE_FLOOR_HZ = 20.0  # coloured noise is flat below this (no infrasonic drift in pink or brown noise)
BABBLE_TALKERS = 4
BABBLE_SOURCES = 20  # waveforms that babble is drawn from
PEAK = 0.99
ROOM_MIN, ROOM_MAX = np.array([3.0, 3.0, 2.4]), np.array([10.0, 8.0, 4.0])  # shoebox dimensions in m
WALL_MARGIN = 0.5  # m between source or microphone and any wall
MIN_DISTANCE = 1.0  # m between source and microphone
ISM_ORDER = 12  # image-source reflection order; the late tail beyond it is stochastic
SHELF_Q = 0.707
TELEPHONE_BAND = (300.0, 3400.0)
TELEPHONE_ORDER = 6  # Butterworth band-pass, 36 dB/octave on either side
TELEPHONE_RATE = 8000
MU = 255  # G.711 mu-law, 8 bit
A_LAW = 87.6  # G.711 A-law, 8 bit
NOISE_SNR_DB = (5.0, 30.0)  # the SNR range of `random_shift`'s noise, unless given
VORBIS_COMPRESSION = 1.0  # libsndfile's highest compression level: its lowest Vorbis quality (~35 kbit/s here)


def active_power(audio: np.ndarray) -> float:
    """Mean square over the whole 25 ms frames within 30 dB of the loudest one (the clip if shorter than a frame)."""
    audio = np.asarray(audio, dtype=np.float64)
    usable = len(audio) - len(audio) % FRAME
    frames = audio[:usable].reshape(-1, FRAME) if usable else audio[None]
    powers = np.mean(frames**2, axis=1)
    return float(np.mean(powers[powers >= powers.max() * 10 ** (-ACTIVE_RANGE_DB / 10)]))


def room_impulse_response(rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-energy impulse response of a random shoebox room with reverberation time `rt60` s, from the direct path on.

    Room dimensions (3-10 x 3-8 x 2.4-4 m) and source and microphone positions (0.5 m from the walls, 1 m apart or
    more) are drawn from `rng`. The wall absorption is pyroomacoustics' inverse Sabine formula for `rt60`; its image
    sources up to order 12 give the direct path and early reflections. A full image-source model of the late part
    takes seconds, so past the time up to which order 12 is complete (12 x smallest dimension / 2c) the response is
    Gaussian noise from `rng` decaying 60 dB per `rt60`, scaled to the image sources' energy over the half before.
    Samples before the direct-path peak are dropped, so convolving does not delay the speech.
    """
    dimensions = rng.uniform(ROOM_MIN, ROOM_MAX)
    while True:
        source, microphone = rng.uniform(WALL_MARGIN, dimensions - WALL_MARGIN, size=(2, 3))
        if np.linalg.norm(source - microphone) >= MIN_DISTANCE:
            break
    absorption, _ = pra.inverse_sabine(rt60, dimensions)
    room = pra.ShoeBox(dimensions, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=ISM_ORDER)
    room.add_source(source)
    room.add_microphone(microphone)
    room.compute_rir()
    early = room.rir[0][0]
    early = early[np.argmax(np.abs(early)):]
    complete = int(ISM_ORDER * dimensions.min() / (2 * pra.constants.get("c")) * SAMPLE_RATE)
    early = np.pad(early, (0, max(0, complete - len(early))))[:complete]
    length = max(int(rt60 * SAMPLE_RATE), 2 * complete)
    decay = 10 ** (-3 * np.arange(length) / (rt60 * SAMPLE_RATE))  # amplitude down 60 dB at rt60
    before = slice(complete // 2, complete)
    tail = rng.standard_normal(length) * decay * np.sqrt(np.sum(early[before] ** 2) / np.sum(decay[before] ** 2))
    rir = np.concatenate([early, tail[complete:]])
    return rir / np.linalg.norm(rir)


def _waveform(audio: np.ndarray) -> np.ndarray:
    """`audio` as float32, or a ValueError when it is not a non-empty 1-D waveform."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"expected a non-empty 1-D waveform, got an array of shape {audio.shape}")
    return audio


def _fit(audio: np.ndarray, length: int) -> np.ndarray:
    """`audio` as float32, cropped or zero-padded at the end to `length` samples."""
    return np.pad(audio[:length], (0, max(0, length - len(audio)))).astype(np.float32)


def _gain(audio: np.ndarray, db: float) -> np.ndarray:
    """A pure level change by `db` dB (no clipping)."""
    return (audio * 10 ** (db / 20)).astype(np.float32)


def _peak_normalise(audio: np.ndarray) -> np.ndarray:
    """Scaled so that the largest magnitude is 0.99; silence is returned unchanged."""
    peak = np.abs(audio).max()
    return (audio * (PEAK / peak)).astype(np.float32) if peak > 0 else audio.copy()


def colored_noise(length: int, slope_db: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power spectrum changes by `slope_db` per octave above 20 Hz (0 white, -3 pink, -6 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.maximum(np.fft.rfftfreq(length, 1 / SAMPLE_RATE), NOISE_FLOOR_HZ)
    return np.fft.irfft(spectrum * frequencies ** (slope_db / (20 * np.log10(2))), length)


def _babble(babble: Sequence[np.ndarray], length: int, talkers: int, rng: np.random.Generator) -> np.ndarray:
    """Sum of `talkers` waveforms drawn from `babble` (with replacement when it holds fewer), at equal active power.

    Each starts at a random offset and is tiled or cropped to `length`.
    """
    if len(babble) == 0:
        raise ValueError("babble needs other speakers' waveforms in `babble`; none were given")
    mix = np.zeros(length)
    for index in rng.choice(len(babble), size=talkers, replace=len(babble) < talkers):
        talker = _waveform(babble[index])
        power = active_power(talker)
        if power == 0:
            raise ValueError(f"babble waveform {index} is silent")
        mix += np.resize(np.roll(talker, -rng.integers(len(talker))), length) / np.sqrt(power)
    return mix


def add_at_snr(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`audio` plus `noise` scaled to `snr_db` below the audio's active power."""
    scale = np.sqrt(active_power(audio) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return (audio + scale * noise).astype(np.float32)


def _reverberate(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """`audio` convolved with `rir`, cut to the input's length."""
    return fftconvolve(audio, rir)[: len(audio)].astype(np.float32)


def _band_limit(audio: np.ndarray, low_hz: float, high_hz: float, order: int) -> np.ndarray:
    """Butterworth band-pass of `order` (6 `order` dB per octave on either side)."""
    sos = butter(order, (low_hz, high_hz), btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, audio).astype(np.float32)


def shelf(audio: np.ndarray, frequency: float, gain_db: float, kind: Literal["low", "high"],
          q: float = SHELF_Q) -> np.ndarray:
    """A low shelf (`gain_db` at DC) or a high shelf (`gain_db` at Nyquist) with corner `frequency` Hz, as float32.

    The biquad of RBJ's "Audio EQ Cookbook": 0 dB at the other end, `gain_db / 2` at `frequency`; Q 0.707 (shelf
    slope 1) is the steepest that stays monotonic. The two kinds differ only by the sign `s` (+1 low, -1 high).
    """
    if kind not in ("low", "high"):
        raise ValueError(f"shelf kind must be 'low' or 'high', got {kind!r}")
    if not 0 < frequency < SAMPLE_RATE / 2:
        raise ValueError(f"shelf frequency must lie strictly between 0 and {SAMPLE_RATE // 2} Hz, got {frequency}")
    s = 1 if kind == "low" else -1
    a = 10 ** (gain_db / 40)  # the cookbook's A: amplitude gain at the shelved end is A^2
    w0 = 2 * np.pi * frequency / SAMPLE_RATE
    cos, edge = np.cos(w0), np.sqrt(a) * np.sin(w0) / q  # edge: the cookbook's 2 sqrt(A) alpha
    b = a * np.array([a + 1 - s * (a - 1) * cos + edge, 2 * s * (a - 1 - s * (a + 1) * cos),
                      a + 1 - s * (a - 1) * cos - edge])
    den = np.array([a + 1 + s * (a - 1) * cos + edge, -2 * s * (a - 1 + s * (a + 1) * cos),
                    a + 1 + s * (a - 1) * cos - edge])
    return sosfilt(np.concatenate([b, den])[None] / den[0], audio).astype(np.float32)  # one second-order section


def _shelves(audio: np.ndarray, low_hz: float, low_db: float, high_hz: float, high_db: float) -> np.ndarray:
    """A low shelf (gain `low_db` at DC) then a high shelf (gain `high_db` at Nyquist), Q 0.707."""
    return shelf(shelf(audio, low_hz, low_db, "low"), high_hz, high_db, "high")


def _mu_law(audio: np.ndarray) -> np.ndarray:
    """8-bit mu-law companding (G.711's curve, mu = 255) of `audio` clipped to [-1, 1]."""
    compressed = np.sign(audio) * np.log1p(MU * np.minimum(np.abs(audio), 1)) / np.log1p(MU)
    quantised = np.round(compressed * 127) / 127
    return np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(MU)) / MU


def _a_law(audio: np.ndarray) -> np.ndarray:
    """8-bit A-law companding (G.711's curve, A = 87.6) of `audio` clipped to [-1, 1]."""
    magnitude, norm = np.minimum(np.abs(audio), 1), 1 + np.log(A_LAW)
    compressed = np.where(magnitude < 1 / A_LAW, A_LAW * magnitude, 1 + np.log(np.maximum(A_LAW * magnitude, 1)))
    quantised = np.round(compressed / norm * 127) / 127 * norm
    expanded = np.where(quantised < 1, quantised / A_LAW, np.exp(quantised - 1) / A_LAW)
    return np.sign(audio) * expanded


def _voice_link(audio: np.ndarray, low_hz: float, high_hz: float, order: int,
                codec: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """Butterworth band-pass, resampled to 8 kHz with soxr, through `codec` if given, and resampled back to 16 kHz."""
    narrow = soxr.resample(_band_limit(audio, low_hz, high_hz, order), SAMPLE_RATE, TELEPHONE_RATE)
    if codec is not None:
        narrow = codec(narrow)
    return _fit(soxr.resample(narrow, TELEPHONE_RATE, SAMPLE_RATE), len(audio))


def _narrowband(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random narrowband voice link (a phone line, VoIP, a headset's call mode): band-pass of order 4-8 from
    200-400 Hz to 3-3.6 kHz at 8 kHz, with 8-bit A-law or without (even odds)."""
    low, high, order = rng.uniform(200, 400), rng.uniform(3000, 3600), rng.integers(4, 9)
    return _voice_link(audio, low, high, order, _a_law if rng.random() < 0.5 else None)


def _telephone(audio: np.ndarray) -> np.ndarray:
    """Band-pass 300-3400 Hz, resampled to 8 kHz with soxr, mu-law 8 bit, resampled back to 16 kHz."""
    return _voice_link(audio, *TELEPHONE_BAND, TELEPHONE_ORDER, _mu_law)


def _vorbis(audio: np.ndarray) -> np.ndarray:
    """Encoded to Ogg Vorbis at libsndfile's lowest quality in memory, and decoded."""
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, SAMPLE_RATE, format="OGG", subtype="VORBIS", compression_level=VORBIS_COMPRESSION)
    buffer.seek(0)
    return _fit(soundfile.read(buffer, dtype="float32")[0], len(audio))


def babble_sources(paths: Sequence[str]) -> list[str]:
    """`BABBLE_SOURCES` of `paths` (a training set's files), spread evenly over them, for augmentation's babble."""
    return list(paths[::len(paths) // BABBLE_SOURCES + 1])


def protocol_babble_files(folder: str | os.PathLike) -> list[str]:
    """The files of a folder of other talkers' speech that the out-of-domain protocol's babble is made from: its first
    `BABBLE_SOURCES` audio files (fewer if it holds fewer). Raises as `audio_files`."""
    return [str(path) for path in audio_files([folder])[:BABBLE_SOURCES]]


def augmentation_babble_files(folder: str | os.PathLike) -> list[str]:
    """The files of the same folder that augmentation's babble is made from: `babble_sources` of those after the
    protocol's, so that the two never share a file. Raises as `audio_files`, and ValueError when none is left."""
    others = [str(path) for path in audio_files([folder])[BABBLE_SOURCES:]]
    if not others:
        raise ValueError(f"{folder}: no audio file after the first {BABBLE_SOURCES}, which the protocol's babble takes")
    return babble_sources(others)


def _noise(color: str, length: int, rng: np.random.Generator, babble: Sequence[np.ndarray],
           talkers: int = BABBLE_TALKERS) -> np.ndarray:
    """`length` samples of white, pink or brown noise, or babble of `talkers` waveforms from `babble`."""
    return (_babble(babble, length, talkers, rng) if color == "babble"
            else colored_noise(length, NOISE_SLOPES[color], rng))


_Condition = Callable[[np.ndarray, np.random.Generator, Sequence[np.ndarray]], np.ndarray]
_CONDITIONS: dict[str, _Condition] = {
    "clean": lambda audio, rng, babble: audio.copy(),
    "level-20": lambda audio, rng, babble: _gain(audio, -20),
    "level+10": lambda audio, rng, babble: _gain(audio, 10),
    "peak": lambda audio, rng, babble: _peak_normalise(audio),
    **{f"{color}-{snr}db": lambda audio, rng, babble, color=color, snr=snr:
       add_at_snr(audio, _noise(color, len(audio), rng, babble), snr)
       for color in ("white", "pink", "babble") for snr in (20, 10)},
    **{f"rt60-{rt60}": lambda audio, rng, babble, rt60=rt60: _reverberate(audio, room_impulse_response(rt60, rng))
       for rt60 in (0.3, 0.8)},
    "telephone": lambda audio, rng, babble: _telephone(audio),
    "vorbis": lambda audio, rng, babble: _vorbis(audio),
    # a small microphone's tilt: weak bass, bright top
    "tilt": lambda audio, rng, babble: _shelves(audio, 300.0, -6.0, 4000.0, 6.0),
}
CONDITIONS: tuple[str, ...] = tuple(_CONDITIONS)


def apply_condition(name: str, audio: np.ndarray, seed: int, babble: Sequence[np.ndarray] = ()) -> np.ndarray:
    """`audio` (16 kHz mono) through evaluation condition `name`, with noise and rooms drawn from `seed`.

    `babble` holds other speakers' waveforms for the babble conditions. The result is float32 of the input's length,
    bit-identical for the same arguments. Raises ValueError for an unknown name, a babble condition without `babble`,
    or audio that is not a non-empty 1-D waveform.
    """
    if name not in _CONDITIONS:
        raise ValueError(f"unknown channel condition {name!r}; known: {', '.join(CONDITIONS)}")
    return _CONDITIONS[name](_waveform(audio), np.random.default_rng(seed), babble)


def _babble_on_top(rng: np.random.Generator, share: float, snr_db: tuple[float, float],
                   babble: Sequence[np.ndarray]) -> Callable[[np.ndarray], np.ndarray] | None:
    """With probability `share`, a function adding 1-6 talker babble at an SNR uniform in `snr_db`, else `None`; all
    drawn from `rng` at once, before any draw that depends on an audio's length, so that a generator seeded per
    speaker gives all their files the same decision, talkers and SNR."""
    babbled, snr, own = rng.random() < share, rng.uniform(*snr_db), np.random.default_rng(rng.integers(2**63))
    if not babbled:
        return None
    talkers = own.integers(1, 7)
    return lambda audio: add_at_snr(audio, _noise("babble", len(audio), own, babble, talkers=talkers), snr)


def random_shift(audio: np.ndarray, rng: np.random.Generator, babble: Sequence[np.ndarray] = (),
                 gain: bool = True, snr_db: tuple[float, float] = NOISE_SNR_DB, narrowband: float = 0.0,
                 extra_babble: float = 0.0) -> np.ndarray:
    """`audio` (16 kHz mono) through one random channel drawn from `rng` alone, for training augmentation.

    With probability 0.5 each, in this order: a random room with RT60 uniform in [0.2, 1] s; white, pink, brown or
    (when `babble` is given) 1-6 talker babble noise at an SNR uniform in `snr_db` (default [5, 30] dB); with
    probability `extra_babble` (when `babble` is given), 1-6 talker babble on top, at an SNR uniform in `snr_db`;
    then either a Butterworth band limit (order 1-4, low cut 50-400 Hz, high cut 3-7.8 kHz) or two shelves (low at
    100-500 Hz, high at 2-6 kHz, each ±8 dB). With probability `narrowband`, a narrowband voice link (8 kHz,
    200-400 Hz to 3-3.6 kHz, A-law or not) takes the place of that step outright, which then comes with probability
    0.5 (1 - `narrowband`). Always last (unless not `gain`), a gain uniform in [-25, +15] dB. Returns float32 of the
    input's length; with `narrowband` or `extra_babble` 0, no draw is spent on it (the channels drawn before they
    existed).
    """
    audio = _waveform(audio)
    on_top = _babble_on_top(rng, extra_babble, snr_db, babble) if extra_babble and len(babble) else None
    if rng.random() < 0.5:
        audio = _reverberate(audio, room_impulse_response(rng.uniform(0.2, 1.0), rng))
    if rng.random() < 0.5:
        colors = [*NOISE_SLOPES, "babble"] if len(babble) else list(NOISE_SLOPES)
        noise = _noise(colors[rng.integers(len(colors))], len(audio), rng, babble, talkers=rng.integers(1, 7))
        audio = add_at_snr(audio, noise, rng.uniform(*snr_db))
    if on_top is not None:
        audio = on_top(audio)
    if narrowband and rng.random() < narrowband:
        audio = _narrowband(audio, rng)
    elif rng.random() < 0.5:
        if rng.random() < 0.5:
            audio = _band_limit(audio, rng.uniform(50, 400), rng.uniform(3000, 7800), rng.integers(1, 5))
        else:
            audio = _shelves(audio, rng.uniform(100, 500), rng.uniform(-8, 8), rng.uniform(2000, 6000),
                             rng.uniform(-8, 8))
    return _gain(audio, rng.uniform(-25, 15)) if gain else audio.astype(np.float32)
