"""The CPC model: encoder, autoregressive context network and future predictors."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf
from keras import ops

from keras_cpc.layers import ConvEncoder, FuturePredictor
from keras_cpc.layers.encoder import PAPER_KERNELS, PAPER_STRIDES
from keras_cpc.losses import info_nce_logits, info_nce_loss, prediction_accuracy, sample_negative_indices
from keras_cpc.metrics import StepAccuracy


def example_seeds(audio: tf.Tensor, step: int | tf.Tensor) -> tf.Tensor:
    """`(batch, 2)` int32 stateless seeds: a fingerprint of each example's samples, and `step`."""
    fingerprint = tf.reduce_sum(tf.bitcast(tf.cast(audio, tf.float32), tf.int32), axis=1)  # wraps mod 2**32
    step = tf.fill(tf.shape(fingerprint), tf.cast(step, tf.int32))
    return tf.stack([fingerprint, step], axis=1)


@keras.saving.register_keras_serializable(package="keras_cpc")
class CPC(keras.Model):
    """Contrastive predictive coding on raw 16 kHz audio (paper sizes by default).

    The input is a waveform batch `(batch, samples)`. `call` returns the InfoNCE logits;
    `fit` minimises the mean InfoNCE loss over steps and logs the accuracy of every step.
    The input may also be a pair `(heard, target)` of batches of the same shape: the context
    network then hears `heard` (an augmented copy) and predicts the encoded frames of `target`
    (the clean audio), as in data-augmented CPC (Kharitonov et al., SLT 2021: augmenting the past only).
    `context(audio)` gives the features used downstream: `(batch, frames, context_units)`
    at 100 frames/s.

    Each example's negatives are drawn from a random stream seeded by a fingerprint of its
    samples and the training step, so they do not depend on how a batch is split over
    replicas, change at every step, and are fixed for validation.

    Args:
        encoder_channels: channels of the convolutional encoder (and of a prediction).
        kernel_sizes, strides: the encoder's convolutions.
        context_units: units of the GRU autoregressive model.
        prediction_steps: future frames predicted, one linear predictor each.
        negatives: negatives per context, drawn from the same sequence.
    """

    def __init__(
        self,
        encoder_channels: int = 128,
        kernel_sizes: Sequence[int] = PAPER_KERNELS,
        strides: Sequence[int] = PAPER_STRIDES,
        context_units: int = 256,
        prediction_steps: int = 12,
        negatives: int = 50,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder_channels = encoder_channels
        self.context_units = context_units
        self.prediction_steps = prediction_steps
        self.negatives = negatives
        self.encoder = ConvEncoder(encoder_channels, kernel_sizes, strides, name="encoder", dtype=self.dtype_policy)
        self.autoregressor = keras.layers.GRU(context_units, return_sequences=True, name="autoregressor",
                                              dtype=self.dtype_policy)
        self.predictor = FuturePredictor(prediction_steps, encoder_channels, name="predictor", dtype=self.dtype_policy)
        self.step_accuracy = StepAccuracy(prediction_steps)

    def build(self, input_shape):
        if isinstance(input_shape[0], (tuple, list)):  # a (heard, target) pair
            input_shape = input_shape[1]
        self.encoder.build(input_shape)
        frames_shape = self.encoder.compute_output_shape(input_shape)
        self.autoregressor.build(frames_shape)
        self.predictor.build((None, None, self.context_units))

    @property
    def min_samples(self) -> int:
        """The shortest waveform with a context to score: `prediction_steps + 1` encoder frames."""
        return self.encoder.receptive_field + self.prediction_steps * self.encoder.hop_length

    def context(self, audio, training: bool = False):
        """Context features `(batch, frames, context_units)` of a waveform batch."""
        return self.autoregressor(self.encoder(audio), training=training)

    def call(self, audio, training: bool = False):
        heard, audio = audio if isinstance(audio, (tuple, list)) else (None, audio)
        frames = self.encoder(audio)
        context = self.autoregressor(frames if heard is None else self.encoder(heard), training=training)
        num_frames = tf.shape(frames)[1]
        num_contexts = num_frames - self.prediction_steps
        tf.debugging.assert_positive(num_contexts, message=(
            f"CPC needs waveforms of at least {self.min_samples} samples (more than {self.prediction_steps} "
            f"encoder frames) to predict {self.prediction_steps} steps"))
        predictions = self.predictor(context[:, :num_contexts])
        optimizer = getattr(self, "optimizer", None)  # set by `compile` only
        step = optimizer.iterations if training and optimizer is not None else 0
        negative_indices = sample_negative_indices(
            example_seeds(audio, step), num_contexts, num_frames, self.negatives, self.prediction_steps
        )
        # In float32 under mixed precision: the loss sums batch x contexts terms of about log(51).
        return ops.cast(info_nce_logits(frames, predictions, negative_indices), "float32")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = ops.mean(info_nce_loss(y_pred))
        # Gradients are summed over replicas: scale so that they average instead.
        return loss / tf.distribute.get_strategy().num_replicas_in_sync

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        contexts = ops.shape(y_pred)[0] * ops.shape(y_pred)[1]
        self.step_accuracy.update_state(prediction_accuracy(y_pred), sample_weight=contexts)
        results = self.get_metrics_result()
        strategy = tf.distribute.get_strategy()
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
                strategy.extended._in_multi_worker_mode():
            # Keras 3 averages logs over workers with reduce("MEAN", axis=0), which fails on
            # scalars (tensorflow/tensorflow#72388): give it one-element vectors.
            results = {name: ops.reshape(value, (1,)) for name, value in results.items()}
        return results

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder_channels=self.encoder_channels,
            kernel_sizes=list(self.encoder.kernel_sizes),
            strides=list(self.encoder.strides),
            context_units=self.context_units,
            prediction_steps=self.prediction_steps,
            negatives=self.negatives,
        )
        return config
