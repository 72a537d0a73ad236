"""Strided convolutional waveform encoder of CPC (Oord et al. 2018; Li et al. 2021)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

PAPER_KERNELS = (10, 8, 8, 4)
PAPER_STRIDES = (5, 4, 4, 2)


def receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int]) -> int:
    """Number of input samples that one output frame depends on."""
    field, jump = 1, 1
    for kernel, stride in zip(kernel_sizes, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def hop_length(strides: Sequence[int]) -> int:
    """Number of input samples between two output frames (the total stride)."""
    hop = 1
    for stride in strides:
        hop *= stride
    return hop


def num_frames(num_samples: int, kernel_sizes: Sequence[int], strides: Sequence[int]) -> int:
    """Frames produced from `num_samples` samples by 'valid' strided convolutions."""
    length = num_samples
    for kernel, stride in zip(kernel_sizes, strides):
        length = max(0, (length - kernel) // stride + 1)
    return length


@keras.saving.register_keras_serializable(package="keras_cpc")
class ConvEncoder(keras.layers.Layer):
    """Maps a waveform `(batch, samples)` to frames `(batch, frames, channels)`.

    A stack of 'valid' Conv1D + ReLU layers. With the paper's kernels (10, 8, 8, 4)
    and strides (5, 4, 4, 2) one frame covers 425 samples and frames are 160 samples
    apart: 100 frames per second at 16 kHz.

    Args:
        channels: output channels of every convolution.
        kernel_sizes: kernel size of each convolution.
        strides: stride of each convolution (same length as `kernel_sizes`).
    """

    def __init__(
        self,
        channels: int = 128,
        kernel_sizes: Sequence[int] = PAPER_KERNELS,
        strides: Sequence[int] = PAPER_STRIDES,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(kernel_sizes) != len(strides):
            raise ValueError(
                f"kernel_sizes {tuple(kernel_sizes)} and strides {tuple(strides)} differ in length"
            )
        self.channels = channels
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.strides = tuple(int(s) for s in strides)
        self.convs = [
            keras.layers.Conv1D(channels, kernel, strides=stride, activation="relu", name=f"conv{i}",
                                dtype=self.dtype_policy)
            for i, (kernel, stride) in enumerate(zip(self.kernel_sizes, self.strides))
        ]

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_sizes, self.strides)

    @property
    def hop_length(self) -> int:
        return hop_length(self.strides)

    def build(self, input_shape):
        shape = (input_shape[0], input_shape[1], 1)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)

    def call(self, waveform):
        x = ops.expand_dims(waveform, -1)
        for conv in self.convs:
            x = conv(x)
        return x

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else num_frames(samples, self.kernel_sizes, self.strides)
        return (input_shape[0], frames, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            channels=self.channels,
            kernel_sizes=list(self.kernel_sizes),
            strides=list(self.strides),
        )
        return config
