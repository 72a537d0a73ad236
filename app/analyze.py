"""Emotion trajectories of audio files: `python -m app.analyze FILE_OR_DIR... [--model DIR] --csv OUT.csv`.

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
from pathlib import Path

from app.engine.analysis import AnalysisError, analyze_file, calibrate, folder_levels
from app.engine.bundled import DEFAULT_MODEL
from app.engine.streaming import DIMENSIONS, StreamingRecognizer
from app.engine.trajectory import plot_trajectories, summary_estimates
from keras_cpc.audio import audio_files


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.analyze", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    parser.add_argument("--model", default=DEFAULT_MODEL, type=Path,
                        help="folder written by training.export (default: the bundled one, assets/models/emotion/int8)")
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
    try:
        files = audio_files(args.inputs)
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
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
        plot_trajectories(trajectories, args.plot)
    if unfinished:
        parser.exit(1, f"{unfinished} file(s) not analysed to their end\n")


if __name__ == "__main__":
    main()
