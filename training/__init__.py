"""Command-line entry points: `python -m training.<command>`."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable

import tensorflow as tf

from keras_cpc.audio import AudioError
from keras_cpc.distribute import grow_gpu_memory

_PYTHON_ERROR = re.compile(r"^(?:\w+\.)*(?:AudioError|RuntimeError|ValueError|FileNotFoundError): (.+)$", re.M)


def positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: a number of `kind` above zero."""
    def parse(text: str) -> int | float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def fraction(text: str) -> float:
    """An argparse type: a fraction in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1)")
    return value


def non_negative(text: str) -> float:
    """An argparse type: a float of 0 or more."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is below 0")
    return value


def error_line(error: BaseException) -> str:
    """What went wrong, in one line: for a TensorFlow error raised in the input pipeline's Python
    code (e.g. "none of the 2 audio files could be used"), that code's message."""
    raised = _PYTHON_ERROR.findall(error.message) if isinstance(error, tf.errors.OpError) else []
    return raised[-1] if raised else str(error)


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
        if not _PYTHON_ERROR.search(error.message):
            raise
        raise SystemExit(f"{parser.prog}: error: {error_line(error)}") from None
