"""Multi-head self-attention over the valid frames of padded sequences."""

from __future__ import annotations

import keras
from keras import ops

MASKED_LOGIT = -1e9  # float16 (mixed precision) ends at 65504: there, -3e4 as in `keras.layers.Softmax`


def masked_logit(dtype) -> float:
    """A logit that gets no softmax weight, finite in `dtype` (an infinite one makes `0 * logit` NaN)."""
    return -3e4 if keras.backend.standardize_dtype(dtype) == "float16" else MASKED_LOGIT


@keras.saving.register_keras_serializable(package="keras_cpc")
class SelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product self-attention whose output has the input's dimension.

    Maps `(batch, time, dim)` to `(batch, time, dim)`. Queries, keys and values are dense
    projections to `attention_dim` split over `num_heads`; the heads' outputs are
    concatenated and projected back to `dim`. Keys outside `mask` `(batch, time)` get no
    weight, so padded frames (of finite values, such as the zeros of `padded_batch`) never
    change the valid frames' outputs.

    Same computation as `keras.layers.MultiHeadAttention(num_heads, attention_dim //
    num_heads)` with a value mask, written with dense layers and a `(batch, 1, 1, time)`
    additive mask so that a static-shape LiteRT export holds no `(heads, time, time)`
    constant and its projections quantize as fully connected ops.

    With `span`, frame `i` attends only to frames `i - span + 1` to `i` (causal, within a window):
    a frame's output then never changes once the frames it sees are there, which a stream can reuse.

    Args:
        num_heads: attention heads.
        attention_dim: total query/key/value dimension over all heads.
        span: frames each query sees, itself and those before it; `None`: every frame (the paper's).
    """

    def __init__(self, num_heads: int = 8, attention_dim: int = 512, span: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if attention_dim % num_heads:
            raise ValueError(f"attention_dim {attention_dim} is not divisible by num_heads {num_heads}")
        if span is not None and span < 1:
            raise ValueError(f"span {span} is not a positive number of frames")
        self.num_heads = num_heads
        self.attention_dim = attention_dim
        self.span = span
        self.query = keras.layers.Dense(attention_dim, name="query", dtype=self.dtype_policy)
        self.key = keras.layers.Dense(attention_dim, name="key", dtype=self.dtype_policy)
        self.value = keras.layers.Dense(attention_dim, name="value", dtype=self.dtype_policy)
        self.output_dense = None
        self.supports_masking = True

    def build(self, input_shape):
        for dense in (self.query, self.key, self.value):
            dense.build(input_shape)
        self.output_dense = keras.layers.Dense(input_shape[-1], name="output", dtype=self.dtype_policy)
        self.output_dense.build((*input_shape[:-1], self.attention_dim))

    def _heads(self, x):
        """`(batch, time, attention_dim)` -> `(batch, heads, time, attention_dim / heads)`."""
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.num_heads, self.attention_dim // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, inputs, mask=None):
        scale = (self.attention_dim // self.num_heads) ** -0.5
        query = self._heads(self.query(inputs) * scale)
        logits = ops.matmul(query, ops.transpose(self._heads(self.key(inputs)), (0, 1, 3, 2)))
        if mask is not None:
            hidden = 1.0 - ops.cast(mask[:, None, None, :], logits.dtype)
            logits = logits + hidden * masked_logit(logits.dtype)
        if self.span is not None:
            positions = ops.arange(ops.shape(inputs)[1], dtype="int32")
            behind = positions[:, None] - positions[None, :]  # query minus key
            outside = ops.cast((behind < 0) | (behind >= self.span), logits.dtype)
            logits = logits + outside[None, None] * masked_logit(logits.dtype)
        attended = ops.matmul(ops.softmax(logits, axis=-1), self._heads(self.value(inputs)))
        shape = ops.shape(inputs)
        merged = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)), (shape[0], shape[1], self.attention_dim))
        return self.output_dense(merged)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, attention_dim=self.attention_dim, span=self.span)
        return config
