"""MeanStdPooling, FrameAverage, SelfAttention, EmotionRecognizer and EndToEndRecognizer: masking, NumPy references,
round trips, training."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import global_dtype_policy
from keras_cpc.features import feature_statistics
from keras_cpc.layers import AttentiveStatsPooling, FrameAverage, MeanStdPooling, SelfAttention, Standardize
from keras_cpc.models import EmotionRecognizer, EndToEndRecognizer, RecognizerEnsemble, ensemble_of
from keras_cpc.speaker_features import to_reference
from training import ensemble

TINY = dict(num_heads=2, attention_dim=8, hidden_units=(6, 5))
FEATURE_DIM = 4


def _features(rng, batch, frames, dim=FEATURE_DIM):
    return rng.normal(size=(batch, frames, dim)).astype(np.float32)


def _predict(model, features, lengths):
    return keras.ops.convert_to_numpy(model({"features": features, "lengths": np.asarray(lengths, np.int32)}))


def _share_weights(source, target, features, lengths):
    """Builds both recognizers on `features` and gives `target` the weights of `source`."""
    _predict(source, features, lengths)
    _predict(target, features, lengths)
    target.set_weights(source.get_weights())


def _reloaded(model, path, features, lengths):
    """`model` saved to `path` and loaded back, checked to predict as `model` does."""
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(_predict(loaded, features, lengths), _predict(model, features, lengths))
    return loaded


# ===========================================================================================
# MeanStdPooling
# ===========================================================================================


def test_pooling_matches_numpy_over_valid_frames():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 5)).astype(np.float32) * 3 + 1
    lengths = [7, 4, 1]
    mask = np.arange(7)[None] < np.array(lengths)[:, None]
    x[~mask] = rng.uniform(50, 100, size=(~mask).sum())[:, None]  # padding far from the data
    layer = MeanStdPooling()
    pooled = keras.ops.convert_to_numpy(layer(x, mask=mask))
    assert pooled.shape == (3, 10) == layer.compute_output_shape(x.shape)
    for row, length in enumerate(lengths):
        valid = x[row, :length].astype(np.float64)
        np.testing.assert_allclose(pooled[row, :5], valid.mean(0), rtol=1e-5, atol=1e-5)
        std = np.sqrt(valid.var(0) + layer.epsilon)
        np.testing.assert_allclose(pooled[row, 5:], std, rtol=1e-5, atol=1e-5)
        # sqrt(var + eps) is within sqrt(eps) of the plain std
        np.testing.assert_allclose(pooled[row, 5:], valid.std(0), atol=1.01 * np.sqrt(layer.epsilon))


def test_pooling_without_mask_uses_every_frame():
    x = np.random.default_rng(1).normal(size=(2, 6, 3)).astype(np.float32)
    pooled = keras.ops.convert_to_numpy(MeanStdPooling(epsilon=0.0)(x))
    np.testing.assert_allclose(pooled, np.concatenate([x.mean(1), x.std(1)], -1), rtol=1e-5, atol=1e-6)


def test_pooling_takes_a_propagated_keras_mask():
    inputs = keras.Input((None, 2))
    pooled = MeanStdPooling()(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, pooled)
    x = np.array([[[1.0, 2.0], [3.0, 6.0], [0.0, 0.0]]], np.float32)
    expected = np.concatenate([x[:, :2].mean(1), np.sqrt(x[:, :2].var(1) + 1e-6)], -1)
    np.testing.assert_allclose(model(x), expected, rtol=1e-5)


def test_pooling_gradient_is_finite_for_constant_and_empty_sequences():
    x = tf.Variable(np.concatenate([np.full((1, 5, 3), 2.5), np.ones((1, 5, 3))]).astype(np.float32))
    mask = tf.constant([[True, True, True, False, False], [False] * 5])  # constant frames; no frame
    with tf.GradientTape() as tape:
        pooled = MeanStdPooling()(x, mask=mask)
        loss = tf.reduce_sum(pooled[:, 3:])  # the std only
    gradient = tape.gradient(loss, x).numpy()
    assert np.isfinite(pooled.numpy()).all() and np.isfinite(gradient).all()
    np.testing.assert_allclose(pooled.numpy()[0], [2.5] * 3 + [1e-3] * 3, rtol=1e-5)
    np.testing.assert_allclose(pooled.numpy()[1], [0.0] * 3 + [1e-3] * 3, rtol=1e-5)


def test_pooling_keeps_float64_precision():
    pooled = MeanStdPooling(epsilon=0.0, dtype="float64")(np.array([[[1e8 + 1], [1e8 + 2], [1e8 + 3]]]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pooled), [[1e8 + 2, np.sqrt(2 / 3)]], rtol=1e-12)


def test_pooling_ignores_nan_padding():
    x = np.array([[[1.0], [3.0], [np.nan]]], np.float32)
    pooled = keras.ops.convert_to_numpy(MeanStdPooling()(x, mask=np.array([[True, True, False]])))
    np.testing.assert_allclose(pooled, [[2.0, np.sqrt(1.0 + 1e-6)]], rtol=1e-6)


def test_attentive_pooling_matches_numpy_and_starts_as_mean_and_std():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 7, 5)).astype(np.float32) * 2 + 1
    lengths = [7, 4, 1]
    mask = np.arange(7)[None] < np.array(lengths)[:, None]
    x[~mask] = np.nan  # padding is never read
    layer = AttentiveStatsPooling(units=6)
    untrained = keras.ops.convert_to_numpy(layer(x, mask=mask))
    np.testing.assert_allclose(untrained, keras.ops.convert_to_numpy(MeanStdPooling()(x, mask=mask)), rtol=1e-6)
    layer.score.kernel.assign(rng.normal(0, 3, (6, 1)).astype(np.float32))
    pooled = keras.ops.convert_to_numpy(layer(x, mask=mask))
    assert pooled.shape == (3, 10) == layer.compute_output_shape(x.shape)
    kernel, bias = (keras.ops.convert_to_numpy(w).astype(np.float64) for w in layer.hidden.weights)
    for row, length in enumerate(lengths):
        frames = x[row, :length].astype(np.float64)
        scores = np.tanh(frames @ kernel + bias) @ keras.ops.convert_to_numpy(layer.score.kernel)[:, 0]
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        mean = weights @ frames
        std = np.sqrt(weights @ (frames - mean) ** 2 + layer.epsilon)
        np.testing.assert_allclose(pooled[row], np.concatenate([mean, std]), rtol=1e-5, atol=1e-5)
    assert np.abs(pooled[0] - untrained[0]).max() > 0.05  # the frames weigh unlike
    empty = keras.ops.convert_to_numpy(layer(x[:1], mask=np.zeros((1, 7), bool)))
    np.testing.assert_allclose(empty, [[0.0] * 5 + [1e-3] * 5], rtol=1e-5)  # as MeanStdPooling without a frame


def test_a_recognizer_with_attentive_pooling_learns_its_scores_and_round_trips(tmp_path):
    rng = np.random.default_rng(9)
    features, lengths = rng.normal(size=(4, 9, FEATURE_DIM)).astype(np.float32), [9, 5, 1, 7]
    attentive, paper = EmotionRecognizer(**TINY, attentive_pooling=True), EmotionRecognizer(**TINY)
    _predict(attentive, features, lengths)
    assert isinstance(attentive.pooling, AttentiveStatsPooling) and type(paper.pooling) is MeanStdPooling
    attentive.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    attentive.fit({"features": features, "lengths": np.array(lengths, np.int32)}, rng.normal(size=(4, 3)),
                  epochs=3, verbose=0)
    assert np.abs(keras.ops.convert_to_numpy(attentive.pooling.score.kernel)).max() > 1e-3
    assert _reloaded(attentive, tmp_path / "attentive.keras", features, lengths).get_config()["attentive_pooling"]


# ===========================================================================================
# SelfAttention
# ===========================================================================================


def _numpy_attention(layer: SelfAttention, x: np.ndarray, length: int) -> np.ndarray:
    """Reference: per-head softmax(q k^T / sqrt(d)) v over the first `length` keys, concatenated, projected."""
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = (
        [keras.ops.convert_to_numpy(w).astype(np.float64) for w in dense.weights]
        for dense in (layer.query, layer.key, layer.value, layer.output_dense))
    x = x.astype(np.float64)
    q, k, v = x @ wq + bq, x[:length] @ wk + bk, x[:length] @ wv + bv
    size = layer.attention_dim // layer.num_heads
    heads = []
    for h in range(layer.num_heads):
        part = slice(h * size, (h + 1) * size)
        logits = q[:, part] @ k[:, part].T / np.sqrt(size)
        weights = np.exp(logits - logits.max(1, keepdims=True))
        heads.append(weights / weights.sum(1, keepdims=True) @ v[:, part])
    return np.concatenate(heads, 1) @ wo + bo


def test_self_attention_matches_numpy_with_masked_keys():
    rng = np.random.default_rng(2)
    x = _features(rng, 3, 6, dim=5)
    lengths = [6, 3, 1]
    layer = SelfAttention(num_heads=2, attention_dim=8)
    out = keras.ops.convert_to_numpy(layer(x, mask=np.arange(6)[None] < np.array(lengths)[:, None]))
    assert out.shape == x.shape == layer.compute_output_shape(x.shape)
    for row, length in enumerate(lengths):
        np.testing.assert_allclose(out[row], _numpy_attention(layer, x[row], length), rtol=1e-4, atol=1e-5)


def _keras_twin(ours: SelfAttention, shape: tuple[int, ...]) -> keras.layers.MultiHeadAttention:
    """Keras's multi-head attention with `ours`'s weights (2 heads of 3 over 4 features)."""
    ours.build(shape)
    keras_mha = keras.layers.MultiHeadAttention(2, key_dim=3)
    keras_mha.build(shape, shape)
    for dense, einsum in zip((ours.query, ours.key, ours.value), (keras_mha.query_dense, keras_mha.key_dense,
                                                                 keras_mha.value_dense)):
        einsum.kernel.assign(np.reshape(dense.kernel, (4, 2, 3)))
        einsum.bias.assign(np.reshape(dense.bias, (2, 3)))
    keras_mha.output_dense.kernel.assign(np.reshape(ours.output_dense.kernel, (2, 3, 4)))
    keras_mha.output_dense.bias.assign(ours.output_dense.bias)
    return keras_mha


def test_self_attention_equals_keras_multi_head_attention():
    rng = np.random.default_rng(3)
    x = _features(rng, 2, 5, dim=4)
    mask = np.array([[True] * 5, [True, True, True, False, False]])
    ours = SelfAttention(num_heads=2, attention_dim=6)
    keras_mha = _keras_twin(ours, x.shape)
    np.testing.assert_allclose(ours(x, mask=mask), keras_mha(x, x, value_mask=mask), rtol=1e-5, atol=1e-6)


def test_attention_span_equals_keras_attention_with_a_band_causal_mask():
    rng = np.random.default_rng(5)
    x = _features(rng, 2, 7, dim=4)
    lengths = np.array([7, 5])
    ours = SelfAttention(num_heads=2, attention_dim=6, span=3)
    keras_mha = _keras_twin(ours, x.shape)
    query, key = np.arange(7)[:, None], np.arange(7)[None, :]
    band = (key <= query) & (key > query - 3)  # a query sees itself and the 2 frames before it
    valid = np.arange(7)[None, :] < lengths[:, None]
    expected = keras_mha(x, x, attention_mask=band[None] & valid[:, None, :])
    attended = ours(x, mask=valid)
    for row, length in enumerate(lengths):
        np.testing.assert_allclose(attended[row, :length], expected[row, :length], rtol=1e-5, atol=1e-6)
    # what a stream reuses: a frame's output depends on no frame after it, nor on any beyond the span
    np.testing.assert_allclose(ours(x[:, 2:5])[:, -1], attended[:, 4], rtol=1e-5, atol=1e-6)
    assert SelfAttention.from_config(ours.get_config()).span == 3
    with pytest.raises(ValueError, match="span 0 is not a positive number of frames"):
        SelfAttention(span=0)


# ===========================================================================================
# FrameAverage
# ===========================================================================================


def test_frame_average_matches_numpy_over_valid_frames():
    rng = np.random.default_rng(6)
    x = rng.uniform(-5, 5, size=(3, 10, FEATURE_DIM)).astype(np.float32)  # non-zero padding
    lengths = np.array([10, 7, 1])
    layer = FrameAverage(3)
    averaged = keras.ops.convert_to_numpy(layer(x, mask=np.arange(10)[None] < lengths[:, None]))
    assert averaged.shape == (3, 4, FEATURE_DIM) == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.lengths(lengths)), [4, 3, 1])
    for row, length in enumerate(lengths):
        runs = [x[row, start:min(start + 3, length)].mean(axis=0) for start in range(0, length, 3)]
        np.testing.assert_allclose(averaged[row, :len(runs)], runs, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(averaged[row, len(runs):], 0)
    np.testing.assert_allclose(FrameAverage(2)(x[:, :4]), (x[:, 0:4:2] + x[:, 1:4:2]) / 2, rtol=1e-6)  # no mask
    assert FrameAverage.from_config(layer.get_config()).size == 3
    with pytest.raises(ValueError, match="size 0 is not a positive number of frames"):
        FrameAverage(0)


def test_a_frame_averaging_recognizer_is_the_paper_head_on_averaged_frames(tmp_path):
    rng = np.random.default_rng(7)
    features, lengths = rng.uniform(-3, 3, size=(3, 13, FEATURE_DIM)).astype(np.float32), [13, 8, 2]
    averaging, paper = EmotionRecognizer(**TINY, frame_average=4), EmotionRecognizer(**TINY)
    _share_weights(averaging, paper, features, lengths)
    for row, length in enumerate(lengths):
        runs = np.stack([features[row, s:min(s + 4, length)].mean(axis=0) for s in range(0, length, 4)])
        np.testing.assert_allclose(_predict(averaging, features[row:row + 1], [length]),
                                   _predict(paper, runs[None], [len(runs)]), rtol=1e-5, atol=1e-6)
    assert _reloaded(averaging, tmp_path / "averaging.keras", features, lengths).get_config()["frame_average"] == 4


def test_a_residual_recognizer_pools_the_attention_output_plus_its_input(tmp_path):
    rng = np.random.default_rng(8)
    features, lengths = rng.uniform(-3, 3, size=(3, 9, FEATURE_DIM)).astype(np.float32), [9, 5, 1]
    residual, paper = EmotionRecognizer(**TINY, residual=True), EmotionRecognizer(**TINY)
    _share_weights(residual, paper, features, lengths)
    predicted = _predict(residual, features, lengths)
    assert np.abs(predicted - _predict(paper, features, lengths)).max() > 1e-3  # the same weights: the residual's doing
    epsilon = residual.pooling.epsilon
    for row, length in enumerate(lengths):  # NumPy from the attention's output on
        frames = features[row:row + 1, :length]
        x = keras.ops.convert_to_numpy(residual.attention(frames))[0] + frames[0]
        x = np.concatenate([x.mean(0), np.sqrt(x.var(0) + epsilon)])
        for dense in residual.hidden:
            x = np.maximum(x @ keras.ops.convert_to_numpy(dense.kernel) + keras.ops.convert_to_numpy(dense.bias), 0)
        x = x @ keras.ops.convert_to_numpy(residual.head.kernel) + keras.ops.convert_to_numpy(residual.head.bias)
        np.testing.assert_allclose(predicted[row], x, rtol=1e-5, atol=1e-5)
    assert _reloaded(residual, tmp_path / "residual.keras", features, lengths).get_config()["residual"]


# ===========================================================================================
# Standardize and feature_statistics
# ===========================================================================================


def test_feature_statistics_pool_every_frame_of_every_file(tmp_path):
    rng = np.random.default_rng(4)
    parts = [rng.normal(3, 2, size=(n, 3)).astype(np.float16) for n in (5, 1, 9)]
    for i, part in enumerate(parts):
        np.save(tmp_path / f"{i}.npy", part)
    mean, variance = feature_statistics([tmp_path / f"{i}.npy" for i in range(3)])
    frames = np.concatenate(parts).astype(np.float64)
    np.testing.assert_allclose(mean, frames.mean(0), rtol=1e-12)
    np.testing.assert_allclose(variance, frames.var(0), rtol=1e-9)
    mean, variance = feature_statistics([tmp_path / f"{i}.npy" for i in range(3)], max_frames=4)
    frames = np.concatenate([part[:4] for part in parts]).astype(np.float64)  # 4 + 1 + 4 frames
    np.testing.assert_allclose(mean, frames.mean(0), rtol=1e-12)
    np.testing.assert_allclose(variance, frames.var(0), rtol=1e-9)
    np.save(tmp_path / "empty.npy", np.zeros((0, 3), np.float16))
    with pytest.raises(ValueError, match=f"no frames .* in 1 feature files, the first {tmp_path / 'empty.npy'}"):
        feature_statistics([tmp_path / "empty.npy"])


def test_standardize_maps_to_zero_mean_unit_variance_and_roundtrips(tmp_path):
    x = np.random.default_rng(5).normal(4, 3, size=(2, 50, 3)).astype(np.float32)
    layer = Standardize()
    layer.build(x.shape)
    np.testing.assert_allclose(layer(x), x / np.sqrt(1 + 1e-6), rtol=1e-6)  # identity until set
    layer.set_statistics(x.reshape(-1, 3).mean(0), x.reshape(-1, 3).var(0))
    out = keras.ops.convert_to_numpy(layer(x)).reshape(-1, 3)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-5)
    model = EmotionRecognizer(**TINY, standardize=True)
    model.build({"features": (None, None, 3), "lengths": (None,)})
    model.standardization.set_statistics([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.standardization.variance, [4.0, 5.0, 6.0])
    np.testing.assert_allclose(_predict(loaded, x, [50, 20]), _predict(model, x, [50, 20]), rtol=1e-6)


# ===========================================================================================
# EmotionRecognizer
# ===========================================================================================


@pytest.mark.parametrize("attentive", [False, True])
def test_the_recognizer_under_mixed_precision_matches_float32(attentive):
    """float16 cannot hold the -1e9 of masked logits nor the sums over 1000 frames of large features."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(4)
    features = rng.uniform(100, 120, size=(2, 1000, FEATURE_DIM)).astype(np.float32)
    reference = EmotionRecognizer(**TINY, attentive_pooling=attentive)
    expected = _predict(reference, features, [1000, 600])
    if attentive:  # scores that differ between frames
        reference.pooling.score.kernel.assign(rng.normal(0, 1, (reference.pooling.units, 1)).astype(np.float32))
        assert np.abs(_predict(reference, features, [1000, 600]) - expected).max() > 1e-3
        expected = _predict(reference, features, [1000, 600])
    with global_dtype_policy("mixed_float16"):
        model = EmotionRecognizer(**TINY, attentive_pooling=attentive)
        model.build({"features": features.shape, "lengths": (2,)})
        model.set_weights(reference.get_weights())
        mixed = _predict(model, features, [1000, 600])
        pooled = keras.ops.convert_to_numpy(MeanStdPooling()(features[:1].astype(np.float16)))
    np.testing.assert_allclose(mixed, expected, rtol=0.05, atol=0.05)
    np.testing.assert_allclose(pooled[0], np.concatenate([features[0].mean(0), features[0].std(0)]), rtol=2e-3)


def test_a_recognizers_dtype_policy_reaches_every_sublayer():
    with global_dtype_policy("mixed_float16"):
        models = [EmotionRecognizer(**TINY, standardize=True, dtype="float32"),
                  EndToEndRecognizer(encoder_channels=4, context_units=FEATURE_DIM, recognizer=TINY, dtype="float32")]
        models[0].build({"features": (None, None, FEATURE_DIM), "lengths": (None,)})
        models[1].build({"audio": (None, None), "lengths": (None,)})
    for model in models:
        assert {layer.dtype_policy.name for layer in model._flatten_layers()} == {"float32"}
        assert {weight.dtype for weight in model.weights} == {"float32"}


def test_recognizer_output_shape():
    model = EmotionRecognizer(**TINY)
    outputs = _predict(model, _features(np.random.default_rng(0), 5, 11), [11, 3, 7, 1, 9])
    assert outputs.shape == (5, 3)
    assert model.compute_output_shape({"features": (5, 11, FEATURE_DIM), "lengths": (5,)}) == (5, 3)


def test_attention_dim_must_split_over_heads():
    with pytest.raises(ValueError, match="divisible"):
        EmotionRecognizer(num_heads=3, attention_dim=8)


def test_padding_does_not_change_a_prediction():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    model = EmotionRecognizer(**TINY)
    utterance = _features(rng, 1, 9)
    alone = _predict(model, utterance, [9])
    for extra in (1, 6, 40):
        padding = rng.uniform(-20, 20, size=(1, extra, FEATURE_DIM)).astype(np.float32)
        padded = _predict(model, np.concatenate([utterance, padding], axis=1), [9])
        np.testing.assert_allclose(padded, alone, atol=1e-5)
    # Without the lengths the padding would matter: the test can tell.
    unmasked = _predict(model, np.concatenate([utterance, padding], axis=1), [49])
    assert np.abs(unmasked - alone).max() > 1e-3


def test_padding_does_not_change_an_end_to_end_prediction():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(5)
    model = EndToEndRecognizer(encoder_channels=4, context_units=FEATURE_DIM, recognizer=TINY)

    def predict(audio: np.ndarray, length: int) -> np.ndarray:
        return keras.ops.convert_to_numpy(model({"audio": audio[None].astype(np.float32),
                                                 "lengths": np.array([length], np.int32)}))

    audio = rng.normal(size=3000)
    alone = predict(audio, 3000)  # 17 frames: (3000 - 425) // 160 + 1
    padded = np.concatenate([audio, rng.uniform(-3, 3, size=5000)])
    np.testing.assert_allclose(predict(padded, 3000), alone, atol=1e-5)
    assert np.abs(predict(padded, 3160) - alone).max() > 1e-4  # an 18th frame, over the padding: the test can tell


def test_batch_of_different_lengths_matches_each_utterance_alone():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(2)
    model = EmotionRecognizer(**TINY)
    lengths = [12, 5, 1, 8]
    batch = rng.uniform(-5, 5, size=(4, 12, FEATURE_DIM)).astype(np.float32)  # non-zero padding
    together = _predict(model, batch, lengths)
    for row, length in enumerate(lengths):
        alone = _predict(model, batch[row : row + 1, :length], [length])
        np.testing.assert_allclose(together[row : row + 1], alone, atol=1e-5)


def test_a_bounded_recognizer_is_the_unbounded_one_through_tanh():
    rng = np.random.default_rng(5)
    features, lengths = _features(rng, 4, 9) * 30, [9, 3, 6, 1]
    unbounded, bounded = EmotionRecognizer(**TINY), EmotionRecognizer(**TINY, bounded=True)
    _share_weights(unbounded, bounded, features, lengths)
    linear = _predict(unbounded, features, lengths)
    assert np.abs(linear).max() > 1  # so that the bound matters
    np.testing.assert_allclose(_predict(bounded, features, lengths), np.tanh(linear), rtol=1e-5, atol=1e-6)


def test_feature_dropout_drops_whole_dimensions_in_training_and_nothing_in_inference(tmp_path):
    rng = np.random.default_rng(9)
    dim = 40
    features, lengths = _features(rng, 3, 11, dim), [11, 6, 3]
    dropping = EmotionRecognizer(**TINY, dropout=0.0, feature_dropout=0.5)
    plain = EmotionRecognizer(**TINY, dropout=0.0)
    _share_weights(dropping, plain, features, lengths)
    np.testing.assert_array_equal(_predict(dropping, features, lengths), _predict(plain, features, lengths))
    # in training, what the attention sees is the features with some dimensions of each utterance zeroed over all
    # frames and the rest scaled by 1 / (1 - rate)
    seen = keras.ops.convert_to_numpy(dropping.feature_dropping(features, training=True))
    kept = seen != 0
    assert (kept == kept[:, :1]).all()  # a dimension is dropped in every frame or in none
    assert 0.2 < 1 - kept.mean() < 0.8
    assert len({tuple(row[0]) for row in kept}) > 1  # each utterance draws its own
    np.testing.assert_allclose(seen, features * kept / 0.5, rtol=1e-6)
    trained = keras.ops.convert_to_numpy(dropping({"features": features, "lengths": np.asarray(lengths, np.int32)},
                                                  training=True))
    assert not np.allclose(trained, _predict(plain, features, lengths))
    assert _reloaded(dropping, tmp_path / "dropping.keras", features, lengths).get_config()["feature_dropout"] == 0.5


def test_context_dropout_zeroes_whole_utterances_contexts_and_keeps_the_appended_features(tmp_path):
    rng = np.random.default_rng(4)
    mfccs, contexts = 3, 5
    features, lengths = _features(rng, 64, 7, contexts + mfccs + 2), [7] * 64
    dropping = EmotionRecognizer(**TINY, dropout=0.0, mfccs=mfccs, pitch=True, context_dropout=0.4)
    plain = EmotionRecognizer(**TINY, dropout=0.0, mfccs=mfccs, pitch=True)
    _share_weights(dropping, plain, features, lengths)
    np.testing.assert_array_equal(_predict(dropping, features, lengths), _predict(plain, features, lengths))
    seen = keras.ops.convert_to_numpy(dropping._drop_contexts(features))
    np.testing.assert_array_equal(seen[..., contexts:], features[..., contexts:])  # MFCCs and pitch untouched
    dropped = (seen[..., :contexts] == 0).all(axis=(1, 2))
    np.testing.assert_array_equal(seen[~dropped], features[~dropped])  # the others whole, not rescaled
    assert 0.2 < dropped.mean() < 0.6
    assert _reloaded(dropping, tmp_path / "dropping.keras", features, lengths).get_config()["context_dropout"] == 0.4
    with pytest.raises(ValueError, match="context_dropout .* needs mfccs"):
        EmotionRecognizer(**TINY, context_dropout=0.4)


def test_recognizer_roundtrips_with_identical_outputs(tmp_path):
    model = EmotionRecognizer(**TINY, dropout=0.3, outputs=2, bounded=True, frontend={"level": {"target_dbfs": -25}})
    rng = np.random.default_rng(3)
    features, lengths = _features(rng, 3, 10), [10, 4, 7]
    expected = _predict(model, features, lengths)
    path = tmp_path / "recognizer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, EmotionRecognizer)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(_predict(loaded, features, lengths), expected)
    assert _predict(loaded, _features(rng, 2, 6), [6, 2]).shape == (2, 2)  # other batch and length


def test_end_to_end_recognizer_roundtrips_with_identical_outputs(tmp_path):
    keras.utils.set_random_seed(1)
    model = EndToEndRecognizer(encoder_channels=4, context_units=FEATURE_DIM, recognizer=TINY)
    inputs = {"audio": np.random.default_rng(6).normal(size=(2, 4000)).astype(np.float32),
              "lengths": np.array([4000, 2500], np.int32)}
    expected = keras.ops.convert_to_numpy(model(inputs))
    model.save(tmp_path / "e2e.keras")
    loaded = keras.saving.load_model(tmp_path / "e2e.keras")
    assert isinstance(loaded, EndToEndRecognizer)
    assert json.dumps(loaded.get_config()) == json.dumps(model.get_config())  # as saved: tuples become lists
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(inputs)), expected)


def test_recognizer_learns_a_toy_regression():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(4)
    count, frames = 64, 15
    lengths = rng.integers(3, frames + 1, size=count).astype(np.int32)
    features = _features(rng, count, frames) + rng.normal(size=(count, 1, FEATURE_DIM)).astype(np.float32)
    mask = np.arange(frames)[None] < lengths[:, None]
    means = (features * mask[..., None]).sum(1) / lengths[:, None]
    targets = np.stack([means[:, 0], means[:, 1] - means[:, 2], np.tanh(means[:, 3])], -1)
    x = {"features": features, "lengths": lengths}
    model = EmotionRecognizer(**TINY, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mean_squared_error")
    before = model.evaluate(x, targets, verbose=0)
    model.fit(x, targets, batch_size=16, epochs=15, verbose=0)
    after = model.evaluate(x, targets, verbose=0)
    assert after < 0.5 * before


def test_paper_sizes_parameter_count():
    dim, attention, hidden = 256, 512, 128
    model = EmotionRecognizer()
    model.build({"features": (None, None, dim), "lengths": (None,)})
    attention_params = 3 * (dim * attention + attention) + attention * dim + dim  # q, k, v; output
    dense_params = (2 * dim * hidden + hidden) + (hidden * hidden + hidden) + (hidden * 3 + 3)
    assert attention_params == 526_080
    assert model.count_params() == attention_params + dense_params == 608_643


# ===========================================================================================
# RecognizerEnsemble
# ===========================================================================================


def _speaker_recognizer(rng, features, lengths, **settings):
    """A built recognizer on features mapped per speaker, with random weights and statistics of its own (as runs
    with other training speakers have)."""
    model = EmotionRecognizer(**TINY, standardize=True, speaker_features=True, variance_floor=0.05, bounded=True,
                              neutral_statistics=(rng.normal(size=FEATURE_DIM), rng.uniform(0.5, 2, FEATURE_DIM)),
                              **settings)
    _predict(model, features, lengths)
    model.standardization.set_statistics(rng.normal(size=FEATURE_DIM), rng.uniform(0.5, 2, FEATURE_DIM))
    return model


def _statistics(model):
    return tuple(keras.ops.convert_to_numpy(w) for w in (model.standardization.mean, model.standardization.variance))


def test_an_ensemble_predicts_its_members_mean_on_a_speakers_features_mapped_onto_any_members_reference(tmp_path):
    """`ensemble_of` gives every member the first member's statistics: on a speaker's features mapped onto that
    reference, each member predicts what it predicted on the same features mapped onto its own (NumPy mapping)."""
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    lengths = [9, 5]
    speech = _features(rng, 2, 9) * 3 + 2  # a speaker far from every reference
    speaker = (speech[0].mean(0), speech[0].var(0))
    first, second = (_speaker_recognizer(rng, speech, lengths) for _ in range(2))
    own = [_predict(m, to_reference(speech, speaker, _statistics(m), 0.05), lengths) for m in (first, second)]
    assert np.abs(own[0] - own[1]).max() > 0.05  # members that differ
    mapped = to_reference(speech, speaker, _statistics(first), 0.05)
    ensemble = ensemble_of([first, second])
    np.testing.assert_allclose(_predict(ensemble, mapped, lengths), np.mean(own, axis=0), atol=1e-5)
    assert second.neutral_statistics == first.neutral_statistics
    loaded = _reloaded(ensemble, tmp_path / "ensemble.keras", mapped, lengths)
    with zipfile.ZipFile(tmp_path / "ensemble.keras") as archive, archive.open("model.weights.h5") as weights:
        assert set(h5py.File(io.BytesIO(weights.read()))) == {"layers", "vars"}  # every weight under its member
    assert isinstance(loaded, RecognizerEnsemble) and len(loaded.members) == 2
    assert loaded.speaker_features and loaded.neutral_statistics == first.neutral_statistics
    assert loaded.appended_mfccs() is None and loaded.frontend == {}
    for member in loaded.members:
        np.testing.assert_array_equal(_statistics(member), _statistics(first))


def test_ensemble_members_must_take_the_same_features():
    rng = np.random.default_rng(6)
    speech, lengths = _features(rng, 1, 4), [4]
    first = _speaker_recognizer(rng, speech, lengths)
    with pytest.raises(ValueError, match="member 1 differs from member 0 in variance_floor, mfccs"):
        RecognizerEnsemble([first, EmotionRecognizer(**TINY, standardize=True, speaker_features=True, bounded=True,
                                                     variance_floor=0.02, mfccs=2,
                                                     neutral_statistics=first.neutral_statistics)])
    with pytest.raises(ValueError, match="at least one member"):
        RecognizerEnsemble([])
    other = _speaker_recognizer(rng, speech, lengths, mfccs=2)
    before = _statistics(other)
    with pytest.raises(ValueError, match="member 1 differs from member 0 in mfccs"):
        ensemble_of([first, other])
    np.testing.assert_array_equal(_statistics(other), before)  # refused before any change


def test_members_on_features_not_mapped_per_speaker_keep_their_own_statistics():
    rng = np.random.default_rng(9)
    speech, lengths = _features(rng, 2, 5), [5, 2]
    members = []
    for _ in range(2):
        member = EmotionRecognizer(**TINY, standardize=True)
        _predict(member, speech, lengths)
        member.standardization.set_statistics(rng.normal(size=FEATURE_DIM), rng.uniform(0.5, 2, FEATURE_DIM))
        members.append(member)
    own = [_predict(m, speech, lengths) for m in members]
    np.testing.assert_allclose(_predict(ensemble_of(members), speech, lengths), np.mean(own, axis=0), atol=1e-6)


def test_the_ensemble_cli_saves_the_members_ensemble_and_names_a_file_that_is_no_recognizer(tmp_path):
    rng = np.random.default_rng(7)
    speech, lengths = _features(rng, 2, 6), [6, 3]
    members = [_speaker_recognizer(rng, speech, lengths) for _ in range(2)]
    for index, member in enumerate(members):
        member.save(tmp_path / f"run{index}.keras")
    expected = _predict(ensemble_of(members), speech, lengths)
    ensemble.main(["--members", str(tmp_path / "run0.keras"), str(tmp_path / "run1.keras"),
                   "--out", str(tmp_path / "out" / "ensemble.keras")])
    loaded = keras.saving.load_model(tmp_path / "out" / "ensemble.keras")
    np.testing.assert_allclose(_predict(loaded, speech, lengths), expected, atol=1e-6)
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(tmp_path / "other.keras")
    with pytest.raises(SystemExit, match=r"other\.keras: a Keras Sequential, not an EmotionRecognizer"):
        ensemble.main(["--members", str(tmp_path / "run0.keras"), str(tmp_path / "other.keras"),
                       "--out", str(tmp_path / "never.keras")])
    assert not (tmp_path / "never.keras").exists()
