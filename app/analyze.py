"""Emotion trajectories of audio files: `python -m app.analyze FILE_OR_DIR... [--model DIR] --csv OUT.csv`.

Streams every file (folders searched for .wav, .flac and .ogg) through the exported models
in blocks, so memory stays bounded for hours of audio, and writes one CSV row per prediction
(every hop, or every `--interval`): file, time (s), activation, valence, dominance. Prints each
file's summary: the mean of its predictions over full windows, or its last prediction, which
hears all of a file shorter than a window. `--plot` draws the trajectories. A file that cannot
be read, or only in part, is reported by name, and the predictions made before its problem are
kept; the exit status is then 1. A file named twice is analysed once. The outputs are checked
before the work (an output never overwrites an input) and written whole: beside, then moved into
place. Every file's level normalisation starts from its speaker's level: by default its folder's
(`--calibration folder`; `--speakers` groups a flat corpus's files by a pattern of their names instead), or that of a
recording of the speaker. A folder's (or group's) files are presumed neutral speech on average, as someone's are;
`--acted` says they hold every emotion in turn, as an acted corpus's speakers do. Without `--model`, the bundled model.
Runs on LiteRT only, without TensorFlow.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import NoReturn

from app.engine.analysis import AnalysisError, analyze_file, calibrate, folder, speaker_calibrations
from app.engine.bundled import DEFAULT_MODEL
from app.engine.streaming import DIMENSIONS, Prediction, StreamingRecognizer
from app.engine.trajectory import plot_formats, plot_trajectories, summary_estimates, write_csv
from keras_cpc.audio import audio_files

CALIBRATIONS = ("folder", "none")  # --calibration's words; anything else is a FILE


def thread_count(text: str) -> int:
    """`--threads`: a whole number of at least 1, as LiteRT takes."""
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of at least 1")
    return threads


def speaker_pattern(text: str) -> re.Pattern[str]:
    """`--speakers`: a regular expression."""
    try:
        return re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"'{text}': not a regular expression ({error})") from None


def speaker_names(pattern: re.Pattern[str], files: Sequence[Path]) -> dict[Path, str]:
    """Each file's speaker by `--speakers`: the first group of the pattern's first match in the file's name (the
    whole match for a pattern without groups); a ValueError names a file in whose name it finds no speaker."""
    names = {}
    for path in files:
        match = pattern.search(path.name)
        if not (name := match and match.group(1 if pattern.groups else 0)):
            raise ValueError(f"--speakers '{pattern.pattern}' names no speaker in the name of {path}")
        names[path] = name
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.analyze", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    parser.add_argument("--model", default=DEFAULT_MODEL, type=Path,
                        help="folder written by training.export (default: the bundled one, assets/models/emotion/int8)")
    parser.add_argument("--csv", required=True, type=Path, help="per-hop predictions")
    parser.add_argument("--plot", type=Path, help="figure of the trajectories (.png)")
    parser.add_argument("--threads", type=thread_count, default=1, help="LiteRT threads (at least 1)")
    parser.add_argument("--calibration", metavar="FILE|folder|none", default="folder",
                        help="where each file's level normalisation starts (models whose model.json has a frontend): "
                             "'folder' (default): a folder's files (or, with --speakers, those whose names give the "
                             "same speaker) are one speaker, calibrated with the median of their speech levels and, "
                             "for a model trained so, their contexts' statistics, presumed neutral speech unless "
                             "--acted; FILE: a recording of the speaker (e.g. 15 s reading a neutral text, at the "
                             "files' recording level); 'none': each file adapts during its first seconds (unreliable "
                             "for short clips)")
    parser.add_argument("--speakers", type=speaker_pattern, metavar="REGEX",
                        help="with --calibration folder: the files calibrated together as one speaker's are those "
                             "whose names give the same first group of this regular expression (the whole match "
                             "without a group), wherever they are, instead of a folder's: e.g. '^\\d\\d' for "
                             "EMO-DB's 03a01Fa.wav, '^(\\d+)_' for CREMA-D's 1001_DFA_ANG_XX.wav")
    parser.add_argument("--acted", action="store_true",
                        help="with --calibration folder: each speaker's files hold every emotion in turn (an acted "
                             "corpus), so their contexts' statistics are mapped onto the training corpus's, as "
                             "training.robustness calibrates actors, instead of presumed neutral speech on average "
                             "(someone's recordings); for models whose model.json records a neutral reference, as "
                             "the shipped one does. On RAVDESS's held-out actors, presuming them neutral lowers "
                             "activation by 0.27 on average (docs/results.md, session 39)")
    parser.add_argument("--interval", type=float,
                        help="seconds between predictions, a multiple of the model's hop (default: every hop; "
                             "inf: one per file, at its end); the head's cost is paid once per interval")
    return parser


def fail(parser: argparse.ArgumentParser, message: object) -> NoReturn:
    """Exits with status 2 and a one-line error."""
    parser.exit(2, f"{parser.prog}: error: {message}\n")


def distinct(files: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The files, each once (by the first of its names), and those named more than once."""
    names: dict[Path, list[Path]] = {}
    for path in files:
        names.setdefault(path.resolve(), []).append(path)
    return [paths[0] for paths in names.values()], [paths[0] for paths in names.values() if len(paths) > 1]


def inputs(args: argparse.Namespace, files: Sequence[Path]) -> list[Path]:
    """Every file the analysis reads: the audio, the model folder's files, a calibration recording."""
    model = list(args.model.iterdir()) if args.model.is_dir() else []
    calibration = [] if args.calibration in CALIBRATIONS else [Path(args.calibration)]
    return [*files, *model, *calibration]


def output_problem(path: Path, taken: dict[Path, str]) -> str | None:
    """Why `path` cannot take an output, or None: it is one of the `taken` files (by resolved path), a folder,
    or its folder is missing or cannot be written in."""
    if (what := taken.get(path.resolve())) is not None:
        return f"is {what}: an output never overwrites it"
    if path.is_dir():
        return "is a folder"
    try:
        tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as error:
        return f"cannot be written in {path.parent} ({error.strerror})"
    return None


def check_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace, files: Sequence[Path]) -> None:
    """Refuses, before any work, an output that would overwrite an input or the other output, or cannot be written."""
    taken = {path.resolve(): "an input" for path in inputs(args, files)}
    for option, path in (("--csv", args.csv), ("--plot", args.plot)):
        if path is None:
            continue
        if problem := output_problem(path, taken):
            fail(parser, f"{option} {path} {problem}")
        taken[path.resolve()] = f"the {option} output"
    if args.plot is not None and args.plot.suffix and args.plot.suffix[1:].lower() not in plot_formats():
        fail(parser, f"--plot {args.plot}: not a figure format ({', '.join(plot_formats())})")


def analyze_files(recognizer: StreamingRecognizer, files: Sequence[Path], speaker: Callable[[Path], Hashable] | None,
                  neutral: bool = True) -> tuple[dict[str, list[Prediction]], int]:
    """Each file's predictions, by its name, each file calibrated with its `speaker`'s files, presumed `neutral`
    speech on average or not (no `speaker`: as the recognizer is), and how many files were not analysed to their end
    (reported on stderr by name, their predictions up to the problem kept)."""
    calibrations = speaker_calibrations(recognizer, files, speaker, neutral) if speaker is not None else None
    trajectories, unfinished = {}, 0
    for path in files:
        if calibrations is not None:
            recognizer.calibrate(*calibrations.get(speaker(path), (None, None)), neutral=neutral)
        try:
            predictions = analyze_file(recognizer, path)
        except AnalysisError as error:
            predictions, unfinished = error.predictions, unfinished + 1
            kept = f"; its {len(predictions)} predictions up to {predictions[-1].time:.1f} s are kept" \
                if predictions else ""
            print(f"{path}: {error}{kept}", file=sys.stderr)
        if predictions:
            trajectories[str(path)] = predictions
    return trajectories, unfinished


def print_summary(trajectories: dict[str, list[Prediction]], window_seconds: float) -> None:
    """A table of each file's length and the mean of its summary estimates."""
    print(f"{'file':<40} {'seconds':>8} " + " ".join(f"{d:>10}" for d in DIMENSIONS))
    for name, predictions in trajectories.items():
        means = summary_estimates(predictions, window_seconds).mean(axis=0)
        print(f"{Path(name).name[-40:]:<40} {predictions[-1].time:8.1f} " + " ".join(f"{m:10.3f}" for m in means))


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        files, repeated = distinct(audio_files(args.inputs))
    except (FileNotFoundError, ValueError) as error:
        fail(parser, error)
    if repeated:
        print(f"{parser.prog}: warning: named more than once, analysed once: {', '.join(map(str, repeated))}",
              file=sys.stderr)
    check_outputs(parser, args, files)
    speaker = None
    try:
        if args.calibration == "folder":
            speaker = speaker_names(args.speakers, files).__getitem__ if args.speakers is not None else folder
        elif args.speakers is not None or args.acted:
            option = "--speakers" if args.speakers is not None else "--acted"
            raise ValueError(f"{option} is about the calibrations of --calibration folder, not {args.calibration}")
        recognizer = StreamingRecognizer(args.model, num_threads=args.threads, interval=args.interval)
        if args.calibration not in CALIBRATIONS:
            calibrate(recognizer, Path(args.calibration))
    except ValueError as error:  # ModelError included
        fail(parser, error)
    trajectories, unfinished = analyze_files(recognizer, files, speaker, neutral=not args.acted)
    try:
        write_csv(args.csv, trajectories)
        if args.plot and trajectories:
            plot_trajectories(trajectories, args.plot)
    except OSError as error:  # checked before the work: a disk that filled up since, say
        fail(parser, f"cannot write the results ({error})")
    print_summary(trajectories, recognizer.window_seconds)
    if unfinished:
        parser.exit(1, f"{unfinished} file(s) not analysed to their end\n")


if __name__ == "__main__":
    main()
