"""MFCC front end of the supervised baseline (40 coefficients, 25 ms window, 10 ms hop)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_cpc.layers.pitch import Pitch


def dct_matrix(size: int) -> np.ndarray:
    """`(size, size)` DCT-II of `tf.signal.mfccs_from_log_mel_spectrograms`: `x @ M` is `dct(x, type=2)` (unnormalised,
    `2 sum_n x_n cos(pi k (2n + 1) / 2size)`) times `1 / sqrt(2 size)`."""
    n, k = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return 2 * np.cos(np.pi * k * (2 * n + 1) / (2 * size)) / np.sqrt(2 * size)


def default_band(sample_rate: int) -> tuple[float, float]:
    """The MFCCs' mel band unless one is given: 20 Hz to half the sample rate."""
    return 20.0, sample_rate / 2


def banded(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(indices, weights)`, each `(columns, width)`: the rows of each column of `matrix` from its first to its last
    non-zero entry (padded with row 0 and weight 0 to the widest), so that `x @ matrix` is
    `sum(x[..., indices] * weights, -1)` for a matrix whose columns are bands, as a mel filterbank's."""
    spans = [np.flatnonzero(column) for column in matrix.T]
    starts = [span[0] if len(span) else 0 for span in spans]
    width = max(span[-1] - start + 1 if len(span) else 1 for span, start in zip(spans, starts))
    indices = np.zeros((matrix.shape[1], width), np.int32)
    weights = np.zeros((matrix.shape[1], width), np.float32)
    for column, start in enumerate(starts):
        rows = np.arange(start, min(start + width, matrix.shape[0]))
        indices[column, :len(rows)], weights[column, :len(rows)] = rows, matrix[rows, column]
    return indices, weights


@keras.saving.register_keras_serializable(package="keras_cpc")
class MFCC(keras.layers.Layer):
    """Maps a waveform `(batch, samples)` to MFCCs `(batch, frames, coefficients)`.

    Hann-windowed STFT frames of `window` samples every `hop` samples (no padding, so
    `frames = 1 + (samples - window) // hop`), a mel filterbank of `coefficients` bands over
    `band` Hz (default 20 Hz .. sample_rate / 2), log, then the DCT-II of `tf.signal.mfccs_from_log_mel_spectrograms`
    (`dct_matrix`: LiteRT has builtin ops for it, not for tf.signal's DCT). Both linear maps are element-wise
    products summed, not matrix products: LiteRT's dynamic-range quantization would quantize a matrix product's input
    on the fly to 8 bits, which rounds a spectrum's quiet bands to zero (their log to -14) and moved a shipped model's
    estimates by up to 1.06; the filterbank multiplies each band's bins only (`banded`: 40 x 31 weights instead of
    40 x 257, what an edge export stores in float32). Computes in float32 unless
    given another `dtype`: `tf.signal.stft` takes no 16-bit input, so a mixed-precision policy
    would break it.
    """

    def __init__(
        self, coefficients: int = 40, window: int = 400, hop: int = 160, sample_rate: int = 16000,
        band: Sequence[float] | None = None, **kwargs,
    ):
        super().__init__(**{"dtype": "float32", **kwargs})
        self.coefficients, self.window, self.hop, self.sample_rate = coefficients, window, hop, sample_rate
        self.band = default_band(sample_rate) if band is None else tuple(float(f) for f in band)
        if not 0 <= self.band[0] < self.band[1] <= sample_rate / 2:
            raise ValueError(f"MFCC band {self.band} Hz is not within 0 .. {sample_rate / 2:g} Hz, low to high")
        self.fft_length = 1 << (window - 1).bit_length()
        self.bins, self.filters = banded(tf.signal.linear_to_mel_weight_matrix(
            coefficients, self.fft_length // 2 + 1, sample_rate, *self.band).numpy())
        self.dct = dct_matrix(coefficients).astype(np.float32)

    def call(self, waveform):
        spectrum = tf.abs(tf.signal.stft(waveform, self.window, self.hop, self.fft_length))
        mel = tf.reduce_sum(tf.gather(spectrum, self.bins, axis=-1) * self.filters, axis=-1)
        return tf.reduce_sum(tf.math.log(mel + 1e-6)[..., :, None] * self.dct, axis=-2)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else max(0, 1 + (samples - self.window) // self.hop)
        return (input_shape[0], frames, self.coefficients)

    def get_config(self):
        config = super().get_config()
        config.update(coefficients=self.coefficients, window=self.window, hop=self.hop,
                      sample_rate=self.sample_rate, band=list(self.band))
        return config


@keras.saving.register_keras_serializable(package="keras_cpc")
class AppendMFCC(keras.layers.Layer):
    """Appends to each frame of CPC contexts `(batch, frames, units)` the `MFCC`s of the same waveform
    `(batch, samples)` that start at the frame's first sample, and after them its `Pitch` features if `pitch`:
    spectral and prosodic statistics beside the contexts, for a head that can lean on them where the contexts lose
    valence (noise, rooms). The encoder's hop must be MFCC's and its receptive field no shorter than MFCC's window
    (`check_alignment`; `Pitch` frames as `MFCC`), so the waveform has a frame of MFCCs for every context."""

    def __init__(self, coefficients: int = 40, band: Sequence[float] | None = None, pitch: bool = False, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})
        self.coefficients = coefficients
        self.mfcc = MFCC(coefficients, band=band)
        self.pitch = Pitch(self.mfcc.window, self.mfcc.hop, self.mfcc.sample_rate) if pitch else None
        self.pitch_features = Pitch.features if pitch else 0
        self.width = coefficients + self.pitch_features  # features appended to each context

    def check_alignment(self, receptive_field: int, hop: int) -> None:
        """Raises `ValueError` unless an encoder of this receptive field and hop has an MFCC frame per context."""
        if hop != self.mfcc.hop or receptive_field < self.mfcc.window:
            raise ValueError(f"MFCCs every {self.mfcc.hop} samples over {self.mfcc.window} do not align with "
                             f"contexts every {hop} samples over {receptive_field}")

    def call(self, contexts, waveform):
        frames = tf.shape(contexts)[1]
        appended = [self.mfcc(waveform)[:, :frames]] + ([self.pitch(waveform)[:, :frames]] if self.pitch else [])
        return tf.concat([contexts, *(tf.cast(a, contexts.dtype) for a in appended)], axis=-1)

    def compute_output_shape(self, contexts_shape, waveform_shape=None):
        return (*contexts_shape[:-1], contexts_shape[-1] + self.width)

    def get_config(self):
        return {**super().get_config(), "coefficients": self.coefficients, "band": list(self.mfcc.band),
                "pitch": self.pitch is not None}


def append_mfccs(coefficients: int, band: Sequence[float] | None = None, pitch: bool = False) -> AppendMFCC | None:
    """The `AppendMFCC` of `coefficients` MFCCs over `band` (and pitch, if `pitch`); `None` for none (contexts
    alone). Raises `ValueError` for pitch without MFCCs."""
    if pitch and not coefficients:
        raise ValueError("pitch is appended after the MFCCs: it needs MFCCs (coefficients > 0)")
    return AppendMFCC(coefficients, band, pitch) if coefficients else None
