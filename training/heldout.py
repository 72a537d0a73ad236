"""A recognizer and its LiteRT exports scored on one fold's held-out speakers: `python -m training.heldout`.

For every test utterance of `--fold` (each calibrated with its speaker's level, when the model's
front end is calibrated per speaker): the Keras model on the whole utterance (as
`training.finetune` scores one up to its `--max-seconds`, 10 s: all of RAVDESS), the Keras
model on the utterance's last window of the exports (`window_frames` contexts, what a
stream's last prediction sees), and the last prediction of `app.analyze`'s streaming engine
for each exported folder. Prints and writes (`--json`) the
CCC per dimension of each, and the largest difference between each export and the Keras
model on the same window.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
import keras
import numpy as np

from app.engine.analysis import analyze_file
from app.engine.streaming import StreamingRecognizer
from keras_cpc.audio import load_audio
from keras_cpc.export import stream_contexts, window_prediction
from keras_cpc.datasets import EmotionUtterance, labels
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.features import speaker_levels
from keras_cpc.metrics.ccc import DIMENSIONS, ccc
from training import add_corpus_arguments, run_cli
from training.config import SettingError


def keras_predictions(recognizer_path: str, cpc_path: str, utterances: Sequence[EmotionUtterance],
                      window_frames: int) -> tuple[np.ndarray, np.ndarray, list[float | None]]:
    """Predictions of the Keras models on each whole utterance and on its last `window_frames` contexts,
    and the speaker level each was calibrated with (`keras_cpc.features.speaker_levels`)."""
    recognizer = keras.saving.load_model(recognizer_path)
    cpc = keras.saving.load_model(cpc_path)
    levels = speaker_levels(utterances, lambda u: load_audio(u.path), recognizer.frontend)
    calibrations = [levels.get(u.speaker) for u in utterances]
    whole, window = [], []
    for utterance, level in zip(utterances, calibrations):
        contexts = stream_contexts(load_audio(utterance.path), cpc.encoder, cpc.autoregressor, recognizer.frontend,
                                   level)
        whole.append(window_prediction(recognizer, contexts, contexts.shape[1]))
        window.append(window_prediction(recognizer, contexts, window_frames))
    return np.array(whole), np.array(window), calibrations


def heldout(args: argparse.Namespace) -> dict:
    _, _, test = split(args.corpus, read_corpus(args.corpus, args.data), args.fold, args.folds,
                       args.validation_fraction, 0)
    files, truth = [u.path for u in test], labels(test)
    window_frames = {json.loads((Path(d) / "model.json").read_text())["window_frames"] for d in args.models}
    if len(window_frames) != 1:
        raise SettingError(f"--models: the exported folders have different windows ({sorted(window_frames)} frames)")
    whole, window, calibrations = keras_predictions(args.recognizer, args.cpc, test, window_frames.pop())
    predictions = {"keras (whole utterance)": whole, "keras (last window)": window}
    differences = {}
    for model in args.models:
        recognizer = StreamingRecognizer(model, interval=math.inf)  # the head runs once, for the last prediction
        streamed = []
        for path, level in zip(files, calibrations):
            recognizer.calibrate(level)
            streamed.append(analyze_file(recognizer, Path(path))[-1][1:])
        predictions[model] = np.array(streamed)
        differences[model] = float(np.abs(predictions[model] - window).max())
    scores = {name: dict(zip(DIMENSIONS, map(float, ccc(truth, p)))) for name, p in predictions.items()}
    speakers = sorted({u.speaker for u in test})
    print(f"{len(files)} held-out utterances of fold {args.fold} ({len(speakers)} speakers)")
    print("| model | " + " | ".join(f"CCC {d}" for d in DIMENSIONS) + " | max abs vs keras (last window) |")
    print("|---|" + "---:|" * (len(DIMENSIONS) + 1))
    for name, score in scores.items():
        difference = f"{differences[name]:.2e}" if name in differences else ""
        print(f"| {name} | " + " | ".join(f"{score[d]:.3f}" for d in DIMENSIONS) + f" | {difference} |")
    report = {"fold": args.fold, "utterances": len(files), "speakers": speakers,
              "ccc": scores, "max_abs_difference_to_keras_window": differences}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.heldout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser, "as in training.finetune")
    parser.add_argument("--fold", type=int, default=0, help="the fold whose test speakers are scored")
    parser.add_argument("--recognizer", required=True, help="recognizer.keras from training.finetune")
    parser.add_argument("--cpc", required=True, help="the CPC model (.keras) of its features")
    parser.add_argument("--models", nargs="+", required=True, metavar="DIR", help="folders from training.export")
    parser.add_argument("--json", help="also write the scores to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> None:
    run_cli(heldout, build_parser(), argv)


if __name__ == "__main__":
    main()
