"""The evaluation protocol of the emotion corpora: which utterances train, validate and test.

`read_corpus` reads a corpus by name; `split` gives one fold's training, validation and test
utterances (speaker-independent: no speaker is in two of them); `scores_by_sentence` scores the
cross-sentence protocol's test utterances sentence by sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter

import numpy as np

from keras_cpc.datasets.acted import crema_d, emodb
from keras_cpc.datasets.csv_corpus import csv_corpus
from keras_cpc.datasets.emotion import DIMENSIONS, EmotionUtterance, Fold, folds_by_speaker, labels
from keras_cpc.datasets.iemocap import iemocap, iemocap_folds
from keras_cpc.datasets.msp_podcast import msp_podcast, msp_podcast_split
from keras_cpc.datasets.ravdess import ravdess
from keras_cpc.datasets.sources import hold_out_speakers
from keras_cpc.metrics.ccc import ccc

READERS: dict[str, Callable[[str], list[EmotionUtterance]]] = {
    "ravdess": ravdess, "iemocap": iemocap, "msp-podcast": msp_podcast, "emodb": emodb, "crema-d": crema_d,
    "csv": csv_corpus}
CORPORA = tuple(READERS)
FOLDS = 4  # speaker-independent folds of a corpus without sessions or an official split
VALIDATION_FRACTION = 0.2  # of a fold's training speakers, held out for validation


class SplitError(ValueError):
    """A split the corpus does not have: a fold out of range, the sentence protocol without sentences."""


def read_corpus(corpus: str, root: str) -> list[EmotionUtterance]:
    """The utterances of corpus `corpus` (one of `CORPORA`) under `root` (for "csv", the CSV file)."""
    return READERS[corpus](root)


def speaker_folds(corpus: str, utterances: Sequence[EmotionUtterance], folds: int) -> list[Fold]:
    """The speaker-independent folds of a cross-validated corpus: one per IEMOCAP session found,
    `folds` by actor otherwise."""
    return iemocap_folds(utterances) if corpus == "iemocap" else folds_by_speaker(utterances, folds)


def fold_count(corpus: str, utterances: Sequence[EmotionUtterance], folds: int) -> int:
    """How many folds `split` takes: 1 for MSP-Podcast's official split."""
    return 1 if corpus == "msp-podcast" else len(speaker_folds(corpus, utterances, folds))


def split(corpus: str, utterances: Sequence[EmotionUtterance], fold: int, folds: int,
          validation_fraction: float, seed: int, train_sentence: int | None = None) -> tuple[list, list, list]:
    """Training, validation and test utterances of one fold; no speaker is in two of them.

    MSP-Podcast uses its official Train / Development / Test1 sets; the other corpora hold out
    validation speakers from the fold's training speakers (IEMOCAP: a whole session). With
    `train_sentence`, training and validation keep that sentence's utterances only. A fold the
    corpus does not have is a `SplitError` naming it and the count.
    """
    if train_sentence is not None:
        if all(u.sentence is None for u in utterances):
            raise SplitError(f"{corpus} has no fixed sentences: --train-sentence is for a corpus of fixed sentences "
                             "(RAVDESS, EMO-DB, CREMA-D, a CSV corpus with a sentence column)")
        train, validation, test = split(corpus, utterances, fold, folds, validation_fraction, seed)
        return [u for u in train if u.sentence == train_sentence], \
            [u for u in validation if u.sentence == train_sentence], test
    if corpus == "msp-podcast":
        sets = msp_podcast_split(utterances)
        return sets["train"], sets["development"], sets["test1"]
    all_folds = speaker_folds(corpus, utterances, folds)
    if not 0 <= fold < len(all_folds):
        raise SplitError(f"fold {fold} is not one of the {len(all_folds)} folds (0 to {len(all_folds) - 1})")
    train, test = all_folds[fold]
    # IEMOCAP's two speakers of a session share its dialogs (and each other's voice in the background)
    group = (lambda u: f"Session{u.session}") if corpus == "iemocap" else attrgetter("speaker")
    train, validation = hold_out_speakers(train, validation_fraction, seed, group)
    return train, validation, test


def scores_by_sentence(test: Sequence[EmotionUtterance], predicted: np.ndarray) -> dict[str, dict[str, float]]:
    """CCC per dimension over the test utterances of each sentence apart."""
    truth, sentences = labels(test), np.array([u.sentence for u in test])
    scores = {sentence: ccc(truth[sentences == sentence], predicted[sentences == sentence])
              for sentence in sorted(set(sentences))}
    return {str(sentence): dict(zip(DIMENSIONS, map(float, score))) for sentence, score in scores.items()}
