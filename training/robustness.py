"""Out-of-domain protocol: `python -m training.robustness`.

Scores exported recognizers as the app runs them (the streaming engine, front end included: a clip's estimate is the
stream's last one, as `training.heldout` takes it) and the MFCC + ridge floor of `training.linear_baseline` (fitted on
the fold's training and validation speakers) on the fold's held-out speakers (or, `--test-corpus`, on every utterance
of another corpus: cross-corpus), under each channel shift of
`keras_cpc.channels` (levels, white, pink and babble noise, simulated rooms, telephone band, Ogg Vorbis, a microphone
tilt; seeded: clip `i` under any condition uses seed `--seed + i`), and on neutral read speech (`--read-speech`, e.g.
the LibriSpeech sample): the share of estimates inside [-1, 1] at every hop and per file, and the mean and spread per
dimension of the files' estimates (each file's `app.engine.trajectory.summary_estimates` mean, as `app.analyze` reports
it). Every stream is calibrated as training calibrates each speaker (`StreamingRecognizer.calibrate_speaker`: their
level, the median over their clips under the condition, and their contexts' statistics, of their neutral clips for a
model trained on neutral calibrations, as the app's calibration reading gives them, mapped onto the corpus's statistics
as in training; a read-speech file is its own speaker, presumed neutral, as the app presumes a session: mapped onto the
model's neutral reference, `keras_cpc.speaker_features`); models without speaker calibration ignore it. `--calibration
clean` calibrates each test speaker with their unshifted clips instead, as a calibration reading in a quiet room
before the channel changes; `--calibration none` not at all (the engine adapts as it hears them); `--calibration corpus`
with every test speaker's clips as if one speaker's (a corpus whose files `app.analyze` finds in one folder).
`--presume-neutral` maps a calibration onto the model's neutral reference, as `app.analyze` maps a folder (without
`--acted`) and the app a session, instead of the corpus's (a RAVDESS actor's clips hold every emotion). Each clip is a
stream of its own, or with `--session` an utterance of its speaker's session (their clips in a seeded order): the level
and the running feature statistics go on from clip to clip, as in the app, while the window, the GRU, the noise
suppressor and the speech-frame floor start afresh with each clip (the live app's go on too); `--feature-seconds` makes
a calibration where the running statistics start instead of fixing them, as the app does. Babble is made from `--babble`
speech (other speakers than the corpus's). `--jobs N` shares the conditions among N processes. Writes `results.json`,
`robustness.md` and `robustness.png` to `--out`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Protocol

import keras
import numpy as np

from app.engine.streaming import Recordings, StreamingRecognizer
from app.engine.trajectory import estimates, summary_estimates
from keras_cpc.audio import audio_files, load_audio
from keras_cpc.channels import CONDITIONS, apply_condition, protocol_babble_files
from keras_cpc.datasets import EmotionUtterance, labels
from keras_cpc.datasets.emotion import calibration_indices
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.features import cache_features, mfcc_extractor
from keras_cpc.floor import FLOOR, fit_floor, pooled, statistics
from keras_cpc.metrics.ccc import DIMENSIONS, ccc
from keras_cpc.plots import plot_conditions
from training import (add_corpus_arguments, add_test_corpus_arguments, evaluation_description, evaluation_set, positive,
                      run_cli)


CALIBRATION_CLIPS = {"matched": "each speaker calibrated with their clips under the condition",
                     "clean": "each speaker calibrated with their unshifted clips", "none": "no speaker calibrated",
                     "corpus": "every speaker calibrated with all speakers' clips under the condition"}
CALIBRATIONS = tuple(CALIBRATION_CLIPS)


class Predictor(Protocol):
    """A system scored under each condition: calibrated with a speaker's clips, then one clip at a time."""

    def calibrate(self, clips: Sequence[np.ndarray], utterances: Sequence[EmotionUtterance]) -> None:
        """Calibrates with clips of the speaker of the next clips (or, `--calibration corpus`, of every speaker),
        `utterances` saying what each is (none: the next clips are a new speaker's, uncalibrated)."""

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """(activation, valence, dominance) of a clip."""


def recordings(clips: Sequence[np.ndarray]) -> Recordings:
    """Whole clips as the engine's `Recordings` (each one block)."""
    return lambda: ([clip] for clip in clips)


class StreamPredictor:
    """A clip's estimate by the streaming engine, calibrated with a speaker's clips as training calibrated each
    speaker (a model without speaker calibration ignores it): its last prediction, which hears the whole clip; the
    neutral (0, 0, 0) when it makes none (a model with speech frames that finds no speech in the clip). Each clip is a
    stream of its own, or with `session` an utterance of the speaker's session: the level and feature statistics
    go on adapting from clip to clip. With `feature_seconds`, the calibration's feature statistics are where the
    running statistics start, worth that many seconds of speech, instead of fixed. A calibration is of speech
    presumed `neutral` on average, or of every emotion (a RAVDESS actor's clips). A speaker calibrated again with the
    same clips (`--calibration clean`, under every condition) is not measured again; only each set of files' latest
    calibration is kept."""

    def __init__(self, model_dir: str, session: bool = False, feature_seconds: float | None = None,
                 neutral: bool = False):
        self.recognizer = StreamingRecognizer(model_dir, interval=math.inf)
        self.session, self.feature_seconds, self.neutral = session, feature_seconds, neutral
        self.calibrations: dict[tuple, tuple] = {}  # paths -> the clips' digest, level and feature statistics

    def calibrate(self, clips: Sequence[np.ndarray], utterances: Sequence[EmotionUtterance]) -> None:
        if not clips or not self.recognizer.calibrated_per_speaker:
            self.recognizer.calibrate(None)  # a new speaker, uncalibrated: a fresh start in a session too
            return
        digest = hashlib.sha256()
        for clip in clips:
            digest.update(np.int64(len(clip)).tobytes() + np.ascontiguousarray(clip, np.float32).tobytes())
        paths = tuple(u.path for u in utterances)
        if self.calibrations.get(paths, (None,))[0] != digest.digest():
            chosen = calibration_indices(utterances, self.recognizer.feature_calibration)
            self.calibrations[paths] = (digest.digest(), *self.recognizer.calibrate_speaker(
                recordings(clips), recordings([clips[i] for i in chosen]), neutral=self.neutral))
        _, level, statistics = self.calibrations[paths]
        self.recognizer.calibrate(level, statistics, neutral=self.neutral, feature_seconds=self.feature_seconds)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        predictions = self.recognizer.push(audio) + self.recognizer.flush(keep_speaker=self.session)
        return np.array(predictions[-1][1:]) if predictions else np.zeros(len(DIMENSIONS))


class FloorPredictor:
    """The MFCC + ridge floor fitted on the fold's training and validation speakers, on raw audio."""

    def __init__(self, sets: Sequence[Sequence[EmotionUtterance]], cache: str):
        extractor = mfcc_extractor()
        self.extract = extractor[1]
        x_train, x_valid = (statistics(cache_features(s, extractor, cache)) for s in sets[:2])
        self.floor = fit_floor(x_train, labels(sets[0]), x_valid, labels(sets[1]))

    def calibrate(self, clips: Sequence[np.ndarray], utterances: Sequence[EmotionUtterance]) -> None:
        """The floor is not calibrated."""

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.floor.predict(pooled(self.extract(audio))[None])[0]


def score_conditions(predictors: dict[str, Predictor], test: Sequence[EmotionUtterance], conditions: Sequence[str],
                     seed: int, babble: Sequence[np.ndarray], calibration: str = "matched") -> dict:
    """`{condition: {system: {dimension: CCC}}}` over the test utterances, each shifted once per condition,
    each system calibrated with the speaker's clips under that condition (`calibration` "matched"), with their
    unshifted clips ("clean": a speaker calibrated in a quiet room who then speaks through the shifted channel), with
    every speaker's clips under the condition ("corpus": one calibration for all, as of a corpus in one folder), or
    not at all ("none": the system adapts as it hears them). Each speaker's clips come in an order drawn from
    `seed` (a session's, not the corpus's, which sorts RAVDESS by emotion). The audio is read speaker by speaker, so
    memory holds one speaker's clips (every speaker's with "corpus"), however large the test set."""
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration {calibration!r}: one of {', '.join(CALIBRATIONS)}")
    truth, rng = labels(test), np.random.default_rng(seed)
    orders = [rng.permutation([i for i, u in enumerate(test) if u.speaker == speaker])
              for speaker in dict.fromkeys(u.speaker for u in test)]
    results = {}
    progress = keras.utils.Progbar(len(conditions) * len(test), unit_name="clip")
    for condition in conditions:
        def shifted(audio: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
            return {i: apply_condition(condition, waveform, seed + i, babble) for i, waveform in audio.items()}

        everyone = shifted(read_clips(test, range(len(test)))) if calibration == "corpus" else {}
        predicted = {name: np.zeros((len(test), len(DIMENSIONS))) for name in predictors}
        for indices in orders:
            clean = {} if calibration == "corpus" else read_clips(test, indices)
            theirs = {i: everyone[i] for i in indices} if calibration == "corpus" else shifted(clean)
            heard = {"matched": theirs, "clean": clean, "corpus": everyone, "none": {}}[calibration]
            for name, predict in predictors.items():
                predict.calibrate(list(heard.values()), [test[i] for i in heard])
                for i in indices:
                    predicted[name][i] = predict(theirs[i])
            progress.add(len(indices))
        results[condition] = {name: dict(zip(DIMENSIONS, map(float, ccc(truth, values))))
                              for name, values in predicted.items()}
    return results


def read_clips(test: Sequence[EmotionUtterance], indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The audio of the test utterances at `indices`, by index."""
    return {i: load_audio(test[i].path) for i in indices}


def read_speech_statistics(model_dirs: Sequence[str], files: Sequence[Path]) -> dict:
    """Per model (each file calibrated with its own level and contexts: one speaker a file, presumed neutral): the
    share of hop estimates and of file estimates inside [-1, 1] (on every dimension), and the mean, standard
    deviation and largest absolute value over files of each file's mean estimate; files the model makes no estimate
    of (no speech frame) are counted and left out."""
    results = {}
    for model in model_dirs:
        recognizer = StreamingRecognizer(model)
        hops, per_file = [], []
        for path in files:
            audio = load_audio(path)
            if recognizer.calibrated_per_speaker:  # a file a speaker
                recognizer.calibrate_speaker(recordings([audio]))
            predictions = recognizer.push(audio) + recognizer.flush()
            if predictions:
                hops.append(estimates(predictions))
                per_file.append(summary_estimates(predictions, recognizer.window_seconds).mean(0))
        hops, per_file = np.concatenate(hops), np.array(per_file)
        results[model] = {
            "files": len(files), "files_without_estimate": len(files) - len(per_file), "hops": len(hops),
            "hops_inside": float(np.mean(np.all(np.abs(hops) <= 1, axis=1))),
            "files_inside": float(np.mean(np.all(np.abs(per_file) <= 1, axis=1))),
            "mean": dict(zip(DIMENSIONS, map(float, per_file.mean(0)))),
            "std": dict(zip(DIMENSIONS, map(float, per_file.std(0)))),
            "largest": dict(zip(DIMENSIONS, map(float, np.abs(per_file).max(0)))),
        }
    return results


def machine() -> str:
    """The CPU model and core count, for the record."""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores"


def markdown(report: dict) -> str:
    """Tables of the report: CCC per condition and system, its change from clean, and read speech."""
    systems = list(next(iter(report["conditions"].values())))
    speakers = report["speakers"]
    named = ", ".join(speakers) if len(speakers) <= 12 else f"{len(speakers)} speakers"
    lines = [f"{report['utterances']} {report['test']} ({named}); "
             f"seed {report['seed']}; {CALIBRATION_CLIPS[report.get('calibration', 'matched')]}"
             + (f", the features' worth {report['feature_seconds']} s" if report.get("feature_seconds") else "")
             + (", presumed neutral speech" if report.get("presumed_neutral") else "")
             + ("; each speaker's clips one session." if report.get("session") else "; each clip a stream."), ""]
    for system in systems:
        lines += [f"### {system}", "", "| condition | " + " | ".join(DIMENSIONS) + " | change from clean |",
                  "|---|" + "---:|" * (len(DIMENSIONS) + 1)]
        clean = report["conditions"].get("clean", {}).get(system)
        for condition, scores in report["conditions"].items():
            row = scores[system]
            change = " / ".join(f"{row[d] - clean[d]:+.3f}" for d in DIMENSIONS) if clean else ""
            lines.append(f"| {condition} | " + " | ".join(f"{row[d]:.3f}" for d in DIMENSIONS) + f" | {change} |")
        lines.append("")
    if report.get("read_speech"):
        lines += ["### Neutral read speech", "", "| model | files | hops inside [-1, 1] | files inside | "
                  + " | ".join(f"{d} mean ± std" for d in DIMENSIONS) + " |",
                  "|---|" + "---:|" * (3 + len(DIMENSIONS))]
        for model, row in report["read_speech"].items():
            lines.append(f"| {model} | {row['files']} | {row['hops_inside']:.3f} | {row['files_inside']:.3f} | "
                         + " | ".join(f"{row['mean'][d]:+.2f} ± {row['std'][d]:.2f}" for d in DIMENSIONS) + " |")
    return "\n".join(lines) + "\n"


def protocol_data(args: argparse.Namespace) -> tuple[list[list[EmotionUtterance]], list[np.ndarray], list[str]]:
    """The fold's training and validation sets and the test set (`evaluation_set`), the babble sources, and the
    conditions that can be scored."""
    sets = split(args.corpus, read_corpus(args.corpus, args.data), args.fold, args.folds,
                 args.validation_fraction, 0, args.train_sentence)  # the floor learns what the models did
    sets = [*sets[:2], evaluation_set(args, sets)]
    babble = [load_audio(path) for path in protocol_babble_files(args.babble)] if args.babble else []
    return sets, babble, [c for c in args.conditions if babble or not c.startswith("babble")]


def scored(args: argparse.Namespace, sets: Sequence[Sequence[EmotionUtterance]], babble: Sequence[np.ndarray],
           conditions: Sequence[str]) -> dict:
    """`score_conditions` of the models and the floor (fitted on `sets`) under `conditions`."""
    predictors: dict[str, Predictor] = {
        model: StreamPredictor(model, args.session, args.feature_seconds, args.presume_neutral)
        for model in args.models}
    predictors[FLOOR] = FloorPredictor(sets, args.cache)
    return score_conditions(predictors, sets[2], conditions, args.seed, babble, args.calibration)


def robustness(args: argparse.Namespace) -> dict:
    if args.jobs < 1:
        raise ValueError(f"--jobs {args.jobs}: at least one process scores the conditions")
    if args.feature_seconds is not None and args.calibration == "none":
        raise ValueError("--feature-seconds weighs a calibration: give --calibration matched, clean or corpus")
    if args.presume_neutral and args.calibration == "none":
        raise ValueError("--presume-neutral maps a calibration: give --calibration matched, clean or corpus")
    start = time.perf_counter()
    sets, babble, conditions = protocol_data(args)
    test = sets[2]
    if skipped := sorted(set(args.conditions) - set(conditions)):
        print(f"no --babble speech: {', '.join(skipped)} left out")

    def read_speech() -> dict | None:
        return read_speech_statistics(args.models, audio_files([args.read_speech])) if args.read_speech else None

    groups = [conditions[job::args.jobs] for job in range(min(args.jobs, len(conditions)))]
    if len(groups) > 1:  # each job a process of its own (spawned: a fresh TensorFlow); this one reads the read speech
        with ProcessPoolExecutor(len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = [pool.submit(scored, args, sets, babble, group) for group in groups]
            read = read_speech()
            scores = {condition: score for part in parts for condition, score in part.result().items()}
    else:
        scores, read = scored(args, sets, babble, conditions), read_speech()
    report = {"fold": args.fold, "test": evaluation_description(args), "utterances": len(test),
              "speakers": sorted({u.speaker for u in test}),
              "seed": args.seed, "calibration": args.calibration, "session": args.session,
              "feature_seconds": args.feature_seconds, "presumed_neutral": args.presume_neutral, "models": args.models,
              "conditions": {condition: scores[condition] for condition in conditions}}
    if read is not None:
        report["read_speech"] = read
    report["record"] = {"argv": sys.argv, "seconds": time.perf_counter() - start, "machine": machine()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (out / "robustness.md").write_text(text)
    plot_conditions(report["conditions"], DIMENSIONS, out / "robustness.png", evaluation_description(args))
    print(text)
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.robustness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser, "as in training.finetune (the floor picks its penalty on them)")
    add_test_corpus_arguments(parser)
    parser.add_argument("--models", nargs="+", required=True, metavar="DIR", help="folders from training.export")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=CONDITIONS, metavar="NAME",
                        help=f"channel shifts (default all: {', '.join(CONDITIONS)})")
    parser.add_argument("--calibration", choices=CALIBRATIONS, default="matched",
                        help="calibrate each speaker with their clips under the condition (matched), with their "
                             "unshifted clips (clean: calibrated in a quiet room, then heard through the channel), "
                             "with every speaker's clips as one speaker's (corpus: a corpus in one folder of "
                             "app.analyze), or not at all (none: the engine adapts as it hears them)")
    parser.add_argument("--session", action="store_true",
                        help="stream each speaker's clips as utterances of one session (their level and feature "
                             "statistics adapt from clip to clip, as in the app) instead of a stream each")
    parser.add_argument("--feature-seconds", type=positive(float), metavar="S",
                        help="a calibration's feature statistics are where a session's running statistics start, "
                             "worth S seconds of speech, instead of fixed")
    parser.add_argument("--presume-neutral", action="store_true",
                        help="calibrations are of speech presumed neutral on average (mapped onto the model's neutral "
                             "reference, as app.analyze maps a folder without --acted, and the app a session), not "
                             "of every emotion")
    parser.add_argument("--babble", help="speech of other speakers for the babble conditions (a folder)")
    parser.add_argument("--read-speech", help="neutral read speech (a folder, e.g. the LibriSpeech sample)")
    parser.add_argument("--seed", type=int, default=0,
                        help="clip i under any condition uses seed + i; each speaker's clips come in an order drawn "
                             "from it")
    parser.add_argument("--cache", default="runs/cache", help="cache of the floor's MFCC features")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes that score the conditions, each a share of them (each loads the models and "
                             "fits the floor); the results do not depend on it")
    parser.add_argument("--out", required=True, help="folder of results.json, robustness.md and robustness.png")
    return parser


def main(argv: list[str] | None = None) -> None:
    run_cli(robustness, build_parser(), argv)


if __name__ == "__main__":
    main()
