"""RAVDESS speech (Livingstone & Russo 2018): acted categories mapped to activation, valence, dominance."""

from __future__ import annotations

import re
from pathlib import Path

from keras_cpc.datasets.emotion import EmotionUtterance, named_clips

# Emotion code -> (category, (valence, activation, dominance)): the pleasure, arousal and dominance
# of the matching emotion term in Russell & Mehrabian (1977), "Evidence for a three-factor theory
# of emotions", Journal of Research in Personality 11(3), 273-294, already on a -1..1 scale.
# Neutral is the origin of the space (not a rated term). Proxies and unchecked values: RAVDESS's
# "calm" takes the paper's "relaxed" (the table has no "calm"); the values of "relaxed" and
# "surprised" are the ones commonly reproduced from that table, not checked against the print.
EMOTIONS = {
    "01": ("neutral", (0.00, 0.00, 0.00)),
    "02": ("calm", (0.68, -0.46, 0.06)),  # proxy: "relaxed"
    "03": ("happy", (0.81, 0.51, 0.46)),
    "04": ("sad", (-0.63, -0.27, -0.33)),
    "05": ("angry", (-0.51, 0.59, 0.25)),
    "06": ("fearful", (-0.64, 0.60, -0.43)),  # "afraid"
    "07": ("disgust", (-0.60, 0.35, 0.11)),  # "disgusted"
    "08": ("surprised", (0.40, 0.67, -0.13)),
}

CATEGORIES = {name: (activation, valence, dominance) for name, (valence, activation, dominance) in EMOTIONS.values()}
"""Category -> (activation, valence, dominance): the points of `EMOTIONS` by name (a strong clip's labels), which
corpora of the same categories are labelled with too."""

# 03 audio-only, 01 speech, EE emotion, II intensity (01 normal, 02 strong), SS statement,
# RR repetition, AA actor.
_NAME = re.compile(r"03-01-(0[1-8])-(0[12])-(0[12])-0[12]-(\d\d)")
_ACTOR_FOLDER = re.compile(r"Actor_\d\d")


def ravdess(root: str | Path, normal_intensity: float = 0.75) -> list[EmotionUtterance]:
    """Every `03-01-EE-II-SS-RR-AA` audio file under `root` (e.g. `Actor_01/ ... Actor_24/`).

    Labels come from `EMOTIONS`. A strong-intensity clip (II = 02) gets its category's vector
    as tabled; a normal one (II = 01) gets it scaled by `normal_intensity`, nearer to neutral,
    since the table rates the emotion itself and a normal rendition expresses less of it (0.75 is
    our choice, not a published value; 1.0 turns the scaling off). The speaker is "Actor_AA".
    Raises ValueError naming the file for an audio file whose name does not fit the pattern, a clip
    found twice (two copies of the corpus under `root`) or one in another actor's `Actor_AA/` folder.
    """
    if not 0.0 <= normal_intensity <= 1.0:
        raise ValueError(f"normal_intensity is {normal_intensity}; expected a scale in [0, 1]")
    utterances = []
    for file, match in named_clips(root, "RAVDESS", _NAME, "a speech clip 03-01-EE-II-SS-RR-AA"):
        emotion, intensity, statement, actor = match.groups()
        if _ACTOR_FOLDER.fullmatch(file.parent.name) and file.parent.name != f"Actor_{actor}":
            raise ValueError(f"{file}: a clip of Actor_{actor} filed under {file.parent.name}/ (which speaker is it?)")
        category, (valence, activation, dominance) = EMOTIONS[emotion]
        scale = normal_intensity if intensity == "01" else 1.0
        utterances.append(
            EmotionUtterance(
                str(file), f"Actor_{actor}", scale * activation, scale * valence, scale * dominance, category,
                sentence=int(statement),
            )
        )
    return utterances
