"""Shared fixtures: the bundled real speech clips and tiny generated audio files."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from keras_cpc import rnnoise
from keras_cpc.audio import SAMPLE_RATE, load_audio

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "assets" / "samples" / "librispeech"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def sample_root() -> Path:
    """LibriSpeech-layout folder of the 12 bundled clips."""
    return SAMPLES


@pytest.fixture(scope="session")
def speech_clip() -> np.ndarray:
    """A real 7 s LibriSpeech utterance at 16 kHz."""
    return load_audio(next(SAMPLES.glob("LibriSpeech/*/4214/*/*.flac")))


@pytest.fixture
def write_audio(tmp_path):
    """`write_audio(name, samples, rate=16000, **soundfile_kwargs)` -> path of a tiny file in tmp_path."""

    def write(name, samples, rate=SAMPLE_RATE, **kwargs):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, np.asarray(samples), rate, **kwargs)
        return path

    return write


@pytest.fixture
def hide_rnnoise(monkeypatch) -> Callable[[], None]:
    """Call it to be, from then on, a platform without RNNoise's wheel (`keras_cpc.rnnoise.library` raises)."""
    def missing():
        raise ImportError("RNNoise needs the pyrnnoise package", name="pyrnnoise")

    return lambda: monkeypatch.setattr(rnnoise, "library", missing)
