"""Shared fixtures: the bundled real speech clips."""

from pathlib import Path

import numpy as np
import pytest

from keras_cpc.audio import load_audio

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
