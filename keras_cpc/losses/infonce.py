"""InfoNCE (contrastive predictive coding) loss with negatives from the same sequence."""

from __future__ import annotations

import tensorflow as tf


def sample_negative_indices(
    seeds: tf.Tensor, num_contexts: int | tf.Tensor, num_frames: int | tf.Tensor,
    num_negatives: int, window: int,
) -> tf.Tensor:
    """Draws negative frame indices, `(batch, num_contexts, num_negatives)` int32.

    For example `b` (random stream `seeds[b]`, shape `(2,)`) and context `t`, each index is
    uniform over the frames of the same sequence outside `t+1 .. t+window`. Excluding the
    whole prediction window means no step's positive is ever one of its negatives, while the
    negatives are shared by all steps (as in facebookresearch/CPC_audio). Because the draw
    depends only on each example's seed, it does not change with the number of replicas.
    An empty batch (a replica's share of a short last batch under tf.distribute) gives
    an empty result.
    """
    num_candidates = num_frames - window

    def draw(seed):
        return tf.random.stateless_uniform(
            (num_contexts, num_negatives), seed=seed, minval=0, maxval=num_candidates, dtype=tf.int32
        )

    # `map_fn` cannot stack zero results of a shape not fully known: skip it for an empty batch.
    drawn = tf.cond(tf.shape(seeds)[0] > 0, lambda: tf.map_fn(draw, seeds, fn_output_signature=tf.int32),
                    lambda: tf.zeros((0, num_contexts, num_negatives), tf.int32))
    context = tf.range(num_contexts, dtype=tf.int32)[None, :, None]
    return tf.where(drawn > context, drawn + window, drawn)


def info_nce_logits(frames: tf.Tensor, predictions: tf.Tensor, negative_indices: tf.Tensor) -> tf.Tensor:
    """Scores of the positive (index 0) and the negatives, `(batch, contexts, steps, 1 + N)`.

    Args:
        frames: encoder output `z`, `(batch, frames, dim)`.
        predictions: `(batch, contexts, steps, dim)`; `[:, t, k]` predicts `z[:, t + k + 1]`
            and `contexts = frames - steps`.
        negative_indices: `(batch, contexts, negatives)` frame indices into `frames`.
    """
    steps = predictions.shape[2]
    num_contexts = tf.shape(predictions)[1]
    positives = tf.stack([frames[:, k + 1 : k + 1 + num_contexts] for k in range(steps)], axis=2)
    positive_logits = tf.reduce_sum(predictions * positives, axis=-1, keepdims=True)
    negatives = tf.gather(frames, negative_indices, batch_dims=1)
    negative_logits = tf.einsum("btkd,btnd->btkn", predictions, negatives)
    return tf.concat([positive_logits, negative_logits], axis=-1)


def info_nce_loss(logits: tf.Tensor) -> tf.Tensor:
    """Per-step InfoNCE loss `(steps,)` from `info_nce_logits`.

    The cross-entropy of picking the positive among `1 + N` candidates, averaged over the
    batch and contexts; `log(1 + N)` at chance, 0 for an empty batch (which Keras weights 0).
    """
    return _mean_over_contexts(tf.reduce_logsumexp(logits, axis=-1) - logits[..., 0])


def prediction_accuracy(logits: tf.Tensor) -> tf.Tensor:
    """Per-step fraction `(steps,)` of contexts whose positive beats every negative.

    A tie counts as wrong, so constant scores give 0, never a flattering 1. At chance the
    accuracy is `1 / (1 + N)`.
    """
    correct = tf.cast(logits[..., 0] > tf.reduce_max(logits[..., 1:], axis=-1), logits.dtype)
    return _mean_over_contexts(correct)


def _mean_over_contexts(values: tf.Tensor) -> tf.Tensor:
    """Mean of `(batch, contexts, steps)` values over batch and contexts; 0 where there are none."""
    count = tf.cast(tf.shape(values)[0] * tf.shape(values)[1], values.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(values, axis=(0, 1)), count)
