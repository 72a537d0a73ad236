"""Pitch and voicing per frame: the prosody that channels leave alone (autocorrelation of the low band)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_cpc")
class Pitch(keras.layers.Layer):
    """Maps a waveform `(batch, samples)` to `(batch, frames, 2)`: each frame's voicing and its voicing times its
    pitch in octaves from `reference` Hz.

    Frames as `MFCC`'s (Hann window of `window` samples every `hop`, no padding). Boersma's (1993) method on the band
    from `bottom` to `top` Hz, where voiced speech keeps strong harmonics under every channel of the protocol
    (telephone, noise, rooms) and hum and DC are left out: the frame's autocorrelation (an FFT of its power spectrum
    in the band), divided by the window's own, normalised to 1 at lag 0. The pitch is the peak between `low` and
    `high` Hz with the largest normalised autocorrelation plus `octave_cost` per octave above `low` (against the
    subharmonics that a short window and no path search would pick), the voicing that peak's autocorrelation clipped
    to [0, 1] (0 without a peak). The pitch is weighted by the voicing so that frames without a period (unvoiced,
    silent) say little. No weights, and no op whose input quantization would round to 8 bits. A 25 ms window holds
    under 2 periods of 75 Hz (Boersma asks for 3), so long lags are scaled up by up to 8 to undo the window: hence
    an octave cost 20 times Praat's. Computes in float32, as `MFCC`.
    """

    features = 2

    def __init__(self, window: int = 400, hop: int = 160, sample_rate: int = 16000, low: float = 75.0,
                 high: float = 500.0, bottom: float = 60.0, top: float = 2000.0, octave_cost: float = 0.2,
                 reference: float = 150.0, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})
        if not 0 < bottom < top <= sample_rate / 2 or not 0 < low < high <= top:
            raise ValueError(f"pitch from {low:g} to {high:g} Hz in the band {bottom:g} to {top:g} Hz is not within "
                             f"0 .. {sample_rate / 2:g} Hz, in order")
        # one lag either side of the range, so that a peak at its ends is a peak
        lags = np.arange(int(np.ceil(sample_rate / high)) - 1, int(sample_rate / low) + 2)
        if lags[-1] >= window - 1:  # the window's own autocorrelation is 0 there
            raise ValueError(f"a {window}-sample window holds no period of {low:g} Hz (lags up to {lags[-1]})")
        if len(lags) < 3:
            raise ValueError(f"pitch from {low:g} to {high:g} Hz spans no whole lag at {sample_rate} Hz")
        self.window, self.hop, self.sample_rate = window, hop, sample_rate
        self.low, self.high, self.bottom, self.top = low, high, bottom, top
        self.octave_cost, self.reference = octave_cost, reference
        self.fft_length = 1 << (2 * window - 1).bit_length()  # no circular wrap of any lag in the window
        self.lags = lags
        hz = np.fft.rfftfreq(self.fft_length, 1 / sample_rate)
        self.band = ((hz >= bottom) & (hz <= top)).astype(np.float32)
        hann = tf.signal.hann_window(window).numpy().astype(float)
        own = np.correlate(hann, hann, "full")[window - 1:]
        self.scale = (own[0] / own[self.lags]).astype(np.float32)  # the window's own autocorrelation undone
        inner = self.lags[1:-1]
        self.bonus = (octave_cost * np.log2(inner[-1] / inner)).astype(np.float32)
        self.octaves = np.log2(sample_rate / inner / reference).astype(np.float32)

    def call(self, waveform):
        power = tf.square(tf.abs(tf.signal.stft(waveform, self.window, self.hop, self.fft_length))) * self.band
        # the power spectrum is real and even, so its forward FFT is its inverse (LiteRT has no builtin inverse)
        even = tf.concat([power, tf.reverse(power[..., 1:-1], axis=[-1])], axis=-1)
        autocorrelation = tf.math.real(tf.signal.rfft(even))
        lags = autocorrelation[..., self.lags[0]:self.lags[-1] + 1]
        correlation = lags * self.scale / (autocorrelation[..., :1] + 1e-9)
        inner = correlation[..., 1:-1]
        peak = tf.logical_and(inner > correlation[..., :-2], inner >= correlation[..., 2:])
        score = tf.where(peak, inner + self.bonus, -1.0)  # a frame without a peak: voicing 0
        best = tf.argmax(score, axis=-1)
        voicing = tf.clip_by_value(tf.reduce_max(score, axis=-1) - tf.gather(self.bonus, best), 0.0, 1.0)
        return tf.stack([voicing, voicing * tf.gather(self.octaves, best)], axis=-1)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else max(0, 1 + (samples - self.window) // self.hop)
        return (input_shape[0], frames, self.features)

    def get_config(self):
        return {**super().get_config(), "window": self.window, "hop": self.hop, "sample_rate": self.sample_rate,
                "low": self.low, "high": self.high, "bottom": self.bottom, "top": self.top,
                "octave_cost": self.octave_cost, "reference": self.reference}
