"""Finetuning with augmentation: what `--augment N` costs once, and what it costs per epoch.

On RAVDESS clips with the shipped CPC and the shipped recipe's front end: the seconds per clip of one
augmented copy (`random_shift`, the per-speaker level normalisation, CPC's contexts), paid once when the
copies are cached; and one epoch of the preCPC head's training with and without N copies to draw from,
with the input pipeline alone (reading the cached features, drawing a version, mapping each speaker's
features onto the training statistics with the variance floor, padding) timed apart, so that its share
of an epoch shows whether drawing versions starves training. Also what a run whose copies are all cached pays to
find them (their names hold each speaker's level, itself cached), against measuring those levels again, as every
run did before session 39:

    PYTHONPATH=. python benchmarks/augmentation.py [--clips 240] [--copies 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
import keras
import tensorflow as tf

from keras_cpc.datasets import ravdess
from keras_cpc.datasets import labels
from keras_cpc.audio import load_audio
from keras_cpc.features import (cache_features, channel_shift, cpc_extractor, feature_dataset, feature_statistics,
                                speaker_levels)
from keras_cpc.loudness import LevelSettings, frontend_config
from keras_cpc.losses import CCCLoss
from keras_cpc.models import EmotionRecognizer
from training.finetune import speaker_transforms
from report import machine, save  # benchmarks/report.py

TIMED_EPOCHS = 5
VARIANCE_FLOOR = 0.05  # the shipped recipe's (assets/models/build.sh)


def epoch_seconds(dataset, train: bool) -> float:
    """Seconds of one pass: reading the dataset alone, or an epoch of `fit` on it (the mean of `TIMED_EPOCHS`
    after a warm-up epoch)."""
    if not train:
        start = time.perf_counter()
        for _ in dataset:
            pass
        return time.perf_counter() - start
    batch = next(iter(dataset))[0]
    model = EmotionRecognizer(standardize=True, bounded=True, speaker_features=True, variance_floor=VARIANCE_FLOOR)
    model.build({key: value.shape for key, value in batch.items()})
    model.compile(optimizer="adam", loss=CCCLoss(), jit_compile=False)
    model.fit(dataset, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=TIMED_EPOCHS, verbose=0)
    return (time.perf_counter() - start) / TIMED_EPOCHS


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/ravdess", help="RAVDESS root")
    parser.add_argument("--cpc", default="assets/models/cpc_librispeech.keras")
    parser.add_argument("--clips", type=int, default=240, help="clips (4 actors' worth by default)")
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    utterances = sorted(ravdess(args.data), key=lambda u: u.speaker)[:args.clips]
    extractor, frontend = cpc_extractor(args.cpc), frontend_config(LevelSettings(per_speaker=True))
    babble = [u.path for u in utterances[::len(utterances) // 20 + 1]]
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        clean = cache_features(utterances, extractor, cache, frontend)
        clean_seconds = (time.perf_counter() - start) / len(utterances)
        start = time.perf_counter()
        copies = [cache_features(utterances, extractor, cache, frontend, channel_shift(0, copy, babble))
                  for copy in range(args.copies)]
        copy_seconds = (time.perf_counter() - start) / len(utterances) / args.copies
        shifts = [channel_shift(0, copy, babble) for copy in range(args.copies)]
        start = time.perf_counter()
        assert [cache_features(utterances, extractor, cache, frontend, shift) for shift in shifts] == copies
        cached_seconds = (time.perf_counter() - start) / len(utterances) / args.copies
        start = time.perf_counter()
        for _, shift in shifts:
            speaker_levels(utterances, lambda u, shift=shift: shift(load_audio(u.path), u), frontend)
        level_seconds = (time.perf_counter() - start) / len(utterances) / args.copies
        versions = [list(row) for row in zip(clean, *copies)]
        statistics = feature_statistics(clean)
        transforms = {path: transform for version in (clean, *copies)
                      for path, transform in speaker_transforms(version, utterances, statistics, None, VARIANCE_FLOOR,
                                                                "all").items()}
        results = {"machine": machine(tf.__version__), "clips": len(utterances), "copies": args.copies,
                   "extract_seconds_per_clip": clean_seconds, "augmented_copy_seconds_per_clip": copy_seconds,
                   "cached_copy_seconds_per_clip": cached_seconds, "copy_levels_seconds_per_clip": level_seconds}
        for name, files in (("clean", clean), ("augmented", versions)):
            dataset = feature_dataset(files, labels(utterances), 32, shuffle=True, transforms=transforms)
            results[f"{name}_pipeline_seconds"] = epoch_seconds(dataset, train=False)
            results[f"{name}_epoch_seconds"] = epoch_seconds(dataset, train=True)
    for name in ("clean", "augmented"):
        results[f"{name}_pipeline_share"] = results[f"{name}_pipeline_seconds"] / results[f"{name}_epoch_seconds"]
    print(f"{results['machine']}; {len(utterances)} clips, {args.copies} copies")
    print(f"once per clip: features {clean_seconds * 1000:.0f} ms, an augmented copy's {copy_seconds * 1000:.0f} ms")
    print(f"a cached copy found: {cached_seconds * 1000:.2f} ms a clip, against {level_seconds * 1000:.1f} ms to "
          f"measure its levels again (ratio {level_seconds / cached_seconds:.0f})")
    for name in ("clean", "augmented"):
        print(f"{name}: epoch {results[f'{name}_epoch_seconds']:.2f} s, input pipeline alone "
              f"{results[f'{name}_pipeline_seconds']:.2f} s ({results[f'{name}_pipeline_share']:.0%})")
    print(f"epoch ratio augmented / clean: {results['augmented_epoch_seconds'] / results['clean_epoch_seconds']:.2f}")
    save(results, args.json)
    return results


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    main()
