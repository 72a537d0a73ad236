"""Emotion recognizer for one system and one fold: `python -m training.finetune`.

Systems (Li et al. 2021): `mfcc` (40 MFCCs), `e2e` (CPC encoder + GRU + head trained together
from raw audio), `minicpc` (CPC pretrained on the fold's non-test audio, frozen) and `precpc`
(a CPC pretrained elsewhere, e.g. on LibriSpeech, frozen: `--cpc`). The loss is
`1 - a*CCC_act - b*CCC_val - g*CCC_dom`; the best epoch by validation CCC is kept and scored on
the fold's test set. With `--teacher`, the training utterances' targets are a trained recognizer's
estimates (distillation, e.g. of an ensemble into one head). Writes `recognizer.keras`, `log.csv`,
`curves.png`, `predictions.csv`, `scatter.png`, `results.json` and `checkpoints/` to `--out`; rerunning
the command resumes an interrupted run from `checkpoints/`. A run that trains (more) epochs first removes its earlier
`results.json` and `predictions.csv`, so that a stop never leaves them beside another best model.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
import keras
import numpy as np
import tensorflow as tf

from keras_cpc.audio import SAMPLE_RATE, load_audio
from keras_cpc.callbacks import run_callbacks
from keras_cpc.channels import BABBLE_SOURCES, NOISE_SNR_DB, augmentation_babble_files, babble_sources
from keras_cpc.datasets import EmotionUtterance, labels
from keras_cpc.datasets.emotion import NEUTRAL, calibration_indices
from keras_cpc.datasets.protocol import SplitError, read_corpus, scores_by_sentence, split
from keras_cpc.features import (
    audio_dataset,
    cache_features,
    channel_shift,
    cpc_extractor,
    feature_dataset,
    feature_statistics,
    load_cpc,
    mfcc_extractor,
    speaker_levels,
)
from keras_cpc.layers import append_mfccs, num_frames, receptive_field
from keras_cpc.layers.encoder import PAPER_KERNELS, PAPER_STRIDES
from keras_cpc.losses import CCCLoss
from keras_cpc.loudness import LevelSettings, frontend_config
from keras_cpc.metrics import ConcordanceCorrelation
from keras_cpc.metrics.ccc import DIMENSIONS, ccc
from keras_cpc.models import EmotionRecognizer, EndToEndRecognizer, RecognizerEnsemble, load_model_file
from keras_cpc.models.ensemble import SHARED_SETTINGS, Recognizer, differing_settings, feature_width, first_member
from keras_cpc.optimizers import AdamL2
from keras_cpc.speech_frames import SpeechFrameSettings, speech_frame_config
from keras_cpc.plots import plot_finetuning, plot_scatter
from keras_cpc.runs import exclusive_run, locked, logged_seconds, resumed_epoch, resumed_seed, write_json
from keras_cpc.speaker_features import EPSILON, Statistics, frame_statistics, to_reference
from training import (add_corpus_arguments, fraction, non_negative, non_negative_int, positive, pretrain, run_cli,
                      share)
from training.config import (ATTENTION_DIM, ATTENTION_HEADS, TEACHER_WEIGHT, FinetuneConfig, PretrainConfig,
                             SettingError)

SYSTEMS = ("mfcc", "e2e", "minicpc", "precpc")
LEVEL_NORMALIZATIONS = ("speaker", "utterance", "none")
logger = logging.getLogger("training.finetune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--system", choices=SYSTEMS, required=True)
    parser.add_argument("--fold", type=non_negative_int, help="test fold (ignored for msp-podcast)")
    parser.add_argument("--run", type=int, help="run index: seeds the model and the data order")
    parser.add_argument("--out", required=True, help="output folder of this system, fold and run")
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with `training.evaluate`, and the defaults of every `FinetuneConfig` field (an option
    added later, such as `--fold`, takes its default too)."""
    add_corpus_arguments(parser)
    parser.add_argument("--cpc", help="pretrained CPC model (.keras) for the precpc system")
    parser.add_argument("--cache", help="cache of features and miniCPC models")
    parser.add_argument("--epochs", type=positive(int))
    parser.add_argument("--batch-size", type=positive(int))
    parser.add_argument("--learning-rate", type=positive(float))
    parser.add_argument("--weight-decay", type=non_negative,
                        help="L2 term added to the gradients, as PyTorch's Adam weight_decay (the paper's)")
    parser.add_argument("--ccc-weights", type=float, nargs=3, metavar=("A", "B", "G"),
                        help="loss weights of CCC activation, valence, dominance (the best epoch is still the "
                             "one of the highest unweighted mean validation CCC)")
    parser.add_argument("--max-seconds", type=positive(float),
                        help="utterances cut to this length (frozen features: to the frames of its audio)")
    parser.add_argument("--minicpc-epochs", type=positive(int))
    parser.add_argument("--minicpc-steps", type=positive(int), help="miniCPC steps per epoch")
    parser.add_argument("--minicpc-crop-seconds", type=positive(float))
    parser.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                        help="frozen features (mfcc, minicpc, precpc): standardise each dimension with "
                             "the training set's mean and variance")
    parser.add_argument("--level-normalization", choices=LEVEL_NORMALIZATIONS,
                        help="bring the speech level to -25 dBFS before the features (keras_cpc.loudness; causal, as "
                             "the streaming engine does it): starting from the speaker's level (the median over "
                             "their utterances), from each utterance's own, or not at all")
    parser.add_argument("--speech-frames", action=argparse.BooleanOptionalAction,
                        help="frozen features: the head and the feature statistics see only the frames that hold "
                             "speech (keras_cpc.speech_frames, causal, as the engine decides them)")
    parser.add_argument("--speech-floor", type=float, metavar="DBFS",
                        help=f"with --speech-frames: no frame below DBFS is speech (default "
                             f"{SpeechFrameSettings.floor_dbfs:g}; the level normalisation brings speech to "
                             f"{LevelSettings.target_dbfs:g} dBFS)")
    parser.add_argument("--speech-hangover", type=non_negative_int, metavar="FRAMES",
                        help="with --speech-frames: the frames after a loud frame that are speech too (default "
                             f"{SpeechFrameSettings.hangover_frames}, 10 ms each)")
    parser.add_argument("--augment", type=non_negative_int, metavar="N",
                        help="frozen features: N channel-shifted copies of every training utterance "
                             "(keras_cpc.channels.random_shift: level, noise, babble of other training "
                             "utterances, rooms, band limits, tilt); each epoch reads one of its N + 1 versions")
    parser.add_argument("--utterance-gain", type=positive(float), metavar="DB",
                        help="with --augment: each file of an augmented copy also gets its own gain, uniform in "
                             "+-DB dB, so that loudness within a speaker is not a reliable cue (keras_cpc.features."
                             "channel_shift)")
    parser.add_argument("--augment-snr", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="with --augment: the SNR range in dB of the copies' noise (default 5 30; "
                             "keras_cpc.channels.random_shift)")
    parser.add_argument("--augment-narrowband", type=share, metavar="P",
                        help="with --augment: the probability that a speaker's channel is a narrowband voice link "
                             "(8 kHz, a random telephone band, A-law or not) in place of its band limit or tilt "
                             "(keras_cpc.channels.random_shift)")
    parser.add_argument("--augment-babble", type=share, metavar="P",
                        help="with --augment: the probability that a speaker's channel also gets babble (of other "
                             "training utterances, or --augment-babble-from's) on top of its noise, at the same SNR "
                             "range (keras_cpc.channels.random_shift)")
    parser.add_argument("--augment-babble-from", metavar="FOLDER",
                        help="with --augment: the copies' babble comes from the speech under FOLDER (e.g. unlabeled "
                             f"read speech), its audio files after the first {BABBLE_SOURCES}, which the out-of-domain "
                             "protocol's babble takes from the same folder (default: the training utterances)")
    parser.add_argument("--speaker-features", action=argparse.BooleanOptionalAction,
                        help="frozen features, with --standardize: map each speaker's feature mean and variance "
                             "onto the training set's (keras_cpc.speaker_features), as the engine does per session")
    parser.add_argument("--speaker-calibration", choices=("all", "neutral"),
                        help="with --speaker-features: a speaker's feature statistics from all their utterances "
                             "(default) or from their neutral ones only (what the app's calibration reading gives)")
    parser.add_argument("--variance-floor", type=positive(float), metavar="V",
                        help="with --standardize: added to every feature variance (default 1e-6), so that "
                             "near-constant dimensions, which a channel moves most, are not amplified")
    parser.add_argument("--attention-dim", type=positive(int), metavar="DIM",
                        help="the head's attention: the total width of its queries, keys and values (default "
                             f"{ATTENTION_DIM}, the paper's); a smaller head costs less on a device")
    parser.add_argument("--attention-heads", type=positive(int), metavar="N",
                        help=f"the head's attention: its number of heads (default {ATTENTION_HEADS}, the paper's); "
                             "they split --attention-dim")
    parser.add_argument("--attention-residual", action=argparse.BooleanOptionalAction,
                        help="the head's attention input is added to its output before the pooling (a Transformer's "
                             "residual connection; default: not, as the paper)")
    parser.add_argument("--attentive-pooling", action=argparse.BooleanOptionalAction,
                        help="the head's pooling weighs each frame by a score it learns (attentive statistics "
                             "pooling; default: every frame alike, as the paper)")
    parser.add_argument("--attention-span", type=positive(int), metavar="FRAMES",
                        help="each frame attends only to itself and the frames before it within FRAMES (causal "
                             "attention a stream can reuse; default: every frame, as the paper)")
    parser.add_argument("--frame-average", type=positive(int), metavar="FRAMES",
                        help="the attention sees the mean of each run of FRAMES frames (a head that costs about "
                             "1 / FRAMES per prediction; default: every frame, as the paper)")
    parser.add_argument("--weight-average", type=fraction, metavar="MOMENTUM",
                        help="validate, pick and save an exponential moving average of the weights, updated every "
                             "step with this momentum (Keras's use_ema; 0.99 averages about the last 100 steps)")
    parser.add_argument("--mfccs", type=positive(int), metavar="N",
                        help="minicpc, precpc: N MFCCs appended to each frame's CPC context (spectral statistics "
                             "beside the contexts; keras_cpc.layers.AppendMFCC), in training and in the export")
    parser.add_argument("--mfcc-band", type=non_negative, nargs=2, metavar=("LOW", "HIGH"),
                        help="with --mfccs: the band of their mel filters in Hz (default 20 to 8000), e.g. the "
                             "300 to 3400 that a telephone line keeps")
    parser.add_argument("--pitch", action=argparse.BooleanOptionalAction,
                        help="with --mfccs: each frame's voicing and pitch appended after its MFCCs (prosody that "
                             "channels leave alone; keras_cpc.layers.Pitch)")
    parser.add_argument("--feature-dropout", type=fraction, metavar="P",
                        help="frozen features: in training, each feature dimension of an utterance is zeroed over all "
                             "its frames with probability P (SpatialDropout1D after the standardisation), so that no "
                             "few dimensions carry an output alone")
    parser.add_argument("--context-dropout", type=fraction, metavar="P",
                        help="with --mfccs: in training, an utterance's CPC contexts are zeroed in every frame with "
                             "probability P, so that the head also learns to predict from the appended MFCCs (and "
                             "pitch) alone (modality dropout)")
    parser.add_argument("--teacher", metavar="RECOGNIZER",
                        help="frozen features: train towards a trained recognizer's estimates (e.g. an ensemble's, "
                             "training.ensemble) instead of the labels: distillation into one head. The teacher "
                             "takes the same features and gives its estimate of each version of a training "
                             "utterance, the original and every augmented copy. It must have been trained on this "
                             "run's fold (one from another fold has heard its test speakers) and on the same "
                             "features (checked: the settings and the width; not checked: the CPC model)")
    parser.add_argument("--teacher-weight", type=share, metavar="W",
                        help="with --teacher: the targets are W times the teacher's estimates plus 1 - W times the "
                             "labels (default 1)")
    parser.add_argument("--bounded", action=argparse.BooleanOptionalAction,
                        help="outputs squashed into the labels' [-1, 1] (tanh)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2))
    parser.set_defaults(**FinetuneConfig.defaults())


def minicpc_pretraining(config: FinetuneConfig, listing: Path, folder: Path) -> PretrainConfig:
    """The pretraining of a miniCPC model: the `--minicpc-*` settings, pretraining's defaults for the rest."""
    return PretrainConfig(data=(str(listing),), out=str(folder), epochs=config.minicpc_epochs,
                          steps_per_epoch=config.minicpc_steps, crop_seconds=config.minicpc_crop_seconds,
                          verbose=config.verbose, strategy="default")  # one device, as finetuning


def minicpc_folder(config: FinetuneConfig, listing: str) -> Path:
    """Cache folder of a miniCPC model: one per pretraining listing (files and their speakers, which
    pick pretraining's validation files) and pretraining settings (every one, defaults included)."""
    settings = minicpc_pretraining(config, Path(), Path()).settings()
    del settings["data"]  # the listing, below
    key = hashlib.sha256(f"{json.dumps(settings, sort_keys=True)}\n{listing}".encode()).hexdigest()[:16]
    return Path(config.cache) / "minicpc" / key


def minicpc_model(config: FinetuneConfig, train: Sequence[EmotionUtterance], seed: int) -> Path:
    """CPC pretrained on the given utterances only (cached): a fold's training and validation
    audio, never its test audio.

    Pretraining seeds itself, so the run's seed is set again afterwards, whether or not the
    model was cached: the recognizer's initialisation must not depend on the cache.
    """
    listing_text = "".join(f"{u.path}\t{u.speaker}\n" for u in sorted(train, key=lambda u: u.path))
    folder = minicpc_folder(config, listing_text)
    with locked(folder / "lock", wait=True):  # runs of the fold started together: one pretrains, the others reuse it
        listing = folder / "train_files.txt"  # with the corpus's speakers, for pretraining's validation split
        listing.write_text(listing_text, encoding="utf-8")
        if not (folder / "done").exists():
            pretrain.pretrain(minicpc_pretraining(config, listing, folder))
            (folder / "done").touch()
    keras.utils.set_random_seed(seed)
    return folder / "cpc.keras"


def run_seed(config: FinetuneConfig) -> int:
    """The seed of a run: its model's initialisation, its first data order and its augmented copies."""
    return 1000 * config.run + config.fold


def frontend(config: FinetuneConfig) -> dict:
    """The audio front end of a run: its level normalisation (`keras_cpc.loudness.frontend_config`) and speech
    frames (`keras_cpc.speech_frames.speech_frame_config`)."""
    level = None if config.level_normalization == "none" else \
        LevelSettings(per_speaker=config.level_normalization == "speaker")
    given = {field: getattr(config, option) for option, (field, _) in SPEECH_FRAME_OPTIONS.items()}
    frames = SpeechFrameSettings(**{field: value for field, value in given.items() if value is not None})
    return frontend_config(level) | speech_frame_config(frames if config.speech_frames else None)


def augmentation_babble(config: FinetuneConfig, train: Sequence[EmotionUtterance]) -> list[str]:
    """The files that augmentation's babble is drawn from: of the training set (`babble_sources`), or of
    `--augment-babble-from`'s folder those that the protocol's babble does not take (`augmentation_babble_files`)."""
    if config.augment_babble_from is None:
        return babble_sources([u.path for u in train])
    return augmentation_babble_files(config.augment_babble_from)


def datasets(config: FinetuneConfig, system: str, sets: Sequence[Sequence[EmotionUtterance]], seed: int,
             teacher: Recognizer | None = None):
    """Training, validation and test datasets of a system (features cached when frozen), the per-dimension
    mean and variance of the training features (`None` for e2e), and with speaker features calibrated on all
    utterances, those of the training speakers' neutral utterances after their mapping (else `None`). With a
    `teacher`, the training targets are `distilled_targets`."""
    max_samples = int(config.max_seconds * SAMPLE_RATE)
    if system == "e2e":
        field = receptive_field(PAPER_KERNELS, PAPER_STRIDES)
        levels = [speaker_levels(s, lambda u: load_audio(u.path), frontend(config)) for s in sets]
        return [audio_dataset([u.path for u in s], labels(s), config.batch_size, max_samples, field, shuffle=i == 0,
                              seed=seed, frontend=frontend(config),
                              calibrations={u.path: level.get(u.speaker) for u in s})
                for i, (s, level) in enumerate(zip(sets, levels))], None, None
    if system == "mfcc":
        extractor = mfcc_extractor()
    else:  # precpc's model checked by `finetune` (`check_cpc`)
        cpc = config.cpc if system == "precpc" else minicpc_model(config, [*sets[0], *sets[1]], seed)
        extractor = cpc_extractor(cpc, append_mfccs(config.mfccs, config.mfcc_band, config.pitch))
    files = [cache_features(s, extractor, config.cache, frontend(config)) for s in sets]
    max_frames = num_frames(max_samples, PAPER_KERNELS, PAPER_STRIDES)  # as many as MFCC's 25 ms / 10 ms
    statistics = feature_statistics(files[0], max_frames)  # of the original training audio
    copies = []
    if config.augment:
        babble = augmentation_babble(config, sets[0])
        # seeded by the run and fold, not by `seed`, which a resumed run changes to draw a new data order
        copies = [cache_features(sets[0], extractor, config.cache, frontend(config),
                                 channel_shift(run_seed(config), copy, babble,
                                               utterance_gain_db=config.utterance_gain or 0.0,
                                               snr_db=tuple(config.augment_snr or NOISE_SNR_DB),
                                               narrowband=config.augment_narrowband or 0.0,
                                               extra_babble=config.augment_babble or 0.0))
                  for copy in range(config.augment)]
    transforms, neutral = {}, None
    if config.speaker_features:  # every version of every set: its speakers through their own channel
        for utterances, versions in [(sets[0], copies), *((s, [f]) for s, f in zip(sets, files))]:
            for version in versions:
                transforms.update(speaker_transforms(version, utterances, statistics, max_frames, epsilon(config),
                                                     config.speaker_calibration or "all"))
        if (config.speaker_calibration or "all") == "all":
            neutral = frame_statistics(transforms[path](np.load(path)[:max_frames])
                                       for path, u in zip(files[0], sets[0]) if u.emotion in NEUTRAL)
    targets = [labels(s) for s in sets]
    if teacher is not None:
        check_teacher_width(config.teacher, teacher, np.load(files[0][0], mmap_mode="r").shape[1])
        datasets_of_versions = [feature_dataset(f, targets[0], config.batch_size, max_frames, transforms=transforms)
                                for f in (files[0], *copies)]
        distilled = distilled_targets(teacher, datasets_of_versions, targets[0], config.teacher_weight)
        targets[0] = distilled if copies else distilled[:, 0]
    if copies:
        files[0] = [list(versions) for versions in zip(files[0], *copies)]
    return [feature_dataset(f, t, config.batch_size, max_frames, shuffle=i == 0, seed=seed, transforms=transforms)
            for i, (f, t) in enumerate(zip(files, targets))], statistics, neutral


def distilled_targets(teacher: Recognizer, versions: Sequence[tf.data.Dataset], truth: np.ndarray,
                      weight: float | None) -> np.ndarray:
    """`(items, versions, dimensions)`: `weight` (default 1) times the teacher's estimates on each version of the
    training features (unshuffled datasets: the original, then each augmented copy) plus `1 - weight` times their
    labels `truth`."""
    weight = TEACHER_WEIGHT if weight is None else weight
    estimates = np.stack([teacher.predict(version, verbose=0) for version in versions], axis=1)
    return (weight * estimates + (1 - weight) * truth[:, None]).astype(np.float32)


def check_teacher_width(path: str, teacher: Recognizer, width: int) -> None:
    """A `SettingError` naming the teacher if it does not take features of the run's `width`."""
    if (expected := feature_width(teacher)) != width:
        raise SettingError(f"{path}: the teacher takes {expected}-dimensional features, this run's have {width}")


def load_teacher(config: FinetuneConfig) -> Recognizer:
    """The `--teacher`: a recognizer (or ensemble) that takes the features this run trains on (its settings: the width
    is checked once the features are cached, their source, e.g. the CPC model, cannot be), else an error."""
    teacher = load_model_file(config.teacher, EmotionRecognizer, RecognizerEnsemble, compile=False)
    own = [key for key in SHARED_SETTINGS if key != "neutral_statistics"]  # a run's own reference
    if differing := differing_settings(first_member(teacher), recognizer(config, config.standardize), own):
        raise SettingError(f"{config.teacher}: the teacher differs from this run in {', '.join(differing)}: it must "
                           "take the same features")
    return teacher


def epsilon(config: FinetuneConfig) -> float:
    """What the standardisation adds to every variance."""
    return config.variance_floor or EPSILON


def speaker_transforms(files: Sequence[str], utterances: Sequence[EmotionUtterance], reference: Statistics,
                       max_frames: int, floor: float, calibration: str) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Per feature file, `to_reference` with its speaker's statistics over these files (those of them that
    `calibration_indices` picks)."""
    transforms = {}
    for speaker in dict.fromkeys(u.speaker for u in utterances):
        own = [(f, u) for f, u in zip(files, utterances) if u.speaker == speaker]
        chosen = calibration_indices([u for _, u in own], calibration)
        statistics = feature_statistics([own[i][0] for i in chosen], max_frames)
        transforms.update({path: functools.partial(to_reference, speaker=statistics, reference=reference,
                                                   epsilon=floor) for path, _ in own})
    return transforms


def write_predictions(path: Path, utterances: Sequence[EmotionUtterance], predicted: np.ndarray) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "speaker", *DIMENSIONS, *(f"predicted_{d}" for d in DIMENSIONS)])
        for utterance, row in zip(utterances, predicted):
            writer.writerow([utterance.path, utterance.speaker, utterance.activation, utterance.valence,
                             utterance.dominance, *(f"{v:.5f}" for v in row)])


def check_cpc(cpc: str | None) -> None:
    """The precpc system's `--cpc`: given, and a CPC model (`keras_cpc.features.load_cpc`), else an error."""
    if not cpc:
        raise SettingError("--cpc (a pretrained CPC .keras model) is required for precpc")
    load_cpc(cpc)


def fold_sets(config: FinetuneConfig) -> tuple[list, list, list]:
    """The fold's training, validation and test utterances; a fold that lacks any is a `SplitError`."""
    sets = split(config.corpus, read_corpus(config.corpus, config.data), config.fold, config.folds,
                 config.validation_fraction, config.run, config.train_sentence)
    for name, part in zip(("training", "validation", "test"), sets):
        if not part:
            raise SplitError(f"fold {config.fold} of {config.data} has no {name} utterances")
    logger.info("%s fold %d run %d: %d training, %d validation, %d test utterances", config.system, config.fold,
                config.run, *map(len, sets))
    return sets


# The options that set the augmented copies (`--augment`), and what each sets.
COPY_OPTIONS = {"utterance_gain": "--utterance-gain sets the gain of each file of the augmented copies",
                "augment_narrowband": "--augment-narrowband sets the channels of the augmented copies",
                "augment_babble": "--augment-babble sets the channels of the augmented copies",
                "augment_babble_from": "--augment-babble-from sets the babble of the augmented copies",
                "augment_snr": "--augment-snr sets the SNR of the augmented copies' noise"}
# The options that set the speech frames (`--speech-frames`): the `SpeechFrameSettings` field each sets, and its name.
SPEECH_FRAME_OPTIONS = {"speech_floor": ("floor_dbfs", "floor"), "speech_hangover": ("hangover_frames", "hangover")}


def finetune(config: FinetuneConfig) -> dict[str, float]:
    """Trains (or resumes) one system on one fold and returns its test CCC per dimension; one
    process at a time in `--out`. The `--cpc` model and the fold are checked before anything is written."""
    start = time.perf_counter()
    if config.system == "precpc":
        check_cpc(config.cpc)
    if config.speaker_features and not config.standardize:
        raise SettingError("--speaker-features maps features onto the training set's statistics: it needs "
                           "--standardize")
    for name, what in COPY_OPTIONS.items():
        if getattr(config, name) and not config.augment:
            raise SettingError(f"{what}: it needs --augment")
    if config.augment_snr and not all(map(math.isfinite, config.augment_snr)):
        raise SettingError(f"--augment-snr {config.augment_snr[0]:g} {config.augment_snr[1]:g}: not finite")
    if config.augment_snr and config.augment_snr[0] > config.augment_snr[1]:
        raise SettingError(f"--augment-snr {config.augment_snr[0]:g} {config.augment_snr[1]:g}: LOW is above HIGH")
    if config.augment_babble_from is not None:
        try:
            augmentation_babble_files(config.augment_babble_from)
        except (OSError, ValueError) as error:
            raise SettingError(f"--augment-babble-from: {error}") from None
    if config.mfccs and config.system not in ("minicpc", "precpc"):
        raise SettingError(f"--mfccs appends MFCCs to CPC contexts: {config.system} has none (minicpc, precpc)")
    if config.mfcc_band and not config.mfccs:
        raise SettingError("--mfcc-band sets the band of the appended MFCCs: it needs --mfccs")
    if config.pitch and not config.mfccs:
        raise SettingError("--pitch appends pitch after the appended MFCCs: it needs --mfccs")
    if config.context_dropout and not config.mfccs:
        raise SettingError("--context-dropout leaves the head the appended MFCCs: it needs --mfccs")
    for option, (_, name) in SPEECH_FRAME_OPTIONS.items():
        if getattr(config, option) is not None and not config.speech_frames:
            raise SettingError(f"--{option.replace('_', '-')} sets the speech frames' {name}: it needs --speech-frames")
    if config.speech_floor is not None and not (math.isfinite(config.speech_floor) and config.speech_floor < 0):
        raise SettingError(f"--speech-floor {config.speech_floor:g}: a level in dBFS, below 0")
    if config.speech_frames and config.system == "e2e":
        raise SettingError("--speech-frames drops frames from frozen features: e2e trains on the audio")
    if config.feature_dropout and config.system == "e2e":
        raise SettingError("--feature-dropout drops dimensions of frozen features: e2e trains on the audio")
    if config.teacher and config.system == "e2e":
        raise SettingError("--teacher gives targets for frozen features: e2e trains on the audio")
    if config.teacher_weight is not None and not config.teacher:
        raise SettingError("--teacher-weight weighs the teacher's estimates: it needs --teacher")
    if (dim := config.attention_dim or ATTENTION_DIM) % (heads := config.attention_heads or ATTENTION_HEADS):
        raise SettingError(f"--attention-dim {dim} does not split over --attention-heads {heads}")
    teacher = load_teacher(config) if config.teacher else None
    sets = fold_sets(config)
    out = Path(config.out)
    with exclusive_run(out):
        return train_and_test(config, sets, out, start, teacher)


def recognizer(config: FinetuneConfig, standardize: bool,
               neutral: Statistics | None = None) -> EmotionRecognizer | EndToEndRecognizer:
    """The untrained model of a run: its head's settings from `config`."""
    given = (("attention_dim", config.attention_dim), ("num_heads", config.attention_heads),
             ("residual", config.attention_residual), ("attentive_pooling", config.attentive_pooling))
    head = {"bounded": config.bounded, "frontend": frontend(config),
            **{name: value for name, value in given if value}}  # the paper's attention and pooling where not given
    if config.system == "e2e":
        return EndToEndRecognizer(recognizer=head)
    return EmotionRecognizer(standardize=standardize, speaker_features=config.speaker_features,
                             variance_floor=epsilon(config), speaker_calibration=config.speaker_calibration or "all",
                             attention_span=config.attention_span, frame_average=config.frame_average or 1,
                             neutral_statistics=neutral, mfccs=config.mfccs, mfcc_band=config.mfcc_band,
                             pitch=config.pitch, feature_dropout=config.feature_dropout,
                             context_dropout=config.context_dropout, **head)


def train_and_test(config: FinetuneConfig, sets: Sequence[Sequence[EmotionUtterance]], out: Path,
                   start: float, teacher: Recognizer | None = None) -> dict[str, float]:
    """`finetune` in its locked `out`, its clock started at `start`, distilling `teacher` if given."""
    settings = config.settings()  # once: for precpc it hashes the CPC model
    callbacks = run_callbacks(out, "recognizer.keras", "val_ccc_mean", settings, mode="max")
    resumed = resumed_epoch(out)  # the epochs an interrupted invocation checkpointed (0 for a new run)
    earlier_seconds = logged_seconds(out / "log.csv", resumed)
    seed = run_seed(config)
    keras.utils.set_random_seed(seed)
    train, validation, test = sets
    # A resumed run shuffles on from a new seed rather than replaying the first epochs' order.
    (train_data, validation_data, test_data), statistics, neutral = datasets(
        config, config.system, (train, validation, test), resumed_seed(seed, resumed), teacher)
    if resumed:  # dropout's draws are not checkpointed: go on from a new seed, not replay
        keras.utils.set_random_seed(resumed_seed(seed, resumed))
    standardize = config.standardize and statistics is not None
    model = recognizer(config, standardize, neutral)
    model.build({key: spec.shape for key, spec in train_data.element_spec[0].items()})
    if standardize:
        model.standardization.set_statistics(*statistics)
    model.compile(optimizer=AdamL2(config.learning_rate, l2=config.weight_decay, use_ema=bool(config.weight_average),
                                   ema_momentum=config.weight_average or 0.99),
                  loss=CCCLoss(config.ccc_weights), metrics=[ConcordanceCorrelation(DIMENSIONS)],
                  jit_compile=False)  # Keras's "auto" is XLA on a GPU: one compilation per padded batch length
    finished = out / "results.json"  # from an invocation that finished: its time stands if no epoch is added
    if resumed < config.epochs:  # the record and predictions of an earlier best model would outlive a stop
        finished.unlink(missing_ok=True)
        (out / "predictions.csv").unlink(missing_ok=True)
    history = model.fit(train_data, validation_data=validation_data, epochs=config.epochs, verbose=config.verbose,
                        shuffle=False, callbacks=callbacks)
    best = keras.saving.load_model(out / "recognizer.keras")
    predicted = best.predict(test_data, verbose=0)
    truth = labels(test)
    scores = ccc(truth, predicted)
    results = {f"ccc_{d}": float(s) for d, s in zip(DIMENSIONS, scores)}
    results["seconds"] = read_record(finished)["seconds"] if finished.exists() and not history.epoch else \
        earlier_seconds + time.perf_counter() - start
    results["settings"] = settings
    if config.train_sentence:
        results["by_sentence"] = scores_by_sentence(test, predicted)
    write_predictions(out / "predictions.csv", test, predicted)
    plot_finetuning(out / "log.csv", out / "curves.png", DIMENSIONS)
    plot_scatter(truth, predicted, DIMENSIONS, scores, out / "scatter.png",
                 f"{config.system}, {config.corpus} fold {config.fold}, run {config.run}: test set")
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
    run_cli(lambda args: finetune(FinetuneConfig.from_args(args)), build_parser(), argv)


if __name__ == "__main__":
    main()
