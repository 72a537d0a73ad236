"""The settings of a pretraining and of a finetuning run, as dataclasses.

The CLIs fill them from their options (`from_args`; the options' defaults are the fields'), and
`settings()` says what a run is trained with: what resuming checks and records keep.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from keras_cpc.datasets.protocol import FOLDS, VALIDATION_FRACTION
from keras_cpc.channels import NOISE_SNR_DB, augmentation_babble_files
from keras_cpc.features import file_digest
from keras_cpc.models.recognizer import EmotionRecognizer
from keras_cpc.speech_frames import SpeechFrameSettings


class SettingError(ValueError):
    """A setting the run cannot use; the message names its option."""


REPO = Path(__file__).resolve().parents[1]
DEFAULT_PRETRAINING_DATA = REPO / "assets" / "samples" / "librispeech"


class Config:
    """What the run configs share: defaults for their argparse options, and being built from them."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The fields' defaults, for `argparse.ArgumentParser.set_defaults`."""
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> Self:
        """The config of parsed options: the fields among them, then `overrides`."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{name: value for name, value in vars(args).items() if name in names}, **overrides})


@dataclasses.dataclass(frozen=True, kw_only=True)
class PretrainConfig(Config):
    """CPC pretraining (`training.pretrain`): data, model, optimisation and where it writes."""

    data: Sequence[str] = (str(DEFAULT_PRETRAINING_DATA),)
    out: str = "runs/pretrain"
    epochs: int = 10
    steps_per_epoch: int | None = None
    batch_size: int = 8
    crop_seconds: float = 10.0
    negatives: int = 50
    prediction_steps: int = 12
    encoder_channels: int = 128
    context_units: int = 256
    learning_rate: float = 2e-4
    validation_fraction: float = 0.05
    validation_steps: int | None = None
    augment: float = 0.0  # share of training crops the context hears through a random channel
    init: str | None = None
    seed: int = 0
    strategy: str = "auto"
    verbose: int = 1

    def settings(self) -> dict[str, Any]:
        """What a run is resumed with (`keras_cpc.runs.check_settings`): all but where it writes,
        how it shows progress and how it spreads over devices; `augment` and `init` only when on
        (runs from before they existed resume), `init` as its model's digest."""
        settings = {name: value for name, value in dataclasses.asdict(self).items()
                    if name not in {"out", "verbose", "strategy", "augment", "init"}}
        if self.augment:
            settings["augment"] = True if self.augment == 1 else self.augment
        if self.init:
            settings["init_sha256"] = file_digest(self.init)
        return settings


# Options that only some systems have; the settings of the others leave them out.
FROZEN = {"mfcc", "minicpc", "precpc"}
SYSTEM_OPTIONS = {"standardize": FROZEN, "augment": FROZEN, "utterance_gain": FROZEN, "augment_snr": FROZEN,
                  "augment_narrowband": FROZEN, "augment_babble": FROZEN, "augment_babble_from": FROZEN,
                  "speaker_features": FROZEN, "variance_floor": FROZEN,
                  "speaker_calibration": FROZEN, "attention_span": FROZEN, "frame_average": FROZEN,
                  "speech_frames": FROZEN, "speech_floor": FROZEN, "speech_hangover": FROZEN,
                  "mfccs": {"minicpc", "precpc"}, "mfcc_band": {"minicpc", "precpc"}, "pitch": {"minicpc", "precpc"},
                  "feature_dropout": FROZEN, "context_dropout": {"minicpc", "precpc"}, "teacher": FROZEN,
                  "teacher_weight": FROZEN,
                  **{f"minicpc_{name}": {"minicpc"} for name in ("epochs", "steps", "crop_seconds")}}
# Off by default, and absent from the records written before they existed: recorded only when on.
RECORDED_WHEN_ON = ("level_normalization", "bounded", "augment", "utterance_gain", "augment_snr", "augment_narrowband",
                    "augment_babble", "train_sentence",
                    "attention_dim", "attention_heads", "attention_residual",
                    "speaker_features", "variance_floor", "speaker_calibration", "attention_span", "frame_average",
                    "weight_average", "speech_frames", "mfccs", "mfcc_band", "pitch",
                    "feature_dropout", "context_dropout", "teacher_weight", "attentive_pooling")
# Absent from the records written before they existed: recorded when given, whatever the value (0 included).
RECORDED_WHEN_GIVEN = ("speech_floor", "speech_hangover")

# Options off by default whose default can also be given: given so, the record is that of a run without them.
TEACHER_WEIGHT = 1.0  # --teacher-weight's default: the teacher's estimates alone
_HEAD = inspect.signature(EmotionRecognizer).parameters
ATTENTION_DIM, ATTENTION_HEADS = _HEAD["attention_dim"].default, _HEAD["num_heads"].default  # the paper's
DEFAULTS_GIVEN = {"augment_snr": list(NOISE_SNR_DB), "teacher_weight": TEACHER_WEIGHT, "attention_dim": ATTENTION_DIM,
                  "attention_heads": ATTENTION_HEADS, "speech_floor": SpeechFrameSettings.floor_dbfs,
                  "speech_hangover": SpeechFrameSettings.hangover_frames}


@dataclasses.dataclass(frozen=True, kw_only=True)
class FinetuneConfig(Config):
    """One system on one fold of an emotion corpus (`training.finetune`)."""

    corpus: str
    data: str
    folds: int = FOLDS
    validation_fraction: float = VALIDATION_FRACTION
    train_sentence: int | None = None
    cpc: str | None = None
    cache: str = "runs/cache"
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 2e-4
    weight_decay: float = 1e-5
    ccc_weights: Sequence[float] = (1 / 3, 1 / 3, 1 / 3)
    max_seconds: float = 10.0
    minicpc_epochs: int = 10
    minicpc_steps: int = 100
    minicpc_crop_seconds: float = 3.0
    standardize: bool = True
    level_normalization: str = "speaker"
    speech_frames: bool = False
    speech_floor: float | None = None
    speech_hangover: int | None = None
    augment: int = 0
    utterance_gain: float | None = None
    augment_snr: Sequence[float] | None = None
    augment_narrowband: float | None = None
    augment_babble: float | None = None
    augment_babble_from: str | None = None
    speaker_features: bool = False
    variance_floor: float | None = None
    speaker_calibration: str | None = None
    attention_dim: int | None = None
    attention_heads: int | None = None
    attention_residual: bool = False
    attentive_pooling: bool = False
    attention_span: int | None = None
    frame_average: int | None = None
    weight_average: float | None = None
    mfccs: int = 0
    mfcc_band: Sequence[float] | None = None
    pitch: bool = False
    feature_dropout: float = 0.0
    context_dropout: float = 0.0
    teacher: str | None = None
    teacher_weight: float | None = None
    bounded: bool = True
    verbose: int = 2
    system: str
    fold: int = 0
    run: int = 0
    out: str

    def settings(self) -> dict[str, Any]:
        """What a run is trained with, as `results.json` records it: the options that change its
        result (for its system), and the digests of a precpc model, of a teacher, of a CSV corpus's file and of the
        babble files drawn from `augment_babble_from`; not where files are."""
        settings = {name: value for name, value in dataclasses.asdict(self).items()
                    if name not in {"data", "cache", "cpc", "teacher", "out", "verbose", "augment_babble_from"}
                    and self.system in SYSTEM_OPTIONS.get(name, {self.system})}
        if self.augment_babble_from and self.system in SYSTEM_OPTIONS["augment_babble_from"]:
            settings["augment_babble_sha256"] = hashlib.sha256("".join(
                file_digest(path) for path in augmentation_babble_files(self.augment_babble_from)).encode()
            ).hexdigest()[:16]
        if self.system == "precpc" and self.cpc:
            settings["cpc_sha256"] = file_digest(self.cpc)
        if self.teacher and self.system in SYSTEM_OPTIONS["teacher"]:
            settings["teacher_sha256"] = file_digest(self.teacher)
        if self.corpus == "csv":  # the CSV file is the corpus: its labels, speakers and files
            settings["corpus_sha256"] = file_digest(self.data)
        for name, default in DEFAULTS_GIVEN.items():  # given as the default: the same run as not given
            if name in settings and json.loads(json.dumps(settings[name])) == default:
                settings[name] = None
        for name in RECORDED_WHEN_ON + RECORDED_WHEN_GIVEN:
            off = (None,) if name in RECORDED_WHEN_GIVEN else (False, 0, None, "none", "all")
            if name in settings and settings[name] in off:
                del settings[name]
        # weight_decay is AdamL2's l2; records and checkpoints without this key had Keras's decoupled decay
        # (a no-op at 1e-5)
        settings["optimizer"] = "adam_l2"
        return json.loads(json.dumps(settings))  # as read back from JSON (tuples become lists)
