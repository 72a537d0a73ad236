"""Corpus-level CCC metric and batch CCC loss against a NumPy reference, in and out of `fit`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cpc.losses import CCCLoss
from keras_cpc.metrics import ConcordanceCorrelation
from keras_cpc.metrics.ccc import DIMENSIONS, ccc


def reference_ccc(y_true, y_pred):
    """Column by column from the definition, with NumPy's biased covariance matrix."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    values = []
    for t, p in zip(y_true.T, y_pred.T):
        (var_t, cov), (_, var_p) = np.cov(t, p, bias=True)
        values.append(2 * cov / (var_t + var_p + (t.mean() - p.mean()) ** 2))
    return np.array(values)


def ratings(rng, rows, offset=3.0):
    """Activation/valence/dominance-like targets on a 1-7 scale shifted by `offset`, and noisy guesses."""
    y_true = rng.uniform(1, 7, size=(rows, 3)) + offset
    y_pred = 0.6 * y_true + rng.normal(0, 0.7, size=(rows, 3)) + 1.5
    return y_true.astype(np.float32), y_pred.astype(np.float32)


def values(result, names=DIMENSIONS):
    return np.array([float(result[f"ccc_{n}"]) for n in names])


def accumulate(metric, y_true, y_pred, sizes):
    start = 0
    for size in sizes:
        metric.update_state(y_true[start : start + size], y_pred[start : start + size])
        start += size
    assert start == len(y_true)
    return metric.result()


def test_numpy_ccc_matches_reference():
    y_true, y_pred = ratings(np.random.default_rng(0), 50)
    np.testing.assert_allclose(ccc(y_true, y_pred), reference_ccc(y_true, y_pred), rtol=1e-12)
    assert ccc(y_true[:, 1], y_pred[:, 1]).shape == ()
    np.testing.assert_allclose(ccc(y_true[:, 1], y_pred[:, 1]), reference_ccc(y_true, y_pred)[1], rtol=1e-12)


def test_metric_over_uneven_batches_equals_ccc_of_the_concatenation():
    y_true, y_pred = ratings(np.random.default_rng(1), 21)
    result = accumulate(ConcordanceCorrelation(), y_true, y_pred, sizes=(7, 1, 13))
    expected = reference_ccc(y_true, y_pred)
    np.testing.assert_allclose(values(result), expected, rtol=1e-5)
    np.testing.assert_allclose(float(result["ccc_mean"]), expected.mean(), rtol=1e-5)
    assert set(result) == {"ccc_activation", "ccc_valence", "ccc_dominance", "ccc_mean"}


def test_metric_keeps_precision_when_the_spread_is_small_next_to_the_mean():
    # Sums of squares in float32 would leave nothing of a 0.01 spread around 10.
    rng = np.random.default_rng(2)
    y_true = (10 + 0.01 * rng.normal(size=(300, 3))).astype(np.float32)
    y_pred = (y_true + 0.01 * rng.normal(size=(300, 3))).astype(np.float32)
    result = accumulate(ConcordanceCorrelation(), y_true, y_pred, sizes=(64, 64, 64, 64, 44))
    np.testing.assert_allclose(values(result), reference_ccc(y_true, y_pred), rtol=1e-5)


def test_metric_perfect_constant_and_negated_predictions():
    y_true, _ = ratings(np.random.default_rng(3), 40)
    centred = y_true - y_true.mean(axis=0)
    cases = {1.0: (y_true, y_true), 0.0: (y_true, np.full_like(y_true, 4.2)), -1.0: (centred, -centred)}
    for expected, (t, p) in cases.items():
        result = accumulate(ConcordanceCorrelation(), t, p, sizes=(16, 16, 8))
        np.testing.assert_allclose(values(result), expected, atol=1e-6)
        np.testing.assert_allclose(ccc(t, p), expected, atol=1e-6)


def test_metric_is_zero_not_nan_where_the_denominator_is_zero():
    constant = np.full((5, 3), 4.2, np.float32)
    metric = ConcordanceCorrelation()
    np.testing.assert_array_equal(values(metric.result()), 0.0)  # nothing seen yet
    metric.update_state(constant, constant)
    np.testing.assert_array_equal(values(metric.result()), 0.0)
    np.testing.assert_array_equal(ccc(constant, constant), 0.0)


def test_nan_or_inf_predictions_give_nan_not_zero():
    y_true, y_pred = ratings(np.random.default_rng(5), 12)
    y_pred[3, 1], y_pred[7, 2] = np.nan, np.inf  # a diverged model's valence and dominance
    expected = [reference_ccc(y_true[:, :1], y_pred[:, :1])[0], np.nan, np.nan]
    with np.errstate(invalid="ignore"):  # NumPy warns of the NaN it makes
        np.testing.assert_allclose(ccc(y_true, y_pred), expected, rtol=1e-6)
    np.testing.assert_allclose(values(accumulate(ConcordanceCorrelation(), y_true, y_pred, sizes=(5, 7))),
                               expected, rtol=1e-5)


def test_metric_sample_weight_drops_padding():
    y_true, y_pred = ratings(np.random.default_rng(4), 20)
    padded_true = np.concatenate([y_true[:12], np.zeros((4, 3), np.float32), y_true[12:]])
    padded_pred = np.concatenate([y_pred[:12], np.full((4, 3), 9.0, np.float32), y_pred[12:]])
    weight = np.concatenate([np.ones(12), np.zeros(4), np.ones(8)]).astype(np.float32)
    metric = ConcordanceCorrelation()
    metric.update_state(padded_true[:10], padded_pred[:10], sample_weight=weight[:10])
    metric.update_state(padded_true[10:], padded_pred[10:], sample_weight=weight[10:])
    np.testing.assert_allclose(values(metric.result()), reference_ccc(y_true, y_pred), rtol=1e-5)


def test_metric_reset_state():
    y_true, y_pred = ratings(np.random.default_rng(5), 30)
    metric = ConcordanceCorrelation()
    metric.update_state(-y_true, y_pred)
    metric.reset_state()
    metric.update_state(y_true, y_pred)
    np.testing.assert_allclose(values(metric.result()), reference_ccc(y_true, y_pred), rtol=1e-5)


def test_config_round_trips():
    metric = ConcordanceCorrelation(names=("arousal", "valence"), name="emotion_ccc")
    restored = ConcordanceCorrelation.from_config(metric.get_config())
    assert (restored.names, restored.name) == (("arousal", "valence"), "emotion_ccc")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert isinstance(restored, ConcordanceCorrelation) and restored.names == ("arousal", "valence")

    loss = CCCLoss(weights=(0.2, 0.5, 0.3), epsilon=1e-5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, CCCLoss)
    assert (restored.weights, restored.epsilon, restored.name) == ((0.2, 0.5, 0.3), 1e-5, "ccc_loss")


def test_loss_is_one_minus_weighted_batch_ccc():
    y_true, y_pred = ratings(np.random.default_rng(6), 32)
    expected = reference_ccc(y_true, y_pred)
    np.testing.assert_allclose(float(CCCLoss()(y_true, y_pred)), 1 - expected.mean(), rtol=1e-5)
    weights = np.array([0.2, 0.5, 0.3])
    np.testing.assert_allclose(float(CCCLoss(weights)(y_true, y_pred)), 1 - weights @ expected, rtol=1e-5)
    with pytest.raises(ValueError, match="3 weights for 2 outputs"):
        CCCLoss()(y_true[:, :2], y_pred[:, :2])


@pytest.mark.parametrize("varying_targets", [True, False])
def test_loss_gradient_is_finite_for_a_constant_batch(varying_targets):
    y_true, _ = ratings(np.random.default_rng(7), 8)
    if not varying_targets:  # the denominator is 0 but for epsilon
        y_true = np.full_like(y_true, 4.0)
    y_pred = tf.Variable(tf.fill((8, 3), 4.0))
    with tf.GradientTape() as tape:
        loss = CCCLoss()(y_true, y_pred)
    gradient = tape.gradient(loss, y_pred).numpy()
    assert np.isfinite(float(loss)) and np.all(np.isfinite(gradient))
    assert np.any(gradient != 0) == varying_targets  # a constant model still gets a learning signal


def test_metric_in_fit_and_evaluate_is_corpus_level():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(45, 8)).astype(np.float32)
    y = (4 + x[:, :3] + 0.5 * rng.normal(size=(45, 3))).astype(np.float32)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    model.compile(keras.optimizers.Adam(0.1), loss=CCCLoss(), metrics=[ConcordanceCorrelation()])
    history = model.fit(x, y, batch_size=16, epochs=10, validation_data=(x, y), verbose=0)
    assert {"ccc_activation", "ccc_mean", "val_ccc_dominance", "val_ccc_mean"} <= set(history.history)

    result = model.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)  # 5 batches of 8, then 5
    predictions = model.predict(x, verbose=0)
    expected = ccc(y, predictions)
    assert expected.min() > 0.3  # trained: the comparison below is not between two numbers near 0
    np.testing.assert_allclose(values(result), expected, rtol=1e-5)
    np.testing.assert_allclose(result["ccc_mean"], expected.mean(), rtol=1e-5)
    batch_averaged = np.mean([ccc(y[i : i + 8], predictions[i : i + 8]) for i in range(0, 45, 8)], axis=0)
    assert not np.allclose(batch_averaged, expected, rtol=1e-3)


def test_corpus_ccc_differs_from_the_batch_average():
    # Predictions that follow the targets from batch to batch but not within a batch: each batch
    # alone scores 0, the corpus scores 8 / (28/6 + 4) = 0.923.
    y_true = np.array([[1.0], [2.0], [3.0], [5.0], [6.0], [7.0]], np.float32)
    y_pred = np.array([[2.0], [2.0], [2.0], [6.0], [6.0], [6.0]], np.float32)
    result = accumulate(ConcordanceCorrelation(names=("activation",)), y_true, y_pred, sizes=(3, 3))
    batch_averaged = np.mean([ccc(y_true[:3], y_pred[:3]), ccc(y_true[3:], y_pred[3:])])
    assert batch_averaged == 0.0
    np.testing.assert_allclose(float(result["ccc_activation"]), 8 / (28 / 6 + 4), rtol=1e-6)
    np.testing.assert_allclose(float(result["ccc_mean"]), reference_ccc(y_true, y_pred)[0], rtol=1e-6)
