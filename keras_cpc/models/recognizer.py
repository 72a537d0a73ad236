"""Emotion recognition head on CPC features: self-attention, statistics pooling, MLP."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_cpc.layers import (AppendMFCC, AttentiveStatsPooling, FrameAverage, MeanStdPooling, SelfAttention,
                              Standardize, append_mfccs)


def length_mask(lengths, num_frames):
    """`(batch, num_frames)` bool mask, true on the first `lengths[b]` frames of row `b`."""
    positions = ops.arange(num_frames, dtype="int32")
    return ops.expand_dims(positions, 0) < ops.expand_dims(ops.cast(lengths, "int32"), 1)


@keras.saving.register_keras_serializable(package="keras_cpc")
class EmotionRecognizer(keras.Model):
    """Predicts (activation, valence, dominance) from a padded batch of feature sequences.

    The input is a dict: `"features"` `(batch, time, feature_dim)` (CPC contexts at
    100 frames/s, padded at the end to a common length) and `"lengths"` `(batch,)` ints,
    the number of valid frames of each row. Padded frames may hold any finite value:
    attention never reads them as keys and the pooling skips them, so an utterance gets
    the same prediction alone or padded in a batch. Lengths are explicit because a padding
    value such as zero can also occur in real features.

    Layers, after Li et al. (2021): multi-head self-attention whose output has the input's
    dimension (no residual, no normalisation), mean and std pooling over valid frames,
    ReLU dense layers each followed by dropout, and a linear output layer. Paper sizes by
    default. With `standardize`, a `Standardize` layer first maps each feature dimension to
    zero mean and unit variance with statistics set before training
    (`model.standardization.set_statistics`). With `bounded`, a tanh keeps every output in
    the labels' [-1, 1]. `frontend` records what the audio went through before the features
    (`keras_cpc.loudness.frontend_config`); `training.export` writes it into `model.json`, so
    that the streaming engine feeds the model what it was trained on. `speaker_features` records that
    each speaker's features were mapped onto the standardisation's statistics before the model
    (`keras_cpc.speaker_features`), which the export passes on to the engine.

    Args:
        num_heads: attention heads.
        attention_dim: total query/key/value dimension over all heads.
        hidden_units: units of each hidden dense layer.
        dropout: dropout rate after each hidden dense layer.
        outputs: number of predicted dimensions.
        standardize: standardise the input features with fixed statistics.
        bounded: squash the outputs into [-1, 1] with tanh.
        frontend: the audio front end of the training data (`{}`: raw audio).
        speaker_features: trained on features normalised per speaker (needs `standardize`).
        variance_floor: the standardisation's epsilon, added to every variance: dimensions whose
            variance is below it are not amplified.
        speaker_calibration: what a speaker's feature statistics were computed from: "all" their
            utterances or their "neutral" ones.
        attention_span: with it, each frame attends only to itself and the frames before it within this
            many (`SelfAttention`'s `span`); `None`: to every frame, as the paper.
        frame_average: the attention sees the mean of each run of this many frames (`FrameAverage`; 1: every
            frame, as the paper), a head that costs about `1 / frame_average` as much per prediction.
        residual: the attention's input is added to its output before the pooling (a Transformer's residual
            connection), so that the pooled statistics also hold the features' own; `False`: the paper's head.
        neutral_statistics: with `speaker_features` calibrated on "all" utterances, the per-dimension mean and
            variance of the training speakers' neutral utterances after their mapping, where the engine maps
            speech presumed neutral (`keras_cpc.speaker_features.FeatureSettings.reference`).
        mfccs: the features are CPC contexts with this many MFCCs appended to each frame
            (`keras_cpc.layers.AppendMFCC`; 0: contexts alone), which the export's step model appends too.
        mfcc_band: the band of those MFCCs' mel filters, in Hz (default: 20 Hz to half the sample rate).
        pitch: with `mfccs`, each frame's voicing and pitch (`keras_cpc.layers.Pitch`) appended after the MFCCs.
        feature_dropout: in training, each feature dimension of an utterance is zeroed (with `standardize`, its
            mean) over all its frames with this probability (Keras's `SpatialDropout1D`), so that no few dimensions
            carry a dimension of the output alone; a channel that moves some of them then moves the output less.
        context_dropout: with `mfccs`, in training, an utterance's CPC contexts are zeroed (with `standardize`, their
            mean) in every frame with this probability, so that the head also learns to predict from the appended
            MFCCs (and pitch) alone, which keep more than the contexts under noise (modality dropout).
        attentive_pooling: the pooling weighs each frame by a score it learns (`AttentiveStatsPooling`); `False`:
            every valid frame alike, as the paper.
    """

    def __init__(
        self,
        num_heads: int = 8,
        attention_dim: int = 512,
        hidden_units: Sequence[int] = (128, 128),
        dropout: float = 0.2,
        outputs: int = 3,
        standardize: bool = False,
        bounded: bool = False,
        frontend: dict | None = None,
        speaker_features: bool = False,
        variance_floor: float = 1e-6,
        speaker_calibration: str = "all",
        attention_span: int | None = None,
        frame_average: int = 1,
        residual: bool = False,
        neutral_statistics: tuple[Sequence[float], Sequence[float]] | None = None,
        mfccs: int = 0,
        mfcc_band: Sequence[float] | None = None,
        pitch: bool = False,
        feature_dropout: float = 0.0,
        context_dropout: float = 0.0,
        attentive_pooling: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if speaker_features and not standardize:
            raise ValueError("speaker_features maps features onto the standardisation's statistics: it needs "
                             "standardize")
        if context_dropout and not mfccs:
            raise ValueError("context_dropout leaves the head the appended MFCCs: it needs mfccs > 0")
        self.num_heads = num_heads
        self.attention_dim = attention_dim
        self.hidden_units = tuple(int(units) for units in hidden_units)
        self.dropout = dropout
        self.outputs = outputs
        self.standardize = standardize
        self.bounded = bounded
        self.frontend = dict(frontend or {})
        self.speaker_features = speaker_features
        self.variance_floor = variance_floor
        self.speaker_calibration = speaker_calibration
        self.attention_span = attention_span
        self.frame_average = frame_average
        self.residual = residual
        self.neutral_statistics = None if neutral_statistics is None else \
            tuple([float(v) for v in values] for values in neutral_statistics)
        self.mfccs = mfccs
        self.mfcc_band = None if mfcc_band is None else tuple(float(f) for f in mfcc_band)
        self.pitch = pitch
        self.feature_dropout = feature_dropout
        self.context_dropout = context_dropout
        self.attentive_pooling = attentive_pooling
        self.seed_generator = keras.random.SeedGenerator() if context_dropout else None
        # the features after each context, which context dropout keeps (read here: building the layer in a graph fails)
        self.appended_width = self.appended_mfccs().width if context_dropout else 0
        self.standardization = Standardize(variance_floor, name="standardization",
                                                        dtype=self.dtype_policy) if standardize else None
        self.feature_dropping = keras.layers.SpatialDropout1D(feature_dropout, name="feature_dropping",
                                                              dtype=self.dtype_policy) if feature_dropout else None
        self.averaging = FrameAverage(frame_average, name="averaging", dtype=self.dtype_policy) \
            if frame_average > 1 else None
        self.attention = SelfAttention(num_heads, attention_dim, attention_span, name="attention",
                                       dtype=self.dtype_policy)
        self.pooling = (AttentiveStatsPooling if attentive_pooling else MeanStdPooling)(name="pooling",
                                                                                         dtype=self.dtype_policy)
        self.hidden = [
            keras.layers.Dense(units, activation="relu", name=f"hidden{i}", dtype=self.dtype_policy)
            for i, units in enumerate(self.hidden_units)
        ]
        self.dropouts = [keras.layers.Dropout(dropout, name=f"dropout{i}", dtype=self.dtype_policy)
                         for i in range(len(self.hidden))]
        self.head = keras.layers.Dense(outputs, activation="tanh" if bounded else None, name="head",
                                       dtype=self.dtype_policy)

    def build(self, input_shape):
        features_shape = tuple(input_shape["features"])
        if self.standardization is not None:
            self.standardization.build(features_shape)
        if self.averaging is not None:
            features_shape = self.averaging.compute_output_shape(features_shape)
        self.attention.build(features_shape)
        self.pooling.build(features_shape)
        shape = self.pooling.compute_output_shape(features_shape)
        for dense in self.hidden:
            dense.build(shape)
            shape = dense.compute_output_shape(shape)
        self.head.build(shape)

    def call(self, inputs, training: bool = False):
        features = inputs["features"]
        if self.standardization is not None:
            features = self.standardization(features)
        if self.feature_dropping is not None:
            features = self.feature_dropping(features, training=training)
        if training and self.context_dropout:
            features = self._drop_contexts(features)
        lengths = inputs["lengths"]
        if self.averaging is not None:
            features = self.averaging(features, mask=length_mask(lengths, ops.shape(features)[1]))
            lengths = self.averaging.lengths(lengths)
        mask = length_mask(lengths, ops.shape(features)[1])
        attended = self.attention(features, mask=mask)
        if self.residual:
            attended = attended + features
        x = self.pooling(attended, mask=mask)
        for dense, dropout in zip(self.hidden, self.dropouts):
            x = dropout(dense(x), training=training)
        return self.head(x)

    def compute_output_shape(self, input_shape):
        return (input_shape["features"][0], self.outputs)

    def _drop_contexts(self, features):
        """`features` with each utterance's contexts (all but the appended features) zeroed with `context_dropout`'s
        probability."""
        contexts, rest = features[..., :-self.appended_width], features[..., -self.appended_width:]
        kept = keras.random.uniform((ops.shape(features)[0], 1, 1), seed=self.seed_generator) >= self.context_dropout
        return ops.concatenate([contexts * ops.cast(kept, contexts.dtype), rest], axis=-1)

    def appended_mfccs(self) -> AppendMFCC | None:
        """The layer that appends this model's MFCCs to the CPC contexts (`None`: it takes contexts alone)."""
        return append_mfccs(self.mfccs, self.mfcc_band, self.pitch)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            attention_dim=self.attention_dim,
            hidden_units=list(self.hidden_units),
            dropout=self.dropout,
            outputs=self.outputs,
            standardize=self.standardize,
            bounded=self.bounded,
            frontend=self.frontend,
            speaker_features=self.speaker_features,
            variance_floor=self.variance_floor,
            speaker_calibration=self.speaker_calibration,
            attention_span=self.attention_span,
            frame_average=self.frame_average,
            residual=self.residual,
            neutral_statistics=None if self.neutral_statistics is None else list(self.neutral_statistics),
            mfccs=self.mfccs,
            mfcc_band=None if self.mfcc_band is None else list(self.mfcc_band),
            pitch=self.pitch,
            feature_dropout=self.feature_dropout,
            context_dropout=self.context_dropout,
            attentive_pooling=self.attentive_pooling,
        )
        return config
