"""MFCC front end of the supervised baseline (40 coefficients, 25 ms window, 10 ms hop)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_cpc")
class MFCC(keras.layers.Layer):
    """Maps a waveform `(batch, samples)` to MFCCs `(batch, frames, coefficients)`.

    Hann-windowed STFT frames of `window` samples every `hop` samples (no padding, so
    `frames = 1 + (samples - window) // hop`), a mel filterbank of `coefficients` bands over
    20 Hz .. sample_rate / 2, log, then the DCT-II (tf.signal). Computes in float32 unless
    given another `dtype`: `tf.signal.stft` takes no 16-bit input, so a mixed-precision policy
    would break it.
    """

    def __init__(
        self, coefficients: int = 40, window: int = 400, hop: int = 160, sample_rate: int = 16000,
        **kwargs,
    ):
        super().__init__(**{"dtype": "float32", **kwargs})
        self.coefficients, self.window, self.hop, self.sample_rate = coefficients, window, hop, sample_rate
        self.fft_length = 1 << (window - 1).bit_length()

    def call(self, waveform):
        spectrum = tf.abs(tf.signal.stft(waveform, self.window, self.hop, self.fft_length))
        filterbank = tf.signal.linear_to_mel_weight_matrix(
            self.coefficients, self.fft_length // 2 + 1, self.sample_rate, 20.0, self.sample_rate / 2
        )
        log_mel = tf.math.log(tf.tensordot(spectrum, filterbank, 1) + 1e-6)
        return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else max(0, 1 + (samples - self.window) // self.hop)
        return (input_shape[0], frames, self.coefficients)

    def get_config(self):
        config = super().get_config()
        config.update(coefficients=self.coefficients, window=self.window, hop=self.hop,
                      sample_rate=self.sample_rate)
        return config
