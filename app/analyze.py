"""Emotion trajectories of audio files: `python -m app.analyze FILE_OR_DIR... --model DIR --csv OUT.csv`.

Streams every file (folders searched for .wav, .flac and .ogg) through the exported models
in blocks, so memory stays bounded for hours of audio, and writes one CSV row per prediction
(every hop, or every `--interval`): file, time (s), activation, valence, dominance. Prints each
file's summary: the mean of its predictions over full windows, or its last prediction, which
hears all of a file shorter than a window. `--plot` draws the trajectories. A file that cannot
be read, or only in part, is reported by name, and the predictions made before its problem are
kept; the exit status is then 1. Every file's level normalisation starts from its speaker's level:
by default its folder's (`--calibration folder`), or that of a recording of the speaker. Runs on
LiteRT only, without TensorFlow.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError
from pathlib import Path

import numpy as np
import soundfile
import soxr

from app.calibration import NO_LEVEL, measure_level
from app.streaming import DIMENSIONS, Prediction, StreamingRecognizer
from app.trajectory import summary_estimates
from keras_cpc.loudness import LevelNormalizer

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
BLOCK_SECONDS = 10.0


class AnalysisError(ValueError):
    """A file that could not be analysed to its end; `predictions` holds those made before the problem."""

    def __init__(self, message: str, predictions: list[Prediction]):
        super().__init__(message)
        self.predictions = predictions


def audio_files(paths: Sequence[str]) -> list[Path]:
    """The files named, and the audio files under the folders named, in order."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        else:
            files.append(path)
    return files


def read_blocks(path: Path, sample_rate: int) -> Iterator[np.ndarray]:
    """Mono float32 blocks of a file at `sample_rate`, resampled on the fly with soxr; a file that
    cannot be decoded is a `ValueError` saying why, after the samples before a NaN or Inf one."""
    try:
        with soundfile.SoundFile(path) as audio:
            resampler = None if audio.samplerate == sample_rate else \
                soxr.ResampleStream(audio.samplerate, sample_rate, 1, dtype="float32")
            read = 0
            for block in audio.blocks(round(BLOCK_SECONDS * audio.samplerate), dtype="float32", always_2d=True):
                mono = block.mean(axis=1)
                if not (finite := np.isfinite(mono)).all():
                    first = int(np.argmin(finite))
                    yield mono[:first] if resampler is None else resampler.resample_chunk(mono[:first], last=True)
                    seconds = (read + first) / audio.samplerate
                    raise ValueError(f"audio contains NaN or Inf samples from {seconds:.2f} s")
                read += len(mono)
                yield mono if resampler is None else resampler.resample_chunk(mono)
            if resampler is not None:
                yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError, TypeError) as error:  # TypeError: headerless .raw
        raise ValueError(f"cannot decode audio ({error})") from None


def calibrate(recognizer: StreamingRecognizer, path: Path) -> None:
    """Makes the speech level of a recording of the speaker (read as the analysed files are) the prior of the
    recognizer's level normalisation, which `reset` keeps. A `ValueError` names the file and why it cannot."""
    if recognizer.level is None:
        raise ValueError(f"--calibration {path}: {NO_LEVEL}")
    try:
        audio = np.concatenate([np.zeros(0, np.float32), *read_blocks(path, recognizer.sample_rate)])
        level = measure_level(audio, recognizer.level.settings, recognizer.sample_rate)
    except ValueError as error:  # the audio's problem, or no speech in it
        raise ValueError(f"--calibration {path}: {error}") from None
    recognizer.calibrate(level)


def folder_levels(recognizer: StreamingRecognizer, files: Sequence[Path]) -> dict[Path, float]:
    """Each folder's speaker level, as training calibrates a speaker: the median of its files' speech levels,
    each measured as it streams (a file that cannot be read, or holds no speech, is left out; no folder for a
    model without level normalisation)."""
    if recognizer.level is None:
        return {}
    settings, levels = recognizer.level.settings, {}
    for path in files:
        normalizer = LevelNormalizer(settings, recognizer.sample_rate)
        try:
            for block in read_blocks(path, recognizer.sample_rate):
                normalizer.push(block)
        except ValueError:  # reported when the file is analysed
            pass
        if normalizer.level_dbfs is not None:
            levels.setdefault(path.parent, []).append(normalizer.level_dbfs)
    return {folder: float(np.median(values)) for folder, values in levels.items()}


def analyze_file(recognizer: StreamingRecognizer, path: Path, stop: threading.Event | None = None
                 ) -> list[Prediction]:
    """Per-hop predictions over a whole file; raises `AnalysisError` saying the file's problem (with
    the predictions made before it), and `CancelledError` at the next block once `stop` is set."""
    recognizer.reset()
    predictions = []
    try:
        for block in read_blocks(path, recognizer.sample_rate):
            if stop is not None and stop.is_set():
                raise CancelledError(f"analysis of {path} stopped")
            predictions += recognizer.push(block)
        predictions += recognizer.flush()
    except ValueError as error:  # from read_blocks, after the audio before its problem
        raise AnalysisError(str(error), predictions + recognizer.flush()) from None
    except RuntimeError as error:  # from LiteRT
        raise AnalysisError(f"the model failed on it ({error})", predictions) from None
    if not predictions:
        raise AnalysisError(f"shorter than the {recognizer.config['receptive_field']} samples of one frame", [])
    return predictions


def plot(trajectories: dict[str, list[Prediction]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(len(DIMENSIONS), 1, sharex=True, figsize=(10, 7))
    for name, predictions in trajectories.items():
        times = [p.time for p in predictions]
        for axis, dimension in zip(axes, DIMENSIONS):
            axis.plot(times, [getattr(p, dimension) for p in predictions], label=Path(name).name)
    for axis, dimension in zip(axes, DIMENSIONS):
        axis.set_ylabel(dimension)
        axis.set_ylim(-1.05, 1.05)
    axes[-1].set_xlabel("time (s)")
    axes[0].legend(fontsize="small", loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.analyze", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    parser.add_argument("--model", required=True, help="folder written by training.export")
    parser.add_argument("--csv", required=True, help="per-hop predictions")
    parser.add_argument("--plot", help="figure of the trajectories (.png)")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads")
    parser.add_argument("--calibration", metavar="FILE|folder|none", default="folder",
                        help="where each file's level normalisation starts (models whose model.json has a frontend): "
                             "'folder' (default): a folder's files are one speaker, calibrated with the median of "
                             "their speech levels, as training calibrates a speaker; FILE: a recording of the "
                             "speaker (e.g. 15 s reading a neutral text, at the files' recording level); 'none': "
                             "each file adapts during its first seconds (unreliable for short clips)")
    parser.add_argument("--interval", type=float,
                        help="seconds between predictions, a multiple of the model's hop (default: every hop; "
                             "inf: one per file, at its end); the head's cost is paid once per interval")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        recognizer = StreamingRecognizer(args.model, num_threads=args.threads, interval=args.interval)
        if args.calibration not in ("folder", "none"):
            calibrate(recognizer, Path(args.calibration))
    except ValueError as error:  # ModelError included
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    files = audio_files(args.inputs)
    if not files:
        kinds, where = "/".join(AUDIO_EXTENSIONS), " ".join(args.inputs)
        parser.exit(2, f"{parser.prog}: error: no {kinds} files in {where}\n")
    levels = folder_levels(recognizer, files) if args.calibration == "folder" else None
    trajectories, unfinished = {}, 0
    with open(args.csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "time", *DIMENSIONS])
        for path in files:
            if levels is not None:
                recognizer.calibrate(levels.get(path.parent))
            try:
                predictions = analyze_file(recognizer, path)
            except AnalysisError as error:
                predictions, unfinished = error.predictions, unfinished + 1
                kept = f"; its {len(predictions)} predictions up to {predictions[-1].time:.1f} s are kept" \
                    if predictions else ""
                print(f"{path}: {error}{kept}", file=sys.stderr)
                if not predictions:
                    continue
            trajectories[os.fspath(path)] = predictions
            writer.writerows([os.fspath(path), f"{p.time:.3f}", *(f"{v:.5f}" for v in p[1:])]
                             for p in predictions)
    print(f"{'file':<40} {'seconds':>8} " + " ".join(f"{d:>10}" for d in DIMENSIONS))
    for name, predictions in trajectories.items():
        means = summary_estimates(predictions, recognizer.window_seconds).mean(axis=0)
        print(f"{Path(name).name[-40:]:<40} {predictions[-1].time:8.1f} " + " ".join(f"{m:10.3f}" for m in means))
    if args.plot and trajectories:
        plot(trajectories, args.plot)
    if unfinished:
        parser.exit(1, f"{unfinished} file(s) not analysed to their end\n")


if __name__ == "__main__":
    main()
