"""InfoNCE against a NumPy reference, negative sampling, and the loss at initialisation."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_cpc.losses import info_nce_logits, info_nce_loss, prediction_accuracy, sample_negative_indices
from keras_cpc.models import CPC
from keras_cpc.models.cpc import example_seeds


def numpy_info_nce(frames, predictions, negatives):
    """Loops straight from the definition: CE of the positive among 1 + N dot products."""
    batch, contexts, steps, _ = predictions.shape
    losses = np.zeros((batch, contexts, steps))
    correct = np.zeros((batch, contexts, steps))
    for b in range(batch):
        for t in range(contexts):
            for k in range(steps):
                p = predictions[b, t, k].astype(np.float64)
                scores = [p @ frames[b, t + k + 1]] + [p @ frames[b, i] for i in negatives[b, t]]
                scores = np.array(scores)
                peak = scores.max()
                losses[b, t, k] = peak + np.log(np.exp(scores - peak).sum()) - scores[0]
                correct[b, t, k] = scores[0] > scores[1:].max()
    return losses.mean(axis=(0, 1)), correct.mean(axis=(0, 1))


def test_info_nce_matches_numpy_reference():
    rng = np.random.default_rng(0)
    batch, num_frames, steps, dim, num_negatives = 3, 17, 4, 5, 6
    frames = rng.normal(size=(batch, num_frames, dim)).astype(np.float32)
    predictions = rng.normal(size=(batch, num_frames - steps, steps, dim)).astype(np.float32)
    seeds = tf.constant(rng.integers(0, 2**31 - 1, size=(batch, 2)), tf.int32)
    negatives = sample_negative_indices(seeds, num_frames - steps, num_frames, num_negatives, steps).numpy()
    logits = info_nce_logits(tf.constant(frames), tf.constant(predictions), tf.constant(negatives))
    expected_loss, expected_accuracy = numpy_info_nce(frames, predictions, negatives)
    np.testing.assert_allclose(info_nce_loss(logits).numpy(), expected_loss, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(prediction_accuracy(logits).numpy(), expected_accuracy, atol=1e-6)
    assert 0 < expected_accuracy.mean() < 1  # the case exercises both outcomes


def test_loss_is_log_candidates_for_uninformative_scores():
    logits = tf.zeros((2, 7, 3, 51))
    np.testing.assert_allclose(info_nce_loss(logits).numpy(), np.full(3, math.log(51)), rtol=1e-6)
    np.testing.assert_array_equal(prediction_accuracy(logits).numpy(), np.zeros(3))  # ties are not wins


def test_an_empty_batch_gives_empty_negatives_and_zero_loss():
    # Under tf.distribute a replica can get nothing of a short last batch, in a graph whose
    # shapes are not known: nothing must fail and nothing may be NaN (Keras weights it 0).
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.int32), tf.TensorSpec([None, None, 3, 5])])
    def run(seeds, logits):
        negatives = sample_negative_indices(seeds, tf.shape(logits)[1], tf.shape(logits)[1] + 3, 4, 3)
        return negatives, info_nce_loss(logits), prediction_accuracy(logits)

    negatives, loss, accuracy = run(tf.zeros((0, 2), tf.int32), tf.zeros((0, 7, 3, 5)))
    assert negatives.shape == (0, 7, 4)
    np.testing.assert_array_equal(loss.numpy(), np.zeros(3))
    np.testing.assert_array_equal(accuracy.numpy(), np.zeros(3))


def test_negatives_never_hit_the_prediction_window_and_cover_the_rest():
    num_frames, window, contexts, num_negatives = 40, 12, 28, 50
    seeds = tf.constant([[1, 2], [3, 4], [5, 6], [7, 8]], tf.int32)
    negatives = sample_negative_indices(seeds, contexts, num_frames, num_negatives, window).numpy()
    assert negatives.shape == (4, contexts, num_negatives)
    for t in range(contexts):
        allowed = set(range(num_frames)) - set(range(t + 1, t + window + 1))
        drawn = set(negatives[:, t].ravel())
        assert drawn <= allowed, f"context {t} drew a positive: {sorted(drawn - allowed)}"
        assert len(drawn) > 0.8 * len(allowed)  # 200 draws over 28 values: nearly all appear


def test_negatives_depend_only_on_each_examples_seed():
    seeds = tf.constant([[1, 2], [3, 4], [5, 6]], tf.int32)
    together = sample_negative_indices(seeds, 10, 30, 8, 5).numpy()
    alone = sample_negative_indices(seeds[1:2], 10, 30, 8, 5).numpy()
    np.testing.assert_array_equal(together[1:2], alone)
    assert not np.array_equal(together[0], together[1])


def test_cpc_scores_each_context_s_step_predictions_against_later_encoder_frames():
    """CPC.call from its parts: predictions W_k c_t + b_k of the GRU contexts, scored against encoder
    frames z[t + k + 1] (positive) and z[negative] (drawn from the example's seed and step 0)."""
    model = CPC(encoder_channels=6, context_units=5, prediction_steps=3, negatives=4)
    rng = np.random.default_rng(1)
    audio = tf.constant(rng.normal(size=(2, 3000)), tf.float32)
    model(audio)
    model.predictor.bias.assign(rng.normal(size=(3, 6)))  # zeros at initialisation
    logits = model(audio).numpy()
    frames = model.encoder(audio).numpy().astype(np.float64)
    contexts = model.autoregressor(model.encoder(audio)).numpy().astype(np.float64)
    kernel, bias = (w.numpy().astype(np.float64) for w in (model.predictor.kernel, model.predictor.bias))
    num_frames, steps = frames.shape[1], 3
    negatives = sample_negative_indices(example_seeds(audio, 0), num_frames - steps, num_frames, 4, steps).numpy()
    assert logits.shape == (2, num_frames - steps, steps, 5) and num_frames == 17
    for b in range(2):
        for t in range(num_frames - steps):
            for k in range(steps):
                prediction = contexts[b, t] @ kernel[k] + bias[k]
                expected = [prediction @ frames[b, t + k + 1], *(prediction @ frames[b, i] for i in negatives[b, t])]
                np.testing.assert_allclose(logits[b, t, k], expected, rtol=1e-4, atol=1e-5)


def test_paper_configuration_starts_near_chance(speech_clip):
    model = CPC()  # paper sizes: 128 channels, GRU 256, 12 steps, 50 negatives
    audio = np.stack([speech_clip[:32000], speech_clip[-32000:]])
    loss = float(tf.reduce_mean(info_nce_loss(model(tf.constant(audio)))))
    assert loss == pytest.approx(math.log(51), abs=0.3)
