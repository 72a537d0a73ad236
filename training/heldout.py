"""A recognizer and its LiteRT exports scored on one fold's held-out speakers (or, `--test-corpus`, on every utterance
of another corpus): `python -m training.heldout`.

For every test utterance (each calibrated with its speaker's level and contexts, as the
model was trained; behind the exports' front end, which may add a noise suppression to the recognizer's): the Keras
model on the whole utterance (as
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
import numpy as np

from app.engine.analysis import analyze_file, read_blocks
from app.engine.streaming import Recordings, StreamingRecognizer
from keras_cpc.audio import load_audio
from keras_cpc.export import stream_contexts, window_prediction
from keras_cpc.datasets import EmotionUtterance, labels
from keras_cpc.datasets.emotion import calibration_indices
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.features import speaker_levels
from keras_cpc.metrics.ccc import DIMENSIONS, ccc
from keras_cpc.models import CPC, EmotionRecognizer, RecognizerEnsemble, load_model_file
from keras_cpc.models.ensemble import ensemble_member
from keras_cpc.speaker_features import FeatureSettings, SpeakerFeatures, frame_statistics
from training import (add_corpus_arguments, add_test_corpus_arguments, evaluation_description, evaluation_set,
                      non_negative_int, run_cli)
from training.config import SettingError


def keras_predictions(recognizer_path: str, cpc_path: str, utterances: Sequence[EmotionUtterance],
                      window_frames: int, features: dict, member: int | None = None,
                      frontend: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of the Keras models on each whole utterance and on its last `window_frames` contexts, each
    calibrated with its speaker's level (`keras_cpc.features.speaker_levels`) and, with `features` (an
    export's `model.json` `features`), mapped with the statistics of its speaker's contexts (of those
    `calibration_indices` picks); with `member`, of that member of an ensemble alone; behind `frontend` (an export's,
    e.g. with its noise suppression) instead of the recognizer's, if given."""
    recognizer = ensemble_member(load_model_file(recognizer_path, EmotionRecognizer, RecognizerEnsemble), member,
                                 recognizer_path)
    cpc = load_model_file(cpc_path, CPC)
    frontend = recognizer.frontend if frontend is None else frontend
    levels = speaker_levels(utterances, lambda u: load_audio(u.path), frontend)
    whole, window = np.zeros((len(utterances), len(DIMENSIONS))), np.zeros((len(utterances), len(DIMENSIONS)))
    append = recognizer.appended_mfccs()
    for indices in speaker_indices(utterances):
        contexts = [stream_contexts(load_audio(utterances[i].path), cpc.encoder, cpc.autoregressor,
                                    frontend, levels.get(utterances[i].speaker), append=append)[0]
                    for i in indices]
        if features:  # as the engine maps a calibrated speaker's contexts
            normalizer = SpeakerFeatures(FeatureSettings(**features))
            chosen = calibration_indices([utterances[i] for i in indices], normalizer.settings.calibration)
            normalizer.calibrate(frame_statistics(contexts[j] for j in chosen), neutral=False)  # as in training
            contexts = [normalizer.push(frames) for frames in contexts]
        for i, frames in zip(indices, contexts):
            whole[i] = window_prediction(recognizer, frames[None], len(frames))
            window[i] = window_prediction(recognizer, frames[None], window_frames)
    return whole, window


def speaker_indices(utterances: Sequence[EmotionUtterance]) -> list[list[int]]:
    """The positions of each speaker's utterances, speaker by speaker."""
    positions: dict[str, list[int]] = {}
    for i, utterance in enumerate(utterances):
        positions.setdefault(utterance.speaker, []).append(i)
    return list(positions.values())


def read_recordings(utterances: Sequence[EmotionUtterance], indices: Sequence[int], sample_rate: int) -> Recordings:
    """The utterances at `indices` as the engine's `Recordings`, read block by block."""
    return lambda: (read_blocks(Path(utterances[i].path), sample_rate) for i in indices)


def stream_predictions(model: str, utterances: Sequence[EmotionUtterance]) -> np.ndarray:
    """The streaming engine's last prediction on each utterance, calibrated with their speaker's utterances
    (`StreamingRecognizer.calibrate_speaker`, mapped onto the corpus's statistics as in training) when the model
    was trained so."""
    recognizer = StreamingRecognizer(model, interval=math.inf)  # the head runs once, for the last prediction
    predictions = np.zeros((len(utterances), len(DIMENSIONS)))
    for indices in speaker_indices(utterances):
        if recognizer.calibrated_per_speaker:
            chosen = calibration_indices([utterances[i] for i in indices], recognizer.feature_calibration)
            recognizer.calibrate_speaker(read_recordings(utterances, indices, recognizer.sample_rate),
                                         read_recordings(utterances, [indices[j] for j in chosen],
                                                         recognizer.sample_rate), neutral=False)
        for i in indices:
            predictions[i] = analyze_file(recognizer, Path(utterances[i].path))[-1][1:]
    return predictions


def heldout(args: argparse.Namespace) -> dict:
    test = evaluation_set(args, split(args.corpus, read_corpus(args.corpus, args.data), args.fold, args.folds,
                                      args.validation_fraction, 0))
    truth = labels(test)
    configs = [json.loads((Path(d) / "model.json").read_text()) for d in args.models]
    shared = {json.dumps([c["window_frames"], c.get("features", {}), c.get("frontend", {})]) for c in configs}
    if len(shared) != 1:
        raise SettingError("--models: the exported folders have different windows, feature normalisations or front "
                           "ends")
    whole, window = keras_predictions(args.recognizer, args.cpc, test, configs[0]["window_frames"],
                                      configs[0].get("features", {}), args.member, configs[0].get("frontend"))
    predictions = {"keras (whole utterance)": whole, "keras (last window)": window}
    differences = {}
    for model in args.models:
        predictions[model] = stream_predictions(model, test)
        differences[model] = float(np.abs(predictions[model] - window).max())
    scores = {name: dict(zip(DIMENSIONS, map(float, ccc(truth, p)))) for name, p in predictions.items()}
    speakers = sorted({u.speaker for u in test})
    print(f"{len(test)} {evaluation_description(args)} ({len(speakers)} speakers)")
    print("| model | " + " | ".join(f"CCC {d}" for d in DIMENSIONS) + " | max abs vs keras (last window) |")
    print("|---|" + "---:|" * (len(DIMENSIONS) + 1))
    for name, score in scores.items():
        difference = f"{differences[name]:.2e}" if name in differences else ""
        print(f"| {name} | " + " | ".join(f"{score[d]:.3f}" for d in DIMENSIONS) + f" | {difference} |")
    report = {"fold": args.fold, "test": evaluation_description(args), "utterances": len(test), "speakers": speakers,
              "ccc": scores, "max_abs_difference_to_keras_window": differences}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.heldout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser, "as in training.finetune")
    add_test_corpus_arguments(parser)
    parser.add_argument("--recognizer", required=True, help="recognizer.keras from training.finetune")
    parser.add_argument("--cpc", required=True, help="the CPC model (.keras) of its features")
    parser.add_argument("--member", type=non_negative_int, metavar="INDEX",
                        help="score this member of an ensemble alone (the Keras side of a training.export --member)")
    parser.add_argument("--models", nargs="+", required=True, metavar="DIR", help="folders from training.export")
    parser.add_argument("--json", help="also write the scores to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> None:
    run_cli(heldout, build_parser(), argv)


if __name__ == "__main__":
    main()
