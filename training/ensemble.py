"""One recognizer from several runs of a recipe: `python -m training.ensemble`.

Loads the `recognizer.keras` of each `--members` run (`EmotionRecognizer`s on the same features, e.g. from
`training.finetune --run 0`, `--run 1`, ...) and saves their `keras_cpc.models.RecognizerEnsemble`, the mean of
their estimates, to `--out`, for `training.export`, `training.heldout` and `training.evaluate` as any recognizer.
Runs of one recipe with other seeds differ most out of domain (docs/results.md); their mean is steadier than any.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from keras_cpc.models import EmotionRecognizer, ensemble_of, load_model_file
from training import run_cli

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.ensemble", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", nargs="+", required=True, metavar="RECOGNIZER",
                        help="recognizer.keras of each run (EmotionRecognizers on the same features)")
    parser.add_argument("--out", required=True, help="the ensemble's .keras file")
    return parser


def ensemble(args: argparse.Namespace) -> None:
    """Loads the members (each an `EmotionRecognizer`) and saves their ensemble."""
    members = [load_model_file(path, EmotionRecognizer, compile=False) for path in args.members]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ensemble_of(members).save(args.out)
    logger.info("wrote %s: the mean of %d recognizers", args.out, len(members))


def main(argv: list[str] | None = None) -> None:
    run_cli(ensemble, build_parser(), argv)


if __name__ == "__main__":
    main()
