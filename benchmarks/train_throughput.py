"""Training throughput (audio-seconds per second) of `keras_cpc.models.CPC` against a naive prototype.

Both models have the paper's configuration and train on the same in-memory batch of random
audio, so the numbers measure the training step only, not the input pipeline:

    PYTHONPATH=. python benchmarks/train_throughput.py [--steps 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import time

import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
import keras
import numpy as np
import tensorflow as tf

from keras_cpc.audio import SAMPLE_RATE
from keras_cpc.layers.encoder import PAPER_KERNELS, PAPER_STRIDES
from keras_cpc.models import CPC
from report import machine, save  # benchmarks/report.py

CHANNELS, CONTEXT_UNITS, PREDICTION_STEPS, NEGATIVES = 128, 256, 12, 50
WARMUP_STEPS = 2


class NaiveCPC(keras.Model):
    """A straightforward prototype: one Dense predictor, negative draw and gather per step."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.convs = [keras.layers.Conv1D(CHANNELS, kernel, strides=stride, activation="relu")
                      for kernel, stride in zip(PAPER_KERNELS, PAPER_STRIDES)]
        self.gru = keras.layers.GRU(CONTEXT_UNITS, return_sequences=True)
        self.predictors = [keras.layers.Dense(CHANNELS) for _ in range(PREDICTION_STEPS)]

    def build(self, input_shape):
        shape = (None, None, 1)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.gru.build(shape)
        for predictor in self.predictors:
            predictor.build((None, None, CONTEXT_UNITS))

    def call(self, audio, training: bool = False):
        frames = audio[..., None]
        for conv in self.convs:
            frames = conv(frames)
        return frames, self.gru(frames, training=training)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            frames, context = self(data, training=True)
            batch, num_frames = tf.shape(frames)[0], tf.shape(frames)[1]
            num_contexts = num_frames - PREDICTION_STEPS  # the same contexts as CPC
            losses = []
            for k, predictor in enumerate(self.predictors):
                predictions = predictor(context[:, :num_contexts])
                positive_index = tf.range(num_contexts)[None, :, None] + k + 1
                drawn = tf.random.uniform((batch, num_contexts, NEGATIVES), 0, num_frames - 1, tf.int32)
                drawn = tf.where(drawn >= positive_index, drawn + 1, drawn)  # never the positive
                negatives = tf.gather(frames, drawn, batch_dims=1)
                positives = frames[:, k + 1 : k + 1 + num_contexts]
                logits = tf.concat([tf.reduce_sum(predictions * positives, -1, keepdims=True),
                                    tf.einsum("btd,btnd->btn", predictions, negatives)], axis=-1)
                labels = tf.zeros(tf.shape(logits)[:2], tf.int32)
                losses.append(tf.reduce_mean(
                    keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)))
            loss = tf.add_n(losses) / PREDICTION_STEPS
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        for metric in self.metrics:  # only the loss tracker of `compile`
            metric.update_state(loss)
        return {metric.name: metric.result() for metric in self.metrics}


def random_batches(batch_size: int, samples: int) -> tf.data.Dataset:
    """The same random batch of audio (amplitude ~0.1) forever."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((batch_size, samples))).astype(np.float32)
    return tf.data.Dataset.from_tensors(audio).repeat()


def time_steps(model: keras.Model, dataset: tf.data.Dataset, steps: int) -> tuple[float, float]:
    """Mean wall-clock seconds of a `fit` step (after warm-up steps that trace it) and the mean loss."""
    model.fit(dataset, steps_per_epoch=WARMUP_STEPS, shuffle=False, verbose=0)
    start = time.perf_counter()
    history = model.fit(dataset, steps_per_epoch=steps, shuffle=False, verbose=0)
    return (time.perf_counter() - start) / steps, history.history["loss"][-1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per model")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    dataset = random_batches(args.batch_size, int(round(args.crop_seconds * SAMPLE_RATE)))
    audio_per_step = args.batch_size * args.crop_seconds

    ours = CPC(encoder_channels=CHANNELS, context_units=CONTEXT_UNITS, prediction_steps=PREDICTION_STEPS,
               negatives=NEGATIVES)
    ours.compile(optimizer=keras.optimizers.Adam(2e-4), jit_compile=False)
    baseline = NaiveCPC()
    baseline.compile(optimizer=keras.optimizers.Adam(2e-4))
    results = {}
    for name, model in (("keras_cpc CPC", ours), ("naive prototype", baseline)):
        step, loss = time_steps(model, dataset, args.steps)
        results[name] = {"seconds_per_step": step, "audio_s_per_s": audio_per_step / step,
                         "jit_compile": bool(model.jit_compile), "loss": loss}
    ratio = results["keras_cpc CPC"]["audio_s_per_s"] / results["naive prototype"]["audio_s_per_s"]
    gpus = len(tf.config.list_physical_devices("GPU"))
    report = {"machine": {**machine(tf.__version__), "gpus": gpus},
              "config": vars(args) | {"warmup_steps": WARMUP_STEPS}, "results": results,
              "ratio_ours_over_baseline": ratio}

    print(f"Machine: {report['machine']}")
    print(f"Batch {args.batch_size} x {args.crop_seconds:g} s, "
          f"{args.steps} timed steps after {WARMUP_STEPS} warm-up steps\n")
    print("| model | jit_compile | loss | s/step | audio-s/s |\n|---|---|---:|---:|---:|")
    for name, result in results.items():
        print(f"| {name} | {result['jit_compile']} | {result['loss']:.3f} "
              f"| {result['seconds_per_step']:.3f} | {result['audio_s_per_s']:.1f} |")
    print(f"\nours / baseline: {ratio:.2f}x")
    return save(report, args.json)


if __name__ == "__main__":
    main()
