"""Nearest emotion category of an (activation, valence, dominance) estimate.

`CATEGORIES` maps each category to its (valence, activation, dominance), already on a -1..1
scale: the pleasure, arousal and dominance of the matching emotion term in Russell & Mehrabian
(1977), "Evidence for a three-factor theory of emotions", Journal of Research in Personality
11(3), 273-294. It is the table `keras_cpc.datasets.ravdess.EMOTIONS` labels RAVDESS with (a test
checks they agree); it is copied here because the app must not import TensorFlow. Neutral is the
origin; "calm" takes the paper's "relaxed"; "fearful" is "afraid", "disgust" "disgusted".
The categories are listed in the order of RAVDESS's emotion codes (01 neutral ... 08 surprised).
"""

from __future__ import annotations

import math
from pathlib import Path

CATEGORIES: dict[str, tuple[float, float, float]] = {  # category -> (valence, activation, dominance)
    "neutral": (0.00, 0.00, 0.00),
    "calm": (0.68, -0.46, 0.06),
    "happy": (0.81, 0.51, 0.46),
    "sad": (-0.63, -0.27, -0.33),
    "angry": (-0.51, 0.59, 0.25),
    "fearful": (-0.64, 0.60, -0.43),
    "disgust": (-0.60, 0.35, 0.11),
    "surprised": (0.40, 0.67, -0.13),
}


def nearest_category(activation: float, valence: float, dominance: float) -> str:
    """The category whose table point is nearest (Euclidean, all three dimensions) to the estimate."""
    point = (valence, activation, dominance)
    return min(CATEGORIES, key=lambda name: math.dist(CATEGORIES[name], point))


def ravdess_category(path: str | Path) -> str:
    """The acted category of a RAVDESS file, from the emotion code of its name (`03-01-EE-...`)."""
    return list(CATEGORIES)[int(Path(path).name.split("-")[2]) - 1]
