"""Channel shifts: lengths and reproducibility, and each condition's numbers against references computed here."""

import audioop  # deprecated since 3.11 (removed in 3.13): G.711 here as an independent reference only

import numpy as np
import pytest
from scipy.signal import fftconvolve, welch

from keras_cpc import channels
from keras_cpc.channels import CONDITIONS, active_power, apply_condition, random_shift, room_impulse_response, shelf
from keras_cpc.channels import _a_law as a_law

RATE = 16000
SEEDED = [name for name in CONDITIONS if name.startswith(("white", "pink", "babble", "rt60"))]


def voice(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A 140 Hz harmonic tone (harmonics to 4 kHz, 1/k) under a 4 Hz syllable envelope, plus noise 50 dB down."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 29))
    envelope = 0.5 - 0.5 * np.cos(2 * np.pi * 4 * t)
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (0.2 * tone * envelope + 0.2 * 10 ** (-50 / 20) * noise).astype(np.float32)


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return voice()


@pytest.fixture(scope="module")
def babble() -> list[np.ndarray]:
    return [voice(seconds, seed) for seed, seconds in enumerate((0.7, 1.3, 0.4, 2.0, 0.9), start=1)]


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Active power of `clean` over the power of what was added."""
    return 10 * np.log10(active_power(clean) / np.mean((noisy.astype(np.float64) - clean) ** 2))


def band_energy(audio: np.ndarray, low: float, high: float) -> float:
    """Welch power summed over low <= f < high Hz."""
    frequencies, psd = welch(audio, RATE, nperseg=1024)
    return float(psd[(frequencies >= low) & (frequencies < high)].sum())


def tone_gain_db(name: str, frequency: float) -> float:
    """Level change of a steady sine through condition `name` (transient skipped)."""
    sine = (0.1 * np.sin(2 * np.pi * frequency * np.arange(RATE) / RATE)).astype(np.float32)
    out = apply_condition(name, sine, 0)
    return 10 * np.log10(np.mean(out[RATE // 4:] ** 2) / np.mean(sine[RATE // 4:] ** 2))


@pytest.mark.parametrize("name", CONDITIONS)
def test_condition_keeps_length_and_is_reproducible(name, audio, babble):
    before = audio.copy()
    out = apply_condition(name, audio, 7, babble)
    assert out.shape == audio.shape and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(audio, before)  # input untouched
    np.random.seed(1)  # NumPy's global random state plays no part: everything is drawn from the seed
    np.testing.assert_array_equal(apply_condition(name, audio, 7, babble), out)
    other_seed = apply_condition(name, audio, 8, babble)
    assert (not np.array_equal(other_seed, out)) == (name in SEEDED)


def test_levels_and_peak(audio):
    np.testing.assert_allclose(apply_condition("level-20", audio, 0), audio * 0.1, rtol=1e-6)
    np.testing.assert_allclose(apply_condition("level+10", audio, 0), audio * 10**0.5, rtol=1e-6)
    loud = audio / np.abs(audio).max() * 0.5
    assert np.abs(apply_condition("level+10", loud, 0)).max() == pytest.approx(0.5 * 10**0.5, rel=1e-6)  # no clipping
    peaked = apply_condition("peak", audio, 0)
    assert np.abs(peaked).max() == pytest.approx(0.99, rel=1e-6)
    np.testing.assert_allclose(peaked, audio * (0.99 / np.abs(audio).max()), rtol=1e-6)


def test_active_power_ignores_silence():
    amplitude = 0.3
    tone = amplitude * np.sin(2 * np.pi * 440 * np.arange(RATE // 2) / RATE)
    quiet = 1e-4 * np.random.default_rng(0).standard_normal(RATE // 2)  # 67 dB below the tone
    assert active_power(np.concatenate([quiet, tone, quiet])) == pytest.approx(amplitude**2 / 2, rel=0.01)
    short = np.array([0.5, -0.5, 0.1])  # shorter than a 25 ms frame: the whole clip
    assert active_power(short) == pytest.approx(np.mean(short**2))


@pytest.mark.parametrize("name", [name for name in CONDITIONS if name.endswith("db")])
def test_snr(name, audio, babble):
    target = float(name.rsplit("-", 1)[1].removesuffix("db"))
    assert snr_db(audio, apply_condition(name, audio, 3, babble)) == pytest.approx(target, abs=0.5)


@pytest.mark.parametrize("name, slope", [("white-10db", 0.0), ("pink-10db", -3.01)])
def test_noise_spectrum_slope(name, slope):
    long = voice(8.0)
    noise = apply_condition(name, long, 0).astype(np.float64) - long
    frequencies, psd = welch(noise, RATE, nperseg=2048)
    band = (frequencies >= 100) & (frequencies <= 6400)
    fitted = np.polyfit(np.log2(frequencies[band]), 10 * np.log10(psd[band]), 1)[0]  # dB per octave
    assert fitted == pytest.approx(slope, abs=0.3)


def schroeder_rt60(rir: np.ndarray) -> float:
    """T30: the -5 to -35 dB slope of the Schroeder backward-integrated energy decay, extrapolated to 60 dB."""
    energy = np.cumsum(rir[::-1].astype(np.float64) ** 2)[::-1]
    decay_db = 10 * np.log10(energy / energy[0])
    fit = (decay_db <= -5) & (decay_db >= -35)
    slope = np.polyfit(np.arange(len(rir))[fit] / RATE, decay_db[fit], 1)[0]  # dB per second
    return -60 / slope


@pytest.mark.parametrize("rt60", [0.3, 0.8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_room_reverberation_time(rt60, seed, audio):
    rir = room_impulse_response(rt60, np.random.default_rng(seed))
    assert schroeder_rt60(rir) == pytest.approx(rt60, rel=0.3)
    assert np.linalg.norm(rir) == pytest.approx(1.0)
    assert np.argmax(np.abs(rir[:600])) == 0  # starts at the direct path: no delay
    expected = fftconvolve(audio, room_impulse_response(rt60, np.random.default_rng(seed)))[: len(audio)]
    np.testing.assert_allclose(apply_condition(f"rt60-{rt60}", audio, seed), expected, atol=1e-6)


def test_telephone_band():
    noise = (0.1 * np.random.default_rng(0).standard_normal(2 * RATE)).astype(np.float32)
    out = apply_condition("telephone", noise, 0)
    assert 10 * np.log10(band_energy(out, 4000, RATE / 2) / band_energy(noise, 4000, RATE / 2)) < -40
    assert 10 * np.log10(band_energy(out, 0, 200) / band_energy(noise, 0, 200)) < -20
    assert 10 * np.log10(band_energy(out, 500, 3000) / band_energy(noise, 500, 3000)) == pytest.approx(0, abs=1)


@pytest.mark.parametrize("level", [3.0, 0.03])
def test_a_law_quantises_as_g711_does(level):
    speech = np.clip(voice(seed=3) * level, -1, 1).astype(np.float64)
    g711 = np.frombuffer(audioop.alaw2lin(audioop.lin2alaw((speech * 32767).astype(np.int16).tobytes(), 2), 2),
                         np.int16) / 32767

    def snr(coded: np.ndarray) -> float:
        return 10 * np.log10(np.mean(speech**2) / np.mean((coded - speech) ** 2))

    # G.711's segments approximate this curve; quiet speech tells it from mu-law (G.711 26.7 dB, mu-law 32.0)
    assert snr(a_law(speech)) == pytest.approx(snr(g711), abs=1.5)


# Energies of `random_shift(voice(), default_rng(seed), babble)` for seeds 0-7, computed before `narrowband` existed
# (git 408cf73): its draws must stay those of the augmented copies already cached and recorded.
ENERGIES_BEFORE_NARROWBAND = [1.024291071921525, 82.02689482561425, 4892.341147262019, 0.9163593099084915,
                              1.286117910250797, 8.494585591035795, 1.921903973213663, 4.861445410146777]


def test_random_shift_narrowband_channel(audio, babble, monkeypatch):
    noise = (0.1 * np.random.default_rng(0).standard_normal(2 * RATE + 1)).astype(np.float32)
    companded = []
    monkeypatch.setattr(channels, "_a_law", lambda x: companded.append(len(x)) or a_law(x))
    for seed in range(6):
        narrow = random_shift(noise, np.random.default_rng(seed), babble, gain=False, narrowband=1.0)
        assert narrow.shape == noise.shape and narrow.dtype == np.float32
        np.testing.assert_array_equal(narrow, random_shift(noise, np.random.default_rng(seed), babble, gain=False,
                                                           narrowband=1.0))
        assert 10 * np.log10(band_energy(narrow, 4000, RATE / 2) / band_energy(narrow, 500, 3000)) < -40
        assert 10 * np.log10(band_energy(narrow, 0, 100) / band_energy(narrow, 500, 3000)) < -20
    assert 0 < len(companded) < 12  # A-law in some of the 6 links, not all (each link is drawn twice above)
    for seed, energy in enumerate(ENERGIES_BEFORE_NARROWBAND):
        out = random_shift(audio, np.random.default_rng(seed), babble, narrowband=0.0, extra_babble=0.0)
        assert float(np.sum(out.astype(np.float64) ** 2)) == pytest.approx(energy, rel=1e-5)


@pytest.mark.parametrize("kind", ["low", "high"])
@pytest.mark.parametrize("frequency, gain_db", [(300.0, -6.0), (4000.0, 6.0), (150.0, 8.0), (2500.0, -8.0)])
def test_shelf_response(kind, frequency, gain_db):
    impulse = np.zeros(RATE)
    impulse[0] = 1
    response = np.abs(np.fft.rfft(shelf(impulse, frequency, gain_db, kind)))  # 1 Hz bins, DC to Nyquist
    shelved, flat = (0, RATE // 2) if kind == "low" else (RATE // 2, 0)
    assert 20 * np.log10(response[shelved]) == pytest.approx(gain_db, abs=0.01)
    assert 20 * np.log10(response[flat]) == pytest.approx(0, abs=0.01)
    assert 20 * np.log10(response[int(frequency)]) == pytest.approx(gain_db / 2, abs=0.01)  # half at the corner
    rising = np.sign(gain_db) * (1 if kind == "high" else -1)
    assert np.all(rising * np.diff(response) >= -1e-6)  # monotonic (Q 0.707), up to float32 rounding


def test_shelf_errors():
    with pytest.raises(ValueError, match="kind"):
        shelf(np.zeros(10), 300, 6, "band")
    with pytest.raises(ValueError, match="frequency"):
        shelf(np.zeros(10), 8000, 6, "high")


def test_tilt_shelves():
    assert tone_gain_db("tilt", 60) == pytest.approx(-6, abs=1)
    assert tone_gain_db("tilt", 1000) == pytest.approx(0, abs=1)
    assert tone_gain_db("tilt", 7500) == pytest.approx(6, abs=1)


def test_vorbis_is_lossy_but_close(audio):
    assert 10 < snr_db(audio, apply_condition("vorbis", audio, 0)) < 40


def test_errors(audio):
    with pytest.raises(ValueError, match=r"unknown channel condition 'echo'; known: clean, level-20, .*, tilt$"):
        apply_condition("echo", audio, 0)
    with pytest.raises(ValueError, match="babble"):
        apply_condition("babble-10db", audio, 0)
    with pytest.raises(ValueError, match="1-D"):
        apply_condition("clean", np.zeros((2, 100), np.float32), 0)


def test_random_shift_reproducible_from_the_generator_alone(audio, babble):
    def draws(seed: int, global_seed: int) -> list[np.ndarray]:
        np.random.seed(global_seed)
        rng = np.random.default_rng(seed)
        return [random_shift(audio, rng, babble) for _ in range(12)]

    first, again, other = draws(0, 1), draws(0, 2), draws(1, 1)
    for out in first:
        assert out.shape == audio.shape and out.dtype == np.float32 and np.isfinite(out).all()
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not any(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert len({out.tobytes() for out in first}) == len(first)
    assert len(random_shift(audio[:5000], np.random.default_rng(0))) == 5000  # without babble too


def test_random_shift_adds_its_noise_at_an_snr_within_the_given_range(audio, babble):
    noisy = 0
    for seed in range(8):  # the same draws but the SNR: what differs is the noise, through the same filter and gain
        quiet = random_shift(audio, np.random.default_rng(seed), babble, snr_db=(120.0, 120.0))
        loud = random_shift(audio, np.random.default_rng(seed), babble, snr_db=(0.0, 0.0))
        difference = 10 * np.log10(max(np.mean((loud - quiet) ** 2), 1e-30) / np.mean(quiet**2))
        assert difference < -80 or -6 < difference < 6, difference  # no noise drawn, or noise as loud as speech
        noisy += difference > -80
    assert 0 < noisy < 8


def test_random_shift_extra_babble_adds_babble_on_top_at_an_snr_in_the_range(audio, babble, monkeypatch):
    drawn, snrs = [], []
    noise, add = channels._noise, channels.add_at_snr
    monkeypatch.setattr(channels, "_noise", lambda color, *a, **k: drawn.append(color) or noise(color, *a, **k))
    monkeypatch.setattr(channels, "add_at_snr", lambda x, n, snr: snrs.append(snr) or add(x, n, snr))
    for extra in (0.0, 1.0):
        drawn.clear()
        snrs.clear()
        for seed in range(20):
            random_shift(audio, np.random.default_rng(seed), babble, snr_db=(7.0, 9.0), extra_babble=extra)
        assert (drawn.count("babble") >= 20) if extra else (drawn.count("babble") < 10), (extra, drawn)
        assert snrs and all(7.0 <= snr <= 9.0 for snr in snrs)
    for seed in range(20):  # a speaker's files (one seed, any length) all get babble on top, or none does
        decisions = []
        for length in (len(audio), len(audio) - 777):
            drawn.clear()
            random_shift(audio[:length], np.random.default_rng(seed), babble, extra_babble=0.5)
            decisions.append(drawn[-1:] == ["babble"])  # babble on top is the last noise drawn
        assert decisions[0] == decisions[1], seed
    drawn.clear()
    random_shift(audio, np.random.default_rng(0), (), extra_babble=1.0)  # no babble given: none on top
    assert "babble" not in drawn


def test_random_shift_without_gain_is_the_same_channel_at_the_input_level(audio, babble):
    for seed in range(6):
        gained = random_shift(audio, np.random.default_rng(seed), babble)
        level = random_shift(audio, np.random.default_rng(seed), babble, gain=False)
        ratio = gained[np.abs(level) > 1e-3] / level[np.abs(level) > 1e-3]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)  # the gain is the only difference
        assert -25 <= 20 * np.log10(ratio[0]) <= 15
