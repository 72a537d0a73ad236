"""Command-line entry points, `python -m training.<command>`, and what they share: argparse types and
options, and `run_cli`, which turns an error into one line and an exit status."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import keras_cpc

keras_cpc.require_tensorflow()  # first: it names the extra to install when TensorFlow is missing
import tensorflow as tf  # noqa: E402

from keras_cpc.audio import AudioError  # noqa: E402
from keras_cpc.datasets.emotion import EmotionUtterance  # noqa: E402
from keras_cpc.datasets.protocol import CORPORA, FOLDS, VALIDATION_FRACTION, read_corpus  # noqa: E402
from keras_cpc.distribute import grow_gpu_memory  # noqa: E402

_PYTHON_ERROR = re.compile(r"^(?:\w+\.)*(?:AudioError|RuntimeError|ValueError|FileNotFoundError): (.+)$", re.M)


def _checked_number(kind: type, valid: Callable[[int | float], bool], problem: str,
                    name: str) -> Callable[[str], int | float]:
    """An argparse type: a number of `kind` for which `valid` holds, else "<text> <problem>"."""
    def parse(text: str) -> int | float:
        value = kind(text)
        if not valid(value):
            raise argparse.ArgumentTypeError(f"{text} {problem}")
        return value
    parse.__name__ = name  # argparse's "invalid <name> value" for text that is not a number
    return parse


def positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: a number of `kind` above zero."""
    return _checked_number(kind, lambda value: value > 0, "is not above 0", f"positive {kind.__name__}")


fraction = _checked_number(float, lambda value: 0 <= value < 1, "is not in [0, 1)", "fraction")
share = _checked_number(float, lambda value: 0 < value <= 1, "is not in (0, 1]", "share")
non_negative = _checked_number(float, lambda value: value >= 0, "is below 0", "non_negative")
non_negative_int = _checked_number(int, lambda value: value >= 0, "is below 0", "non_negative_int")


def add_corpus_arguments(parser: argparse.ArgumentParser,
                         validation_help: str = "fraction of training speakers held out to pick the best epoch"
                         ) -> None:
    """The corpus and its split, as `split` takes them (shared by the training and scoring CLIs)."""
    parser.add_argument("--corpus", choices=CORPORA, required=True)
    parser.add_argument("--data", required=True,
                        help="corpus root (for csv, the CSV file: see keras_cpc.datasets.csv_corpus)")
    parser.add_argument("--folds", type=positive(int), default=FOLDS,
                        help="speaker-independent folds (IEMOCAP's are its sessions; MSP-Podcast has its split)")
    parser.add_argument("--validation-fraction", type=fraction, default=VALIDATION_FRACTION, help=validation_help)
    parser.add_argument("--train-sentence", type=int, choices=(1, 2),
                        help="cross-sentence protocol (RAVDESS): train and validate on this sentence's clips only; "
                             "the test speakers' clips of both sentences are scored, each sentence apart too")


def add_test_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """The fold scored, or another corpus scored in its held-out speakers' place (shared by the scoring CLIs)."""
    parser.add_argument("--test-corpus", choices=CORPORA,
                        help="score every utterance of this corpus instead of the fold's held-out speakers "
                             "(cross-corpus: a corpus the models never heard); the fold still says what they learned")
    parser.add_argument("--test-data", help="the --test-corpus root (for csv, its CSV file)")
    parser.add_argument("--fold", type=int, default=0,
                        help="the fold whose test speakers are scored (with --test-corpus: whose training speakers "
                             "the models learned)")


def evaluation_set(args: argparse.Namespace, sets: Sequence[Sequence[EmotionUtterance]]) -> list[EmotionUtterance]:
    """The utterances scored: the fold's test set (the last of its training, validation and test `sets`), or every
    utterance of `--test-corpus`, none of which may be a file the fold trains or validates on."""
    if (args.test_corpus is None) != (args.test_data is None):
        raise ValueError("--test-corpus and --test-data go together: give both, or neither to score the fold")
    if args.test_corpus is None:
        return list(sets[-1])
    test = read_corpus(args.test_corpus, args.test_data)
    learned = {Path(u.path).resolve() for learning in sets[:-1] for u in learning}
    if heard := next((u.path for u in test if Path(u.path).resolve() in learned), None):
        raise ValueError(f"{heard}: a file of {args.test_data} that {args.corpus} fold {args.fold} trains or "
                         "validates on; a --test-corpus must be one the models never heard")
    return test


def evaluation_description(args: argparse.Namespace) -> str:
    """What `evaluation_set` scores, in words."""
    if args.test_corpus is None:
        return f"held-out utterances of {args.corpus} fold {args.fold}"
    return f"utterances of {args.test_corpus} {args.test_data} (trained on {args.corpus} fold {args.fold})"


def pipeline_error(error: tf.errors.OpError) -> str | None:
    """The message of the Python error that a TensorFlow error carries from the input pipeline's
    code (e.g. "none of the 2 audio files could be used"), if it carries one."""
    raised = _PYTHON_ERROR.findall(error.message)
    return raised[-1] if raised else None


def error_line(error: BaseException) -> str:
    """What went wrong: `pipeline_error`'s message for a TensorFlow error that carries one."""
    return (isinstance(error, tf.errors.OpError) and pipeline_error(error)) or str(error)


def run_cli(run: Callable[[argparse.Namespace], object], parser: argparse.ArgumentParser,
            argv: list[str] | None) -> None:
    """Parses `argv` and runs; a missing or unusable input ends with one line naming it, not a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parser.parse_args(argv)
    grow_gpu_memory()
    try:
        run(args)
    except (FileNotFoundError, AudioError, ValueError) as error:
        raise SystemExit(f"{parser.prog}: error: {error}") from None
    except tf.errors.OpError as error:
        if (message := pipeline_error(error)) is None:
            raise
        raise SystemExit(f"{parser.prog}: error: {message}") from None
