"""Streaming emotion recognition on LiteRT, without TensorFlow or Keras.

Reads a folder written by `python -m training.export`: `model.json`, `cpc_step.tflite` and
`head.tflite`. Audio is 16 kHz mono float32 in [-1, 1].
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_cpc.loudness import LevelNormalizer, frontend_settings
from keras_cpc.speaker_features import FeatureSettings, SpeakerFeatures, Statistics, frame_statistics
from keras_cpc.speech_frames import SpeechFrames, frame_powers, speech_frame_settings
from keras_cpc.suppression import NoiseSuppressor, SuppressionSettings, suppression_settings, without_rnnoise

logger = logging.getLogger("app.engine.streaming")
Recordings = Callable[[], Iterable[Iterable[np.ndarray]]]  # each call: a speaker's recordings, each as sample blocks


class Prediction(NamedTuple):
    """Emotion of the audio heard up to `time` seconds, on the labels' [-1, 1] scale (a model trained
    without `--bounded` can exceed it)."""

    time: float
    activation: float
    valence: float
    dominance: float


DIMENSIONS = Prediction._fields[1:]


class ModelError(ValueError):
    """An unusable model folder; the message names the file and the problem."""


REQUIRED = ("sample_rate", "hop_samples", "chunk_samples", "receptive_field", "frame_hop", "hop_frames",
            "window_frames", "state_size")  # positive integers in model.json


def read_config(model_dir: Path) -> dict:
    """`model.json` of a model folder, with each of the `REQUIRED` settings a positive integer, and the size of a
    feature frame, `feature_size`: a context and the MFCCs and pitch features the step model appends to it (`mfccs`,
    `pitch`, none if absent)."""
    path = model_dir / "model.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: cannot read the model description ({error})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path}: not a model description (a JSON object)")
    invalid = [key for key in REQUIRED if not (type(config.get(key)) is int and config[key] > 0)]
    if invalid:
        raise ModelError(f"{path}: missing or not a positive integer: {', '.join(invalid)} "
                         "(a folder written by an other version of training.export?)")
    hop, frame_hop, field = config["hop_samples"], config["frame_hop"], config["receptive_field"]
    if config["hop_frames"] * frame_hop != hop or config["chunk_samples"] != hop + field - frame_hop:
        raise ModelError(f"{path}: inconsistent framing: hop_frames x frame_hop must be hop_samples, and "
                         "chunk_samples hop_samples + receptive_field - frame_hop")
    appended = {key: config.setdefault(key, 0) for key in ("mfccs", "pitch")}
    for key, count in appended.items():
        if not (type(count) is int and count >= 0):
            raise ModelError(f"{path}: {key} {count!r} is not a number of appended features")
    config["feature_size"] = config["state_size"] + sum(appended.values())
    if config.get("outputs", list(DIMENSIONS)) != list(DIMENSIONS):  # keras_cpc.datasets.emotion.DIMENSIONS, exported
        raise ModelError(f"{path}: outputs {config['outputs']} are not the engine's {list(DIMENSIONS)}")
    return config


def signature_runner(path: Path, num_threads: int, inputs: dict[str, tuple[int, ...]]):
    """The signature runner of a LiteRT model whose inputs have the given shapes (from `model.json`)."""
    try:
        runner = Interpreter(model_path=str(path), num_threads=num_threads).get_signature_runner()
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelError(f"{path}: cannot load the LiteRT model ({error})") from None
    shapes = {name: tuple(int(n) for n in detail["shape"]) for name, detail in runner.get_input_details().items()}
    if shapes != inputs:
        raise ModelError(f"{path}: its inputs {shapes} are not those of model.json {inputs} "
                         "(files of two exports mixed?)")
    return runner


def interval_hops(interval: float | None, hop_seconds: float) -> int:
    """Hops between predictions: 1 for `None` (every hop), 0 for `math.inf` (only at `flush`). An
    interval that is not a positive multiple of the hop (NaN and negative ones included) is a `ValueError`."""
    if interval is None:
        return 1
    if interval == math.inf:
        return 0
    hops = round(interval / hop_seconds) if interval > 0 else 0
    if hops < 1 or abs(hops * hop_seconds - interval) > 1e-6:
        raise ValueError(f"interval {interval} s is not a positive multiple of the model's {hop_seconds} s hop")
    return hops


def available_suppressor(settings: SuppressionSettings | None, sample_rate: int, model_dir: Path
                         ) -> tuple[NoiseSuppressor | None, str | None]:
    """The noise suppressor `settings` ask for, as far as this platform's packages go, and the package missing, if
    any: without RNNoise's wheel, the levels below RNNoise's (`without_rnnoise`); without WebRTC's (Windows), none (the
    model as trained, without it)."""
    if settings is None:
        return None, None
    try:
        return NoiseSuppressor(settings, sample_rate), None
    except ImportError as error:
        logger.warning("%s: %s; running without it (estimates in steady noise are less reliable)", model_dir, error)
        if error.name == "pyrnnoise":
            return NoiseSuppressor(without_rnnoise(settings), sample_rate), error.name
        return None, error.name


class StreamingRecognizer:
    """Predicts (activation, valence, dominance) every `interval` of a live or file audio stream.

    `push` takes samples in chunks of any size. They pass the model's front end (`model.json`'s
    `frontend`: the causal noise suppression of `keras_cpc.suppression`, if any, then the level normalisation of
    `keras_cpc.loudness`, or none for older models), then every `hop_samples` new samples, the CPC
    step model turns the latest chunk (the hop plus the overlap its first frame needs) and
    the GRU state into `hop_frames` contexts, which are normalised per speaker if the model was
    trained so (`model.json`'s `features`: `keras_cpc.speaker_features`) and overwrite the
    oldest ones in a window of `window_frames`; with speech frames (`model.json`'s `frontend.speech_frames`:
    `keras_cpc.speech_frames`), only the contexts of frames that hold speech. Every `interval` (a whole number of
    hops; default one hop), the head predicts from the window's valid frames, oldest first as the Keras model
    reads a clip, once it holds one (a head that averages runs of frames depends on their order). The window is a
    ring buffer written twice, so that its frames in order are a slice. A hop costs one step-model run,
    independent of the window; a prediction, one head run over the window.

    Args:
        model_dir: folder of `model.json`, `cpc_step.tflite` and `head.tflite`.
        num_threads: LiteRT threads of each model (at least 1).
        interval: seconds between predictions, a multiple of the hop; `None` for every hop,
            `math.inf` for one prediction, at `flush`.
    """

    def __init__(self, model_dir: str | os.PathLike, num_threads: int = 1, interval: float | None = None):
        model_dir = Path(model_dir)
        self.config = read_config(model_dir)
        self.sample_rate = self.config["sample_rate"]
        self.interval = interval
        if num_threads < 1:
            raise ValueError(f"{num_threads} LiteRT threads: give at least 1")
        state, window, size = self.config["state_size"], self.config["window_frames"], self.config["feature_size"]
        self._step = signature_runner(model_dir / "cpc_step.tflite", num_threads,
                                      {"audio": (1, self.config["chunk_samples"]), "state": (1, state)})
        self._head = signature_runner(model_dir / "head.tflite", num_threads,
                                      {"features": (1, window, size), "lengths": (1,)})
        try:
            level = frontend_settings(self.config.get("frontend"))
            speech = speech_frame_settings(self.config.get("frontend"))
            suppression = suppression_settings(self.config.get("frontend"))
        except ValueError as error:
            raise ModelError(f"{model_dir / 'model.json'}: {error}") from None
        self.suppression = suppression  # what the model asks for; `suppressor` runs what this platform can of it
        self.suppressor, self.suppression_missing = available_suppressor(suppression, self.sample_rate, model_dir)
        self.level = LevelNormalizer(level, self.sample_rate) if level is not None else None
        self.speech = SpeechFrames(speech, self.config["frame_hop"], self.sample_rate) if speech is not None else None
        features = self.config.get("features")
        try:
            self.speaker_features = SpeakerFeatures(FeatureSettings(**features)) if features else None
        except (TypeError, ValueError) as error:
            raise ModelError(f"{model_dir / 'model.json'}: unusable features settings ({error})") from None
        self.reset()

    @property
    def hop_seconds(self) -> float:
        """Seconds of audio per step-model run: the shortest interval between predictions."""
        return self.config["hop_samples"] / self.sample_rate

    @property
    def interval(self) -> float:
        """Seconds between predictions, a multiple of `hop_seconds` (`math.inf`: only at `flush`); settable at any
        time, as in the constructor."""
        return self._interval_hops * self.hop_seconds or math.inf

    @interval.setter
    def interval(self, interval: float | None) -> None:
        self._interval_hops = interval_hops(interval, self.hop_seconds)

    @property
    def window_seconds(self) -> float:
        """Seconds of audio a full window of contexts hears: predictions from this time on see a full
        window, the latest this many seconds."""
        config = self.config
        return ((config["window_frames"] - 1) * config["frame_hop"] + config["receptive_field"]) / self.sample_rate

    @property
    def calibratable(self) -> bool:
        """Whether the model normalises anything a speaker's calibration sets (their level or their features)."""
        return self.level is not None or self.speaker_features is not None

    @property
    def calibrated_per_speaker(self) -> bool:
        """Whether the model was trained with each speaker calibrated (their level or their features)."""
        return self.speaker_features is not None or (self.level is not None and self.level.settings.per_speaker)

    @property
    def feature_calibration(self) -> str:
        """Which of a speaker's recordings their feature statistics come from in training: "all", or "neutral"
        (as the app's calibration reading); "all" for a model without per-speaker features
        (`keras_cpc.datasets.emotion.calibration_indices` picks them)."""
        return self.speaker_features.settings.calibration if self.speaker_features is not None else "all"

    def calibrate(self, level_dbfs: float | None, features: Statistics | None = None, neutral: bool = True,
                  feature_seconds: float | None = None) -> None:
        """Starts every stream at a speaker's speech level (`LevelNormalizer.calibrate`) and maps contexts with
        their feature statistics, of speech presumed `neutral` or not, fixed or (with `feature_seconds`) where the
        session's running statistics start (`SpeakerFeatures.calibrate`); `None` removes either. What the model
        does not normalise is ignored."""
        if self.level is not None:
            self.level.calibrate(level_dbfs)
        if self.speaker_features is not None:
            self.speaker_features.calibrate(features, neutral, feature_seconds)
        self.reset()

    def calibrate_speaker(self, recordings: Recordings, feature_recordings: Recordings | None = None,
                          neutral: bool = True) -> tuple[float | None, Statistics | None]:
        """Calibrates with recordings of one speaker, as training calibrates each speaker: the median of their
        speech levels, then the mean and variance of their contexts behind that level (of `feature_recordings`
        if given, e.g. the neutral ones for a model whose `feature_calibration` says so), presumed `neutral`
        speech or not (e.g. an acted corpus's every emotion); returns both (`None` for what the model does not
        normalise, or when no recording holds speech)."""
        level = None
        if self.level is not None:
            levels = [value for blocks in recordings() if (value := self._speech_level(blocks)) is not None]
            level = float(np.median(levels)) if levels else None
        self.calibrate(level)
        statistics = self._context_statistics((feature_recordings or recordings)()) \
            if self.speaker_features is not None else None
        self.calibrate(level, statistics, neutral)
        return level, statistics

    def _speech_level(self, blocks: Iterable[np.ndarray]) -> float | None:
        """A recording's speech level (dBFS) as the front end measures it, block by block, behind the noise
        suppression if the model has it (`None`: no speech)."""
        normalizer = LevelNormalizer(self.level.settings, self.sample_rate)
        if self.suppressor is not None:
            self.suppressor.reset()
        for block in blocks:
            normalizer.push(self.suppressor.push(block) if self.suppressor is not None else block)
        if self.suppressor is not None:
            normalizer.push(self.suppressor.flush())
        return normalizer.level_dbfs

    def _context_statistics(self, recordings: Iterable[Iterable[np.ndarray]]) -> Statistics | None:
        """Per-dimension mean and variance of the contexts of recordings, each streamed alone through the
        front end; `None` without a frame."""
        def contexts() -> Iterator[np.ndarray]:
            for blocks in recordings:
                self.reset()
                yield from self._recording_contexts(blocks)

        statistics = frame_statistics(contexts())
        self.reset()
        return statistics

    def reset(self, keep_speaker: bool = False) -> None:
        """Forgets all audio: the next sample starts a new stream (and a new level estimate); with `keep_speaker`,
        a new utterance of the same session: the speaker's level and feature statistics heard so far stay."""
        if self.level is not None and not keep_speaker:
            self.level.reset()
        if self.speaker_features is not None and not keep_speaker:
            self.speaker_features.reset()
        if self.speech is not None:
            self.speech.reset()
        if self.suppressor is not None:
            self.suppressor.reset()
        self._pending = np.zeros(0, np.float32)
        self._state = np.zeros((1, self.config["state_size"]), np.float32)
        self._window = np.zeros((2 * self.config["window_frames"], self.config["feature_size"]), np.float32)
        self._frames = 0  # in the window since the stream began
        self._heard = 0  # frames of the stream, speech or not
        self._predicted = 0  # frames heard at the last prediction

    def push(self, samples: np.ndarray) -> list[Prediction]:
        """Adds samples; returns one prediction per interval completed by them."""
        return self._add_hops(self._contexts(self._front_end(np.asarray(samples, np.float32).reshape(-1))))

    def flush(self, keep_speaker: bool = False) -> list[Prediction]:
        """Ends the stream: a last prediction from any frames not yet predicted from; then `reset` (with
        `keep_speaker`: the end of an utterance, the session goes on)."""
        predictions = self._add_hops(self._contexts(self._front_end_rest()))
        for contexts in self._last_contexts():
            self._add(contexts)
        if self._heard > self._predicted and self._frames:
            predictions.append(self._predict())
        self.reset(keep_speaker)
        return predictions

    def features(self) -> np.ndarray:
        """The contexts `(frames, feature_size)` in the window, oldest first (none after `flush`)."""
        return self._ordered()[:self._frames].copy()

    def _ordered(self) -> np.ndarray:
        """The window `(window_frames, feature_size)`, oldest frame first, zeros after the valid ones (a view)."""
        size = self.config["window_frames"]
        start = self._frames % size if self._frames > size else 0
        return self._window[start:start + size]

    def _front_end(self, samples: np.ndarray) -> np.ndarray:
        """Samples through the noise suppression and the level normalisation, if the model has them (the samples
        they have ready)."""
        samples = self.suppressor.push(samples) if self.suppressor is not None else samples
        return self.level.push(samples) if self.level is not None else samples

    def _front_end_rest(self) -> np.ndarray:
        """The samples the front end still holds at the end of a stream."""
        samples = self.suppressor.flush() if self.suppressor is not None else np.zeros(0, np.float32)
        return np.concatenate([self.level.push(samples), self.level.flush()]) if self.level is not None else samples

    def _contexts(self, samples: np.ndarray) -> Iterator[np.ndarray]:
        """Adds samples that went through the front end; yields the raw contexts `(frames, feature_size)` of
        every chunk they complete (`_step_contexts`), running the step model on it."""
        chunk, hop = self.config["chunk_samples"], self.config["hop_samples"]
        pending, start = np.concatenate([self._pending, samples]), 0
        while len(pending) - start >= chunk:
            yield self._step_contexts(pending[start:start + chunk])
            start += hop
        self._pending = pending[start:].copy()

    def _last_contexts(self) -> Iterator[np.ndarray]:
        """The contexts of the frames left in an incomplete last chunk (frames past the audio are dropped)."""
        field, frame_hop = self.config["receptive_field"], self.config["frame_hop"]
        frames = (len(self._pending) - field) // frame_hop + 1 if len(self._pending) >= field else 0
        if frames:
            chunk = np.zeros(self.config["chunk_samples"], np.float32)
            chunk[:len(self._pending)] = self._pending
            self._pending = np.zeros(0, np.float32)
            yield self._step_contexts(chunk, frames)

    def _recording_contexts(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The raw contexts of a whole recording given as sample blocks, streamed from the present state."""
        for block in blocks:
            yield from self._contexts(self._front_end(np.asarray(block, np.float32).reshape(-1)))
        yield from self._contexts(self._front_end_rest())
        yield from self._last_contexts()

    def _step_contexts(self, chunk: np.ndarray, frames: int | None = None) -> np.ndarray:
        """The step model's contexts of one chunk's first `frames` (all by default), from and to the GRU state;
        with speech frames, those of its frames that hold speech."""
        out = self._step(audio=chunk[None], state=self._state)
        self._state = out["state"]
        contexts = out["contexts"][0][:frames]
        self._heard += len(contexts)
        if self.speech is None:
            return contexts
        powers = frame_powers(chunk, len(contexts), self.config["receptive_field"], self.config["frame_hop"],
                              self.speech.settings.remove_dc)
        return contexts[self.speech.push(powers)]

    def _add_hops(self, hops: Iterable[np.ndarray]) -> list[Prediction]:
        """Adds each hop's contexts to the window; returns a prediction at every interval once it holds a frame."""
        predictions = []
        for contexts in hops:
            self._add(contexts)
            due = self._interval_hops and self._heard // self.config["hop_frames"] % self._interval_hops == 0
            if due and self._frames:
                predictions.append(self._predict())
        return predictions

    def _add(self, contexts: np.ndarray) -> None:
        """Writes contexts (normalised per speaker, if the model is) over the oldest ones in the window."""
        if self.speaker_features is not None:
            contexts = self.speaker_features.push(contexts)
        size = self.config["window_frames"]
        rows = (self._frames + np.arange(len(contexts))) % size
        self._window[rows] = self._window[rows + size] = contexts
        self._frames += len(contexts)

    def _predict(self) -> Prediction:
        """The head's prediction from the window's valid frames."""
        self._predicted = self._heard
        valid = np.array([min(self._frames, self.config["window_frames"])], np.int32)
        emotion = self._head(features=self._ordered()[None], lengths=valid)["emotion"][0]
        end = (self._heard - 1) * self.config["frame_hop"] + self.config["receptive_field"]
        return Prediction(end / self.sample_rate, *map(float, emotion))
