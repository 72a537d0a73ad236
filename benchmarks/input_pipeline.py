"""Throughput (audio-seconds of crops delivered per second) of `keras_cpc.datasets.crop_dataset`.

Compared, on the same files, with a sequential Python loop of `load_audio` + `fit_to_length`:

    PYTHONPATH=. python benchmarks/input_pipeline.py [--batches 60] [--json results.json]
"""

from __future__ import annotations

import argparse
import itertools
import time

import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
import numpy as np
import tensorflow as tf

from keras_cpc.audio import SAMPLE_RATE, load_audio
from keras_cpc.datasets import crop_dataset, find_utterances, fit_to_length
from report import machine, save  # benchmarks/report.py

WARMUP_BATCHES = 5


def pipeline_seconds(paths: list[str], batch_size: int, crop_seconds: float, batches: int) -> float:
    """Wall-clock seconds for `crop_dataset` to deliver `batches` batches after a warm-up."""
    dataset = crop_dataset(paths, batch_size, crop_seconds, training=True)
    iterator = iter(dataset)
    try:
        for _ in range(WARMUP_BATCHES):
            next(iterator)
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        return time.perf_counter() - start
    finally:
        # An infinite iterator over tf.numpy_function deadlocks at interpreter exit if still alive.
        del iterator, dataset


def loop_seconds(paths: list[str], crop_seconds: float, crops: int) -> float:
    """Wall-clock seconds for a plain loop to decode and crop `crops` files, one after another."""
    length = int(round(crop_seconds * SAMPLE_RATE))
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for path in itertools.islice(itertools.cycle(rng.permutation(paths)), crops):
        audio = load_audio(path)
        offset = int(rng.integers(0, audio.shape[0] - length + 1)) if audio.shape[0] > length else 0
        fit_to_length(audio, length, offset)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["../shared/data/librispeech"],
                        help="LibriSpeech roots or folders of audio files")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-seconds", type=float, default=10.0)
    parser.add_argument("--batches", type=int, default=60, help="timed batches")
    parser.add_argument("--train-audio-s-per-s", type=float,
                        help="training throughput to compare with (from benchmarks/train_throughput.py)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    paths = [utterance.path for utterance in find_utterances(args.data)]
    crops = args.batches * args.batch_size
    audio_seconds = crops * args.crop_seconds

    pipeline = pipeline_seconds(paths, args.batch_size, args.crop_seconds, args.batches)
    results = {
        "crop_dataset": audio_seconds / pipeline,
        "sequential loop": audio_seconds / loop_seconds(paths, args.crop_seconds, crops),
    }
    ratio = results["crop_dataset"] / results["sequential loop"]
    config = vars(args) | {"files": len(paths), "warmup_batches": WARMUP_BATCHES}
    report = {"machine": machine(tf.__version__), "config": config, "audio_s_per_s": results,
              "ratio_pipeline_over_loop": ratio}

    print(f"Machine: {report['machine']}")
    print(f"{len(paths)} files, {args.batches} batches of {args.batch_size} x {args.crop_seconds:g} s "
          f"after {WARMUP_BATCHES} warm-up batches\n")
    print("| input | audio-s/s |\n|---|---:|")
    for name, rate in results.items():
        print(f"| {name} | {rate:.1f} |")
    print(f"\ncrop_dataset / sequential loop: {ratio:.2f}x")
    if args.train_audio_s_per_s:
        report["ratio_pipeline_over_training"] = results["crop_dataset"] / args.train_audio_s_per_s
        print(f"crop_dataset / training ({args.train_audio_s_per_s:g} audio-s/s): "
              f"{report['ratio_pipeline_over_training']:.2f}x")
    return save(report, args.json)


if __name__ == "__main__":
    main()
