"""The end-to-end system: CPC's encoder and GRU trained with the emotion head from raw audio."""

from __future__ import annotations

import keras
from keras import ops

from keras_cpc.layers import ConvEncoder
from keras_cpc.models.recognizer import EmotionRecognizer


@keras.saving.register_keras_serializable(package="keras_cpc")
class EndToEndRecognizer(keras.Model):
    """Raw audio -> ConvEncoder -> GRU -> `EmotionRecognizer`, all trained together.

    Inputs: `{"audio": (batch, samples) zero-padded at the end, "lengths": (batch,) samples}`.
    Frames of the padding are masked in the head; the GRU runs forwards, so padding at the
    end never changes the valid frames. Same sizes as `CPC` and `EmotionRecognizer`.
    """

    def __init__(self, encoder_channels: int = 128, context_units: int = 256, recognizer: dict | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.encoder_channels, self.context_units = encoder_channels, context_units
        self.recognizer_config = dict(recognizer or {})
        self.encoder = ConvEncoder(encoder_channels, name="encoder", dtype=self.dtype_policy)
        self.autoregressor = keras.layers.GRU(context_units, return_sequences=True, name="autoregressor",
                                              dtype=self.dtype_policy)
        self.recognizer = EmotionRecognizer(**self.recognizer_config, name="recognizer", dtype=self.dtype_policy)

    def build(self, input_shape):
        audio_shape = tuple(input_shape["audio"])
        self.encoder.build(audio_shape)
        frames_shape = self.encoder.compute_output_shape(audio_shape)
        self.autoregressor.build(frames_shape)
        self.recognizer.build({"features": (None, None, self.context_units), "lengths": (None,)})

    def call(self, inputs, training: bool = False):
        context = self.autoregressor(self.encoder(inputs["audio"]), training=training)
        field, hop = self.encoder.receptive_field, self.encoder.hop_length
        lengths = ops.maximum(0, (ops.cast(inputs["lengths"], "int32") - field) // hop + 1)
        return self.recognizer({"features": context, "lengths": lengths}, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape["audio"][0], self.recognizer.outputs)

    def get_config(self):
        config = super().get_config()
        config.update(encoder_channels=self.encoder_channels, context_units=self.context_units,
                      recognizer=self.recognizer_config)
        return config
