"""Acted corpora whose file names say who speaks, which sentence and which emotion: EMO-DB and CREMA-D.

Both act categories that RAVDESS acts too, so each clip gets its category's point in RAVDESS's table
(`keras_cpc.datasets.ravdess.CATEGORIES`: a strong clip's labels), whatever its intensity. A category the table has
no point for (EMO-DB's boredom) is left out, with a warning that counts its clips. Their scores are the model's on a
corpus, a language (EMO-DB: German) and speakers it never heard: `--test-corpus emodb` or `crema-d`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from keras_cpc.datasets.emotion import EmotionUtterance, named_clips
from keras_cpc.datasets.ravdess import CATEGORIES

logger = logging.getLogger(__name__)

# EMO-DB (Burkhardt et al. 2005), `wav/03a01Fa.wav`: speaker 03, text a01, emotion F, version a. The emotions are
# German initials: W Wut (anger), L Langeweile (boredom), E Ekel (disgust), A Angst (fear), F Freude (happiness),
# T Trauer (sadness), N neutral.
EMODB_EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fearful", "F": "happy", "T": "sad",
                  "N": "neutral"}
EMODB_TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")  # sentence 1..10
EMODB_NAME = re.compile(rf"(\d\d)({'|'.join(EMODB_TEXTS)})([{''.join(EMODB_EMOTIONS)}])[a-z]")

# CREMA-D (Cao et al. 2014), `AudioWAV/1001_DFA_ANG_XX.wav`: actor 1001, sentence DFA, emotion ANG, intensity XX.
CREMA_D_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
CREMA_D_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")  # 1..12
# Copies of CREMA-D from before 2022 name one clip `1040_ITH_SAD_X` (since renamed `..._XX`).
CREMA_D_NAME = re.compile(rf"(\d{{4}})_({'|'.join(CREMA_D_SENTENCES)})_({'|'.join(CREMA_D_EMOTIONS)})_(LO|MD|HI|XX|X)")


def emodb(root: str | Path) -> list[EmotionUtterance]:
    """Every EMO-DB clip under `root` (e.g. its `wav/` folder or the folder holding it): speaker "03", sentence
    1..10 in the order of `EMODB_TEXTS`; boredom left out."""
    def parse(match: re.Match) -> tuple[str, str, int]:
        speaker, text, emotion = match.groups()
        return speaker, EMODB_EMOTIONS[emotion], EMODB_TEXTS.index(text) + 1

    return _labelled(root, "EMO-DB", EMODB_NAME, "SSTTTEv, e.g. 03a01Fa", parse)


def crema_d(root: str | Path) -> list[EmotionUtterance]:
    """Every CREMA-D clip under `root` (e.g. its `AudioWAV/` folder): speaker "1001", sentence 1..12 in the order
    of `CREMA_D_SENTENCES`, every intensity labelled as the category."""
    def parse(match: re.Match) -> tuple[str, str, int]:
        speaker, sentence, emotion, _ = match.groups()
        return speaker, CREMA_D_EMOTIONS[emotion], CREMA_D_SENTENCES.index(sentence) + 1

    return _labelled(root, "CREMA-D", CREMA_D_NAME, "AAAA_SSS_EEE_II, e.g. 1001_DFA_ANG_XX", parse)


def _labelled(root: str | Path, corpus: str, pattern: re.Pattern, scheme: str,
              parse: Callable[[re.Match], tuple[str, str, int]]) -> list[EmotionUtterance]:
    """The clips under `root` (`keras_cpc.datasets.emotion.named_clips`, its errors included) whose names `parse`
    gives a speaker, a category and a sentence, labelled with the category's point."""
    utterances, left_out = [], {}
    for file, match in named_clips(root, corpus, pattern, scheme):
        speaker, category, sentence = parse(match)
        if category not in CATEGORIES:
            left_out[category] = left_out.get(category, 0) + 1
            continue
        activation, valence, dominance = CATEGORIES[category]
        utterances.append(EmotionUtterance(str(file), speaker, activation, valence, dominance, category,
                                           sentence=sentence))
    for category, count in left_out.items():
        logger.warning("%s: %d %s clip(s) left out (RAVDESS's table has no point for %s)", root, count, category,
                       category)
    return utterances
