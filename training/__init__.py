"""Command-line entry points: `python -m training.<command>`."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from keras_cpc.audio import AudioError


def run_cli(run: Callable[[argparse.Namespace], object], parser: argparse.ArgumentParser,
            argv: list[str] | None) -> None:
    """Parses `argv` and runs; a missing or unusable input ends with one line naming it, not a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parser.parse_args(argv)
    try:
        run(args)
    except (FileNotFoundError, AudioError, ValueError) as error:
        raise SystemExit(f"{parser.prog}: error: {error}") from None
