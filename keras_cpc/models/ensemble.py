"""The mean estimate of several emotion recognizers trained alike (other seeds): one model, one export."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_cpc.models.recognizer import EmotionRecognizer

# what the members must agree on: the features they take and what the engine does before them
SHARED_SETTINGS = ("outputs", "standardize", "bounded", "frontend", "speaker_features", "variance_floor",
                   "speaker_calibration", "neutral_statistics", "mfccs", "mfcc_band", "pitch")


@keras.saving.register_keras_serializable(package="keras_cpc")
class RecognizerEnsemble(keras.Model):
    """Predicts (activation, valence, dominance) as the mean of its members' predictions.

    The members are `EmotionRecognizer`s on the same features (`SHARED_SETTINGS`), e.g. runs of one recipe with
    other seeds; their heads may differ. The ensemble takes the members' input and reads their shared settings
    (`frontend`, `appended_mfccs()`, the standardisation's statistics, ...) from the first member, so that the
    export and the engine treat it as one recognizer. Build one from trained members with `ensemble_of`.
    """

    def __init__(self, members: Sequence[EmotionRecognizer], **kwargs):
        super().__init__(**kwargs)
        members = [keras.saving.deserialize_keras_object(m) if isinstance(m, dict) else m for m in members]
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0].get_config()
        for index, member in enumerate(members[1:], 1):
            config = member.get_config()
            if differing := [key for key in SHARED_SETTINGS if config[key] != first[key]]:
                raise ValueError(f"ensemble member {index} differs from member 0 in {', '.join(differing)}: the "
                                 "members must take the same features")
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

    def appended_mfccs(self):
        """The members' `EmotionRecognizer.appended_mfccs`."""
        return self.members[0].appended_mfccs()

    def get_config(self):
        return {**super().get_config(), "members": [keras.saving.serialize_keras_object(m) for m in self.members]}


def _first_member(name: str) -> property:
    return property(lambda self: getattr(self.members[0], name), doc=f"The members' `{name}`.")


# what the export, the held-out scoring and the model card read of a recognizer
for _name in ("frontend", "speaker_features", "speaker_calibration", "neutral_statistics", "mfccs", "standardization",
              "attention"):
    setattr(RecognizerEnsemble, _name, _first_member(_name))


def ensemble_of(members: Sequence[EmotionRecognizer], name: str = "recognizer_ensemble") -> RecognizerEnsemble:
    """The ensemble of built `members`, which first take the first member's feature statistics.

    Members trained on other training speakers (a run's seed draws its validation speakers) standardise with
    slightly other statistics. For features mapped per speaker that changes nothing: `to_reference` and then the
    standardisation give `(x - speaker mean) / sqrt(speaker variance + epsilon)` whatever the reference, so the
    engine can map onto one reference for all members. Only speech mapped onto the neutral reference reaches each
    member where the first member's training speakers' neutral speech did, instead of its own's.
    """
    first = members[0]
    for member in members[1:]:
        if first.standardization is not None and member.standardization is not None:
            member.standardization.set_statistics(*(ops.convert_to_numpy(w) for w in (
                first.standardization.mean, first.standardization.variance)))
        member.neutral_statistics = first.neutral_statistics
    return RecognizerEnsemble(members, name=name)
