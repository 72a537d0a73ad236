"""Emotion recognizer for one system and one fold: `python -m training.finetune`.

Systems (Li et al. 2021): `mfcc` (40 MFCCs), `e2e` (CPC encoder + GRU + head trained together
from raw audio), `minicpc` (CPC pretrained on the fold's non-test audio, frozen) and `precpc`
(a CPC pretrained elsewhere, e.g. on LibriSpeech, frozen: `--cpc`). The loss is
`1 - a*CCC_act - b*CCC_val - g*CCC_dom`; the best epoch by validation CCC is kept and scored on
the fold's test set. Writes `recognizer.keras`, `log.csv`, `curves.png`, `predictions.csv`,
`scatter.png`, `results.json` and `checkpoints/` to `--out`; rerunning the command resumes an
interrupted run from `checkpoints/`. A run that trains (more) epochs first removes its earlier
`results.json` and `predictions.csv`, so that a stop never leaves them beside another best model.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
import keras
import numpy as np

from keras_cpc.audio import SAMPLE_RATE, load_audio
from keras_cpc.callbacks import run_callbacks
from keras_cpc.datasets import EmotionUtterance, labels
from keras_cpc.datasets.protocol import read_corpus, scores_by_sentence, split
from keras_cpc.features import (
    audio_dataset,
    cache_features,
    channel_shift,
    cpc_extractor,
    feature_dataset,
    feature_statistics,
    file_digest,
    mfcc_extractor,
    speaker_levels,
)
from keras_cpc.layers import num_frames, receptive_field
from keras_cpc.layers.encoder import PAPER_KERNELS, PAPER_STRIDES
from keras_cpc.losses import CCCLoss
from keras_cpc.loudness import LevelSettings, frontend_config
from keras_cpc.metrics import ConcordanceCorrelation
from keras_cpc.metrics.ccc import DIMENSIONS, ccc
from keras_cpc.models import EmotionRecognizer, EndToEndRecognizer
from keras_cpc.optimizers import AdamL2
from keras_cpc.plots import plot_finetuning, plot_scatter
from keras_cpc.runs import exclusive_run, locked, logged_seconds, resumed_epoch, resumed_seed, write_json
from training import add_corpus_arguments, non_negative, non_negative_int, positive, pretrain, run_cli

SYSTEMS = ("mfcc", "e2e", "minicpc", "precpc")
LEVEL_NORMALIZATIONS = ("speaker", "utterance", "none")
BABBLE_SOURCES = 20  # training utterances that --augment's babble is made of
logger = logging.getLogger("training.finetune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--system", choices=SYSTEMS, required=True)
    parser.add_argument("--fold", type=int, default=0, help="test fold (ignored for msp-podcast)")
    parser.add_argument("--run", type=int, default=0, help="run index: seeds the model and the data order")
    parser.add_argument("--out", required=True, help="output folder of this system, fold and run")
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with `training.evaluate`."""
    add_corpus_arguments(parser)
    parser.add_argument("--cpc", help="pretrained CPC model (.keras) for the precpc system")
    parser.add_argument("--cache", default="runs/cache", help="cache of features and miniCPC models")
    parser.add_argument("--epochs", type=positive(int), default=50)
    parser.add_argument("--batch-size", type=positive(int), default=32)
    parser.add_argument("--learning-rate", type=positive(float), default=2e-4)
    parser.add_argument("--weight-decay", type=non_negative, default=1e-5,
                        help="L2 term added to the gradients, as PyTorch's Adam weight_decay (the paper's)")
    parser.add_argument("--ccc-weights", type=float, nargs=3, default=(1 / 3, 1 / 3, 1 / 3),
                        metavar=("A", "B", "G"),
                        help="loss weights of CCC activation, valence, dominance (the best epoch is still the "
                             "one of the highest unweighted mean validation CCC)")
    parser.add_argument("--max-seconds", type=positive(float), default=10.0,
                        help="utterances cut to this length (frozen features: to the frames of its audio)")
    parser.add_argument("--minicpc-epochs", type=positive(int), default=10)
    parser.add_argument("--minicpc-steps", type=positive(int), default=100, help="miniCPC steps per epoch")
    parser.add_argument("--minicpc-crop-seconds", type=positive(float), default=3.0)
    parser.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                        help="frozen features (mfcc, minicpc, precpc): standardise each dimension with "
                             "the training set's mean and variance")
    parser.add_argument("--level-normalization", choices=LEVEL_NORMALIZATIONS, default="speaker",
                        help="bring the speech level to -25 dBFS before the features (keras_cpc.loudness; causal, as "
                             "the streaming engine does it): starting from the speaker's level (the median over "
                             "their utterances), from each utterance's own, or not at all")
    parser.add_argument("--augment", type=non_negative_int, default=0, metavar="N",
                        help="frozen features: N channel-shifted copies of every training utterance "
                             "(keras_cpc.channels.random_shift: level, noise, babble of other training "
                             "utterances, rooms, band limits, tilt); each epoch reads one of its N + 1 versions")
    parser.add_argument("--bounded", action=argparse.BooleanOptionalAction, default=True,
                        help="outputs squashed into the labels' [-1, 1] (tanh)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2)


def minicpc_pretraining(args: argparse.Namespace, listing: Path, folder: Path) -> argparse.Namespace:
    """`training.pretrain`'s options for a miniCPC model: the `--minicpc-*` ones, its defaults for the rest."""
    return pretrain.build_parser().parse_args([
        "--data", str(listing), "--out", str(folder), "--epochs", str(args.minicpc_epochs),
        "--steps-per-epoch", str(args.minicpc_steps), "--crop-seconds", str(args.minicpc_crop_seconds),
        "--verbose", str(args.verbose), "--strategy", "default",  # one device, as finetuning
    ])


def minicpc_folder(args: argparse.Namespace, listing: str) -> Path:
    """Cache folder of a miniCPC model: one per pretraining listing (files and their speakers, which
    pick pretraining's validation files) and pretraining settings (every one, defaults included)."""
    settings = pretrain.run_settings(minicpc_pretraining(args, Path(), Path()))
    del settings["data"]  # the listing, below
    key = hashlib.sha256(f"{json.dumps(settings, sort_keys=True)}\n{listing}".encode()).hexdigest()[:16]
    return Path(args.cache) / "minicpc" / key


def minicpc_model(args: argparse.Namespace, train: Sequence[EmotionUtterance], seed: int) -> Path:
    """CPC pretrained on the given utterances only (cached): a fold's training and validation
    audio, never its test audio.

    Pretraining seeds itself, so the run's seed is set again afterwards, whether or not the
    model was cached: the recognizer's initialisation must not depend on the cache.
    """
    listing_text = "".join(f"{u.path}\t{u.speaker}\n" for u in sorted(train, key=lambda u: u.path))
    folder = minicpc_folder(args, listing_text)
    with locked(folder / "lock", wait=True):  # runs of the fold started together: one pretrains, the others reuse it
        listing = folder / "train_files.txt"  # with the corpus's speakers, for pretraining's validation split
        listing.write_text(listing_text, encoding="utf-8")
        if not (folder / "done").exists():
            pretrain.pretrain(minicpc_pretraining(args, listing, folder))
            (folder / "done").touch()
    keras.utils.set_random_seed(seed)
    return folder / "cpc.keras"


def run_seed(args: argparse.Namespace) -> int:
    """The seed of a run: its model's initialisation, its first data order and its augmented copies."""
    return 1000 * args.run + args.fold


def frontend(args: argparse.Namespace) -> dict:
    """The audio front end of a run (`keras_cpc.loudness.frontend_config`)."""
    if args.level_normalization == "none":
        return frontend_config(None)
    return frontend_config(LevelSettings(per_speaker=args.level_normalization == "speaker"))


def datasets(args: argparse.Namespace, system: str, sets: Sequence[Sequence[EmotionUtterance]], seed: int):
    """Training, validation and test datasets of a system (features cached when frozen), and the
    per-dimension mean and variance of the training features (`None` for e2e)."""
    max_samples = int(args.max_seconds * SAMPLE_RATE)
    if system == "e2e":
        field = receptive_field(PAPER_KERNELS, PAPER_STRIDES)
        levels = [speaker_levels(s, lambda u: load_audio(u.path), frontend(args)) for s in sets]
        return [audio_dataset([u.path for u in s], labels(s), args.batch_size, max_samples, field, shuffle=i == 0,
                              seed=seed, frontend=frontend(args),
                              calibrations={u.path: level.get(u.speaker) for u in s})
                for i, (s, level) in enumerate(zip(sets, levels))], None
    if system == "mfcc":
        extractor = mfcc_extractor()
    elif system == "precpc":
        if not args.cpc:
            raise SystemExit("--cpc (a pretrained CPC .keras model) is required for precpc")
        extractor = cpc_extractor(args.cpc)
    else:
        extractor = cpc_extractor(minicpc_model(args, [*sets[0], *sets[1]], seed))
    files = [cache_features(s, extractor, args.cache, frontend(args)) for s in sets]
    max_frames = num_frames(max_samples, PAPER_KERNELS, PAPER_STRIDES)  # as many as MFCC's 25 ms / 10 ms
    statistics = feature_statistics(files[0], max_frames)  # of the original training audio
    if args.augment:
        babble = [u.path for u in sets[0][::len(sets[0]) // BABBLE_SOURCES + 1]]
        # seeded by the run and fold, not by `seed`, which a resumed run changes to draw a new data order
        copies = [cache_features(sets[0], extractor, args.cache, frontend(args),
                                 channel_shift(run_seed(args), copy, babble))
                  for copy in range(args.augment)]
        files[0] = [list(versions) for versions in zip(files[0], *copies)]
    return [feature_dataset(f, labels(s), args.batch_size, max_frames, shuffle=i == 0, seed=seed)
            for i, (f, s) in enumerate(zip(files, sets))], statistics


def run_settings(args: argparse.Namespace) -> dict:
    """What a run is trained with, as `results.json` records it: the options that change its
    result (for its system), and the digest of a precpc model; not where files are."""
    only_for = {"standardize": {"mfcc", "minicpc", "precpc"}, "augment": {"mfcc", "minicpc", "precpc"},
                **{f"minicpc_{name}": {"minicpc"} for name in ("epochs", "steps", "crop_seconds")}}
    names = [action.dest for action in build_parser()._actions
             if action.dest not in {"help", "data", "cache", "cpc", "out", "verbose"}]
    settings = {name: getattr(args, name) for name in names
                if args.system in only_for.get(name, {args.system})}
    if args.system == "precpc" and args.cpc:
        settings["cpc_sha256"] = file_digest(args.cpc)
    for name in ("level_normalization", "bounded", "augment", "train_sentence"):  # older records have none
        if name in settings and settings[name] in (False, 0, None, "none"):
            del settings[name]
    # weight_decay is AdamL2's l2; records and checkpoints without this key had Keras's decoupled decay (no-op at 1e-5)
    settings["optimizer"] = "adam_l2"
    return json.loads(json.dumps(settings))  # as read back from JSON (tuples become lists)


def write_predictions(path: Path, utterances: Sequence[EmotionUtterance], predicted: np.ndarray) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "speaker", *DIMENSIONS, *(f"predicted_{d}" for d in DIMENSIONS)])
        for utterance, row in zip(utterances, predicted):
            writer.writerow([utterance.path, utterance.speaker, utterance.activation, utterance.valence,
                             utterance.dominance, *(f"{v:.5f}" for v in row)])


def finetune(args: argparse.Namespace) -> dict[str, float]:
    """Trains (or resumes) one system on one fold and returns its test CCC per dimension; one
    process at a time in `--out`."""
    out = Path(args.out)
    with exclusive_run(out):
        return train_and_test(args, out)


def train_and_test(args: argparse.Namespace, out: Path) -> dict[str, float]:
    start = time.perf_counter()
    settings = run_settings(args)  # once: for precpc it hashes the CPC model
    callbacks = run_callbacks(out, "recognizer.keras", "val_ccc_mean", settings, mode="max")
    resumed = resumed_epoch(out)  # the epochs an interrupted invocation checkpointed (0 for a new run)
    earlier_seconds = logged_seconds(out / "log.csv", resumed)
    seed = run_seed(args)
    keras.utils.set_random_seed(seed)
    utterances = read_corpus(args.corpus, args.data)
    train, validation, test = split(args.corpus, utterances, args.fold, args.folds, args.validation_fraction,
                                    args.run, args.train_sentence)
    for name, part in (("training", train), ("validation", validation), ("test", test)):
        if not part:
            raise SystemExit(f"fold {args.fold} of {args.data} has no {name} utterances")
    logger.info("%s fold %d run %d: %d training, %d validation, %d test utterances", args.system, args.fold,
                args.run, len(train), len(validation), len(test))
    # A resumed run shuffles on from a new seed rather than replaying the first epochs' order.
    (train_data, validation_data, test_data), statistics = datasets(args, args.system, (train, validation, test),
                                                                    resumed_seed(seed, resumed))
    if resumed:  # dropout's draws are not checkpointed: go on from a new seed, not replay
        keras.utils.set_random_seed(resumed_seed(seed, resumed))
    standardize = args.standardize and statistics is not None
    head = {"bounded": args.bounded, "frontend": frontend(args)}
    model = EndToEndRecognizer(recognizer=head) if args.system == "e2e" else \
        EmotionRecognizer(standardize=standardize, **head)
    model.build({key: spec.shape for key, spec in train_data.element_spec[0].items()})
    if standardize:
        model.standardization.set_statistics(*statistics)
    model.compile(optimizer=AdamL2(args.learning_rate, l2=args.weight_decay),
                  loss=CCCLoss(args.ccc_weights), metrics=[ConcordanceCorrelation(DIMENSIONS)],
                  jit_compile=False)  # Keras's "auto" is XLA on a GPU: one compilation per padded batch length
    finished = out / "results.json"  # from an invocation that finished: its time stands if no epoch is added
    if resumed < args.epochs:  # the record and predictions of an earlier best model would outlive a stop
        finished.unlink(missing_ok=True)
        (out / "predictions.csv").unlink(missing_ok=True)
    history = model.fit(train_data, validation_data=validation_data, epochs=args.epochs, verbose=args.verbose,
                        shuffle=False, callbacks=callbacks)
    best = keras.saving.load_model(out / "recognizer.keras")
    predicted = best.predict(test_data, verbose=0)
    truth = labels(test)
    scores = ccc(truth, predicted)
    results = {f"ccc_{d}": float(s) for d, s in zip(DIMENSIONS, scores)}
    results["seconds"] = read_record(finished)["seconds"] if finished.exists() and not history.epoch else \
        earlier_seconds + time.perf_counter() - start
    results["settings"] = settings
    if args.train_sentence:
        results["by_sentence"] = scores_by_sentence(test, predicted)
    write_predictions(out / "predictions.csv", test, predicted)
    plot_finetuning(out / "log.csv", out / "curves.png", DIMENSIONS)
    plot_scatter(truth, predicted, DIMENSIONS, scores, out / "scatter.png",
                 f"{args.system}, {args.corpus} fold {args.fold}, run {args.run}: test set")
    write_json(finished, results)
    logger.info("test CCC: %s", ", ".join(f"{d} {results[f'ccc_{d}']:.3f}" for d in DIMENSIONS))
    return results


def read_record(path: Path) -> dict:
    """A run's `results.json`; one that does not parse is an error naming it."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a readable run record ({error})") from None


def main(argv: list[str] | None = None) -> None:
    run_cli(finetune, build_parser(), argv)


if __name__ == "__main__":
    main()
