"""Features normalised per speaker: a speaker's feature statistics mapped onto the training corpus's (NumPy only).

A channel (noise, a room, a microphone) and a voice shift every frame's features the same way, so
a recognizer fed raw features learns the recording and the voice as much as the emotion. Mapping
each speaker's per-dimension mean and variance onto the corpus's (`to_reference`) takes out what
is constant over their speech and keeps how each utterance differs from their usual speech.
Training maps every speaker with the statistics of all their utterances, or of their neutral ones only
(`calibration`: then a speaker's neutral speech is the reference, as the app's calibration reading of a
neutral text); the streaming engine does the same with `SpeakerFeatures`, calibrated from recordings of
the speaker or, without calibration,
from the running statistics of the session, which start at the reference's with the weight of
`prior_seconds` of frames (a session that has heard little is mapped little), or at a calibration's with the weight
it is given.

Statistics over all of a speaker's speech cannot tell a calm speaker from an angry one: mapped onto the
corpus's, every speaker's average speech looks like the corpus's average emotion, which for an acted corpus is
not neutral (RAVDESS: activation +0.23 on average, most categories being aroused ones). A model trained on
all-utterance statistics therefore records the `neutral` reference too: the mean and variance of its training
speakers' neutral utterances after their mapping. Speech presumed neutral on average (a calibration reading, a
session, a folder of someone's recordings) is mapped onto it, so that it reaches the head where neutral speech
did in training; a speaker's whole acted corpus (every emotion) onto the corpus's statistics, as in training.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

EPSILON = 1e-6  # added to variances by default, as keras_cpc.layers.Standardize does
Statistics = tuple[np.ndarray, np.ndarray]  # per-dimension mean and variance


def frame_statistics(chunks: Iterable[np.ndarray]) -> Statistics | None:
    """Per-dimension mean and variance over every frame of `(frames, dim)` chunks, from float64 sums (one chunk
    in memory at a time); `None` without a frame."""
    count, total, squares = 0, 0.0, 0.0
    for chunk in chunks:
        chunk = np.asarray(chunk, np.float64)
        count += len(chunk)
        total = total + chunk.sum(0)
        squares = squares + np.square(chunk).sum(0)
    if not count:
        return None
    mean = total / count
    return mean, np.maximum(squares / count - np.square(mean), 0.0)


def to_reference(frames: np.ndarray, speaker: Statistics, reference: Statistics, epsilon: float = EPSILON
                 ) -> np.ndarray:
    """`frames` (time, dim) of a speaker whose features have `speaker` statistics, moved so that they have
    the `reference` mean and variance: `ref_mean + (frames - mean) * sqrt((ref_var + e) / (var + e))`, `e` the
    standardisation's `epsilon` (a variance floor: dimensions below it are not amplified)."""
    (mean, variance), (ref_mean, ref_variance) = speaker, reference
    scale = np.sqrt((np.asarray(ref_variance, np.float64) + epsilon) / (np.asarray(variance, np.float64) + epsilon))
    return (ref_mean + (np.asarray(frames, np.float64) - mean) * scale).astype(np.float32)


@dataclass(frozen=True)
class FeatureSettings:
    """Per-speaker feature normalisation as `model.json` records it (`features`): the reference statistics
    (the training corpus's) and how much a session's running estimate trusts them."""

    mean: tuple[float, ...]
    variance: tuple[float, ...]
    frame_rate: float  # feature frames per second
    prior_seconds: float = 10.0  # weight of the reference in an uncalibrated session's estimate
    epsilon: float = EPSILON  # the standardisation's, added to every variance
    calibration: str = "all"  # a speaker's statistics come from all their speech, or their neutral speech only
    neutral_mean: tuple[float, ...] | None = None  # the training speakers' neutral speech after mapping, if
    neutral_variance: tuple[float, ...] | None = None  # calibration is "all" (else the reference is neutral)

    def reference(self, neutral: bool) -> Statistics:
        """The statistics a speaker's are mapped onto: of neutral speech if the speaker's are presumed neutral
        (and the model recorded them), else of the training corpus (a model trained on neutral calibrations
        records only those, which are its neutral speech's)."""
        if neutral and self.neutral_mean is not None:
            return np.asarray(self.neutral_mean, np.float64), np.asarray(self.neutral_variance, np.float64)
        return np.asarray(self.mean, np.float64), np.asarray(self.variance, np.float64)


class SpeakerFeatures:
    """Streaming per-speaker normalisation of feature frames: each frame of `push` is mapped with the
    statistics of the speaker heard so far, the frame itself included, so that a stream equals the
    whole recording pushed at once. `calibrate` fixes the speaker's
    statistics (e.g. from a reading, or all of a speaker's recordings) instead, or makes them where the running
    statistics start. A session and a calibration are presumed neutral speech (`FeatureSettings.reference`) unless
    `calibrate` says otherwise."""

    def __init__(self, settings: FeatureSettings):
        self.settings = settings
        self.reference = settings.reference(neutral=True)
        self._calibration: Statistics | None = None  # fixed statistics
        self._prior: tuple[Statistics, float] | None = None  # where running statistics start, and its seconds
        self.reset()

    def reset(self) -> None:
        """Forgets the frames heard: back to the running statistics' prior (the reference's, or a calibration's);
        a fixed calibration is kept."""
        (mean, variance), seconds = self._prior or (self.reference, self.settings.prior_seconds)
        weight = seconds * self.settings.frame_rate
        self._count = weight
        self._sum = mean * weight
        self._squares = (variance + np.square(mean)) * weight

    def calibrate(self, statistics: Statistics | None, neutral: bool = True, seconds: float | None = None) -> None:
        """Maps every frame with these speaker statistics from now on (`None`: back to running estimates), onto
        the neutral reference if they are of speech presumed `neutral`, else onto the corpus's; with `seconds`,
        the running statistics start from them instead, as if that much of such speech had been heard, and go on
        adapting (to a changed room or microphone, and to the session's speech). Statistics of another size than
        the features' are a `ValueError`, and so are `seconds` that are not positive."""
        size = len(self.settings.mean)
        if statistics is not None and any(np.shape(s) != (size,) for s in statistics):
            raise ValueError(f"speaker statistics of shapes {[np.shape(s) for s in statistics]} for features of "
                             f"{size} dimensions (measured with another model?)")
        if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"a calibration worth {seconds} s of speech: give a positive, finite number of seconds")
        statistics = None if statistics is None else (np.asarray(statistics[0], np.float64),
                                                      np.asarray(statistics[1], np.float64))
        self._calibration = statistics if seconds is None else None
        self._prior = None if statistics is None or seconds is None else (statistics, float(seconds))
        self.reference = self.settings.reference(neutral or statistics is None)
        self.reset()

    @property
    def statistics(self) -> Statistics:
        """The speaker statistics frames are mapped with now."""
        if self._calibration is not None:
            return self._calibration
        mean = self._sum / self._count
        return mean, np.maximum(self._squares / self._count - np.square(mean), 0.0)

    def push(self, frames: np.ndarray) -> np.ndarray:
        """Maps `frames` (time, dim), each with the statistics that include it."""
        frames = np.asarray(frames, np.float64)
        if self._calibration is not None:
            return to_reference(frames, self._calibration, self.reference, self.settings.epsilon)
        counts = self._count + np.arange(1, len(frames) + 1)[:, None]
        means = (self._sum + np.cumsum(frames, axis=0)) / counts
        variances = np.maximum((self._squares + np.cumsum(np.square(frames), axis=0)) / counts - np.square(means), 0)
        self._count, self._sum, self._squares = counts[-1, 0] if len(frames) else self._count, \
            self._sum + frames.sum(0), self._squares + np.square(frames).sum(0)
        return to_reference(frames, (means, variances), self.reference, self.settings.epsilon)
