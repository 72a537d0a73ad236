"""The mean estimate of several emotion recognizers trained alike (other seeds): one model, one export."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
from keras import ops

from keras_cpc.layers import AppendMFCC
from keras_cpc.models.recognizer import EmotionRecognizer

# what the members must agree on: the features they take and what the engine does before them
SHARED_SETTINGS = ("outputs", "standardize", "bounded", "frontend", "speaker_features", "variance_floor",
                   "speaker_calibration", "neutral_statistics", "mfccs", "mfcc_band", "pitch")


def differing_settings(model: EmotionRecognizer, reference: EmotionRecognizer,
                       settings: Sequence[str] = SHARED_SETTINGS) -> list[str]:
    """Those of `settings` in which `model`'s config differs from `reference`'s."""
    config, expected = model.get_config(), reference.get_config()
    return [key for key in settings if config[key] != expected[key]]


def check_members(members: Sequence[EmotionRecognizer], settings: Sequence[str] = SHARED_SETTINGS) -> None:
    """A `ValueError` naming the first member that differs from member 0 in any of `settings`, and how."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    for index, member in enumerate(members[1:], 1):
        if differing := differing_settings(member, members[0], settings):
            raise ValueError(f"ensemble member {index} differs from member 0 in {', '.join(differing)}: the "
                             "members must take the same features")


def first_member(recognizer: Recognizer) -> EmotionRecognizer:
    """The recognizer whose feature width and statistics an export records: an ensemble's first member (its members
    take the same features and, mapped per speaker, the same statistics: `ensemble_of`)."""
    return recognizer.members[0] if isinstance(recognizer, RecognizerEnsemble) else recognizer


def feature_width(recognizer: Recognizer) -> int:
    """The width of the feature frames a recognizer (or ensemble) takes: its attention's input."""
    return first_member(recognizer).attention.query.kernel.shape[0]


@keras.saving.register_keras_serializable(package="keras_cpc")
class RecognizerEnsemble(keras.Model):
    """Predicts (activation, valence, dominance) as the mean of its members' predictions.

    The members are `EmotionRecognizer`s on the same features (`SHARED_SETTINGS`), e.g. runs of one recipe with
    other seeds; their heads may differ. The ensemble takes the members' input and gives their shared settings
    (`frontend`, `appended_mfccs()`, ...) as its own, so that `training.heldout` and the app treat it as one
    recognizer; the export reads the feature statistics from `members[0]`. Build one from trained members with
    `ensemble_of`.
    """

    def __init__(self, members: Sequence[EmotionRecognizer], **kwargs):
        super().__init__(**kwargs)
        members = [keras.saving.deserialize_keras_object(m) if isinstance(m, dict) else m for m in members]
        check_members(members)
        self.members = members
        self.built = all(member.built for member in members)  # trained members: nothing left to build

    def build(self, input_shape):
        for member in self.members:
            if not member.built:
                member.build(input_shape)

    def call(self, inputs, training: bool = False):
        return ops.mean(ops.stack([member(inputs, training=training) for member in self.members]), axis=0)

    def compute_output_shape(self, input_shape):
        return self.members[0].compute_output_shape(input_shape)

    # the members' shared settings that the export, the held-out scoring and the model card read (no layers here:
    # Keras saves a layer under the first attribute that reaches it)
    @property
    def frontend(self) -> dict:
        return self.members[0].frontend

    @property
    def speaker_features(self) -> bool:
        return self.members[0].speaker_features

    @property
    def speaker_calibration(self) -> str:
        return self.members[0].speaker_calibration

    @property
    def neutral_statistics(self) -> tuple[list[float], list[float]] | None:
        return self.members[0].neutral_statistics

    @property
    def mfccs(self) -> int:
        return self.members[0].mfccs

    def appended_mfccs(self) -> AppendMFCC | None:
        """The members' `EmotionRecognizer.appended_mfccs`."""
        return self.members[0].appended_mfccs()

    def get_config(self):
        return {**super().get_config(), "members": [keras.saving.serialize_keras_object(m) for m in self.members]}


Recognizer = EmotionRecognizer | RecognizerEnsemble  # a head on frozen features, or the mean of several


def ensemble_member(recognizer: Recognizer, index: int | None, path: str | os.PathLike) -> Recognizer:
    """`recognizer` (loaded from `path`) itself, or with `index` that member of it alone; a `ValueError` naming
    `path` if it is no ensemble or has no such member."""
    if index is None:
        return recognizer
    if not isinstance(recognizer, RecognizerEnsemble):
        raise ValueError(f"{path}: not an ensemble (RecognizerEnsemble): it has no member {index}")
    if not 0 <= index < len(recognizer.members):
        raise ValueError(f"{path}: the ensemble's members are 0 to {len(recognizer.members) - 1}, not {index}")
    return recognizer.members[index]


def ensemble_of(members: Sequence[EmotionRecognizer], name: str = "recognizer_ensemble") -> RecognizerEnsemble:
    """The ensemble of built `members`; on features mapped per speaker, they first take the first member's feature
    statistics and neutral reference.

    Members trained on other training speakers (a run's seed draws its validation speakers) standardise with
    slightly other statistics, and the engine maps a speaker onto one reference. For a speaker mapped with fixed
    statistics (a calibrated speaker, training, held-out scoring) the reference changes nothing: `to_reference` and
    then the standardisation give `(x - speaker mean) / sqrt(speaker variance + epsilon)` whatever it is. A session
    without calibration starts its running statistics at the reference's, and speech presumed neutral is mapped
    onto the neutral reference: there each member now sees what the first member's training speakers set, not its
    own's. Members on features not mapped per speaker keep their own statistics.
    """
    check_members(members, [key for key in SHARED_SETTINGS if key != "neutral_statistics"])  # before any change
    first = members[0]
    if first.speaker_features:
        statistics = [ops.convert_to_numpy(w) for w in (first.standardization.mean, first.standardization.variance)]
        for member in members[1:]:
            member.standardization.set_statistics(*statistics)
            member.neutral_statistics = first.neutral_statistics
    return RecognizerEnsemble(members, name=name)
