"""LiteRT export for streaming: a CPC step model (audio chunk + GRU state) and the emotion head.

`cpc_step.tflite` maps one chunk of `chunk_samples` samples and the GRU state to the
`hop_frames` context frames of one hop (with `mfccs` MFCCs and `pitch` pitch features appended to each, if the
recognizer takes them) and the
new state: consecutive chunks overlap by
`receptive_field - frame_hop` samples, so they give exactly the frames of the whole
utterance. `head.tflite` maps a window of `window_frames` contexts and the number of valid
ones to (activation, valence, dominance). Both have static shapes and builtin ops only.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.python.convert import mlir_quantize  # TF's selective quantizer (not public API)

from keras_cpc.audio import SAMPLE_RATE, AudioError, audio_files, load_audio
from keras_cpc.datasets.emotion import DIMENSIONS
from keras_cpc.layers import AppendMFCC, ConvEncoder
from keras_cpc.loudness import apply_frontend
from keras_cpc.models import CPC, EmotionRecognizer, EndToEndRecognizer, RecognizerEnsemble, load_model_file
from keras_cpc.models.ensemble import Recognizer, ensemble_member, feature_width, first_member
from keras_cpc.speaker_features import FeatureSettings, SpeakerFeatures, Statistics
from keras_cpc.speech_frames import speech_frame_settings, speech_mask
from keras_cpc.suppression import SuppressionSettings, suppression_config

T = TypeVar("T")
QUANTIZATIONS = ("none", "dynamic", "int8")
REPRESENTATIVE_SAMPLES = 200
# Head ops kept in float32 by int8 quantization, leaving int8 to its fully connected layers. In
# int8, the attention logits (masked with -1e9) and the mean/std pooling over the window moved
# RAVDESS predictions by up to 1.5 (CCC of activation -0.22); the attention matmuls alone, by 0.1.
# The step model keeps float32 activations and float16 weights even in int8 mode. Its errors feed
# back through the GRU state and are amplified up to 25x by the standardisation of low-variance
# feature dimensions: on the shipped model's held-out actors, fully int8 cost 0.16 CCC of
# dominance and int8 weights alone 0.05 of valence; float16 weights cost nothing measurable. A variance
# floor (`--variance-floor 0.05`) caps that amplification: the model shipped since 2026-12-04 loses at
# most 0.005 CCC with int8 weights everywhere (`dynamic`), which it ships with (benchmarks/README.md).
HEAD_FLOAT_OPS = ("ADD", "BATCH_MATMUL", "CONCATENATION", "DIV", "MAXIMUM", "MUL", "SELECT_V2", "SOFTMAX",
                  "SQRT", "SQUARE", "SUB", "SUM", "TANH")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamingConfig:
    """Sizes and provenance written to `model.json`; the streaming app reads nothing else."""

    sample_rate: int
    hop_samples: int
    chunk_samples: int
    receptive_field: int
    frame_hop: int
    hop_frames: int
    window_frames: int
    state_size: int
    mfccs: int  # appended to each context by the step model (`keras_cpc.layers.AppendMFCC`; 0: none)
    mfcc_band: tuple[float, float] | None  # their mel filters' band in Hz (None: none appended)
    pitch: int  # pitch features appended after the MFCCs (`keras_cpc.layers.Pitch`; 0: none)
    outputs: tuple[str, ...]
    output_scale: tuple[float, float]
    frontend: dict  # what the audio goes through before the step model (keras_cpc.loudness.frontend_config,
    # keras_cpc.speech_frames.speech_frame_config, keras_cpc.suppression.suppression_config)
    features: dict  # per-speaker normalisation of the contexts (keras_cpc.speaker_features.FeatureSettings), or {}
    quantization: dict[str, str]  # applied per model: none, dynamic or int8
    float_ops: dict[str, tuple[str, ...]]  # ops of each int8 model that compute in float32
    int8_weight_ops: dict[str, tuple[str, ...]]  # ops of each model whose weights are stored as int8
    model_version: str
    training_data: str
    licence: str

    @property
    def feature_size(self) -> int:
        """Dimensions of a feature frame: a context and what the step model appends to it."""
        return self.state_size + self.mfccs + self.pitch


def load_parts(recognizer_path: str | os.PathLike, cpc_path: str | os.PathLike | None = None,
               member: int | None = None):
    """`(encoder, autoregressor, recognizer)` of a CPC + `EmotionRecognizer` (or their `RecognizerEnsemble`, or its
    `member` alone) or of an `EndToEndRecognizer`."""
    recognizer = load_model_file(recognizer_path, EmotionRecognizer, RecognizerEnsemble, EndToEndRecognizer)
    recognizer = ensemble_member(recognizer, member, recognizer_path)
    if isinstance(recognizer, EndToEndRecognizer):
        if cpc_path is not None:
            raise ValueError(f"{recognizer_path}: an EndToEndRecognizer has its own encoder and GRU; "
                             "drop --cpc")
        return recognizer.encoder, recognizer.autoregressor, recognizer.recognizer
    if cpc_path is None:
        raise ValueError(f"{recognizer_path}: an EmotionRecognizer on CPC features needs --cpc")
    cpc = load_model_file(cpc_path, CPC)
    expected = feature_width(recognizer)
    appended = append.width if (append := recognizer.appended_mfccs()) else 0
    if expected != cpc.context_units + appended:
        raise ValueError(f"{recognizer_path} takes {expected}-dimensional features but {cpc_path} gives "
                         f"{cpc.context_units}" + (f" and {append.coefficients} MFCCs" if append else "")
                         + (f" and {append.pitch_features} pitch features" if append and append.pitch_features else ""))
    return cpc.encoder, cpc.autoregressor, recognizer


def step_model(encoder: ConvEncoder, autoregressor: keras.layers.GRU, chunk_samples: int,
               append: AppendMFCC | None = None) -> keras.Model:
    """`{"audio": (1, chunk_samples), "state": (1, units)}` -> `{"contexts": (1, frames, units [+ appended]),
    "state"}`.

    Shares the trained encoder; the GRU is a copy that takes and returns its state, unrolled
    over the chunk's frames so that the converter needs no loop; `append` appends the chunk's MFCCs (and pitch
    features) to each context (the recognizer's `appended_mfccs`), if given.
    """
    units = autoregressor.units
    audio = keras.Input((chunk_samples,), batch_size=1, name="audio")
    state = keras.Input((units,), batch_size=1, name="state")
    gru = keras.layers.GRU.from_config(
        {**autoregressor.get_config(), "return_sequences": True, "return_state": True, "unroll": True,
         "name": "step_gru"})
    contexts, new_state = gru(encoder(audio), initial_state=state)
    gru.set_weights(autoregressor.get_weights())
    if append:
        contexts = append(contexts, audio)
    return keras.Model({"audio": audio, "state": state}, {"contexts": contexts, "state": new_state},
                       name="cpc_step")


def feature_settings(recognizer: Recognizer, frame_hop: int) -> dict:
    """`model.json`'s `features`: a recognizer trained on features normalised per speaker maps each speaker onto
    its standardisation's statistics, or speech presumed neutral onto its neutral statistics if it has them
    (`keras_cpc.speaker_features`); `{}` for one that was not."""
    if not getattr(recognizer, "speaker_features", False):
        return {}
    recognizer = first_member(recognizer)
    mean, variance = (keras.ops.convert_to_numpy(w).astype(float).tolist()
                      for w in (recognizer.standardization.mean, recognizer.standardization.variance))
    neutral_mean, neutral_variance = recognizer.neutral_statistics or (None, None)
    return asdict(FeatureSettings(mean=mean, variance=variance, frame_rate=SAMPLE_RATE / frame_hop,
                                  epsilon=recognizer.standardization.epsilon,
                                  calibration=recognizer.speaker_calibration, neutral_mean=neutral_mean,
                                  neutral_variance=neutral_variance))


def head_model(recognizer: Recognizer, window_frames: int, feature_dim: int) -> keras.Model:
    """`{"features": (1, window_frames, feature_dim), "lengths": (1,) int32}` -> `{"emotion": (1, 3)}`."""
    features = keras.Input((window_frames, feature_dim), batch_size=1, name="features")
    lengths = keras.Input((), batch_size=1, dtype="int32", name="lengths")
    emotion = recognizer({"features": features, "lengths": lengths})
    return keras.Model({"features": features, "lengths": lengths}, {"emotion": emotion}, name="head")


def stream_contexts(audio: np.ndarray, encoder: ConvEncoder, autoregressor: keras.layers.GRU,
                    frontend: dict | None, calibration: float | None = None, features: dict | None = None,
                    speaker: Statistics | None = None, append: AppendMFCC | None = None) -> np.ndarray:
    """`(1, frames, units [+ appended])` contexts of a whole waveform as the streaming engine computes them: through
    the model's front end (calibrated with a speaker's level, if given), CPC's encoder and GRU (and the MFCCs
    that `append` appends, if given), those of
    frames that hold speech if the front end says so (`keras_cpc.speech_frames`), then the per-speaker
    normalisation of `features` (`model.json`'s; with the `speaker` statistics, if given)."""
    waveform = apply_frontend(audio, frontend, calibration=calibration)
    contexts = autoregressor(encoder(waveform[None]))
    contexts = keras.ops.convert_to_numpy(append(contexts, waveform[None]) if append else contexts)
    if (speech := speech_frame_settings(frontend)) is not None:
        frames = contexts.shape[1]
        contexts = contexts[:, speech_mask(waveform, frames, encoder.receptive_field, encoder.hop_length, speech)]
    if not features:
        return contexts
    normalizer = SpeakerFeatures(FeatureSettings(**features))
    normalizer.calibrate(speaker)
    return normalizer.push(contexts[0])[None]


def window_prediction(recognizer: keras.Model, contexts: np.ndarray, window_frames: int) -> np.ndarray:
    """The Keras head's (activation, valence, dominance) on the last `window_frames` frames of
    `contexts` (1, frames, dims): what a stream's last prediction sees."""
    window = contexts[:, -window_frames:]
    lengths = np.array([window.shape[1]], np.int32)
    return keras.ops.convert_to_numpy(recognizer({"features": window, "lengths": lengths}))[0]


def representative_windows(files: Sequence[Path], encoder: ConvEncoder, autoregressor: keras.layers.GRU,
                           config: StreamingConfig, append: AppendMFCC | None = None) -> list[dict]:
    """Calibration inputs of the head: `REPRESENTATIVE_SAMPLES` windows of contexts drawn uniformly
    from those a stream of each real file meets, holding no more than that many at a time."""
    windows = reservoir_sample(context_windows(files, encoder, autoregressor, config, append), REPRESENTATIVE_SAMPLES)
    if not windows:
        raise ValueError(f"no usable calibration audio in {', '.join(map(str, files))}")
    return windows


def context_windows(files: Sequence[Path], encoder: ConvEncoder, autoregressor: keras.layers.GRU,
                    config: StreamingConfig, append: AppendMFCC | None = None) -> Iterator[dict]:
    """The head's input at every hop of a stream of each file (a file that does not load is skipped)."""
    for path in files:
        try:
            audio = load_audio(path, min_samples=config.chunk_samples)
        except AudioError as error:
            logger.warning("calibration skips %s", error)
            continue
        contexts = stream_contexts(audio, encoder, autoregressor, config.frontend, features=config.features,
                                   append=append)[0]
        for hop in range(len(contexts) // config.hop_frames):
            end = (hop + 1) * config.hop_frames
            window = np.zeros((config.window_frames, config.feature_size), np.float32)
            valid = contexts[max(0, end - config.window_frames):end]
            window[:len(valid)] = valid
            yield {"features": window[None], "lengths": np.array([len(valid)], np.int32)}


def reservoir_sample(items: Iterable[T], size: int, seed: int = 0) -> list[T]:
    """`size` items drawn uniformly without replacement from a stream of any length, holding at
    most `size` of them at a time (reservoir sampling, Vitter's algorithm R); all if fewer."""
    rng = np.random.default_rng(seed)
    sample: list[T] = []
    for seen, item in enumerate(items):
        if seen < size:
            sample.append(item)
        elif (slot := rng.integers(seen + 1)) < size:
            sample[slot] = item
    return sample


def _ops_and_dtypes(path: Path) -> tuple[list[dict], dict[int, type]]:
    """The ops of a LiteRT model (name, input and output tensor indices) and the dtype of each tensor."""
    interpreter = Interpreter(model_path=str(path))
    return interpreter._get_ops_details(), {tensor["index"]: tensor["dtype"]
                                            for tensor in interpreter.get_tensor_details()}


def float_op_names(path: Path) -> tuple[str, ...]:
    """Names of the ops of a LiteRT model that compute in float32 (not counting `DEQUANTIZE`)."""
    ops, dtypes = _ops_and_dtypes(path)
    return tuple(sorted({op["op_name"] for op in ops
                         if op["op_name"] != "DEQUANTIZE" and any(dtypes[i] == np.float32 for i in op["outputs"])}))


def int8_weight_op_names(path: Path) -> tuple[str, ...]:
    """Names of the ops of a LiteRT model with int8 weights: an int8 input that no op computes."""
    ops, dtypes = _ops_and_dtypes(path)
    computed = {index for op in ops for index in op["outputs"]}
    return tuple(sorted({op["op_name"] for op in ops
                         if any(i >= 0 and i not in computed and dtypes[i] == np.int8 for i in op["inputs"])}))


def convert(model: keras.Model, path: Path, quantize: str, calibration: Sequence[dict] | None,
            keep_float: Sequence[str] = ()) -> str:
    """Writes `model` as LiteRT builtin ops only; returns the quantization applied.

    `float16` stores weights as float16 (computed in float32); `dynamic` stores weights as
    int8; `int8` quantizes weights and activations with the `calibration` inputs (float32
    inputs and outputs kept), except the ops named in `keep_float`, and falls back to
    `dynamic` when the quantizer fails.
    """
    signature = [{name: tf.TensorSpec(tensor.shape, tensor.dtype, name=name)
                  for name, tensor in model.input.items()}]
    options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize != "none":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        options["target_spec"]["supported_types"] = [tf.float16]
        model.export(str(path), format="litert", input_signature=signature, verbose=False, **options)
        return "float16"
    if quantize == "int8":
        try:  # calibrate, then quantize all but `keep_float` (what QuantizationDebugger does)
            model.export(str(path), format="litert", input_signature=signature, verbose=False, **options,
                         representative_dataset=lambda: iter(calibration), _experimental_calibrate_only=True)
            path.write_bytes(mlir_quantize(path.read_bytes(), denylisted_ops=list(keep_float)))
            return "int8"
        except Exception as error:  # the converter raises ConverterError and others
            logger.warning("%s: int8 quantization failed (%s); using dynamic-range quantization",
                           path.name, str(error).splitlines()[0])
    model.export(str(path), format="litert", input_signature=signature, verbose=False, **options)
    return "none" if quantize == "none" else "dynamic"


def export_streaming(
    out: str | os.PathLike,
    encoder: ConvEncoder,
    autoregressor: keras.layers.GRU,
    recognizer: Recognizer,
    hop_seconds: float = 0.1,
    window_seconds: float = 5.0,
    quantize: str = "none",
    representative: Sequence[str | os.PathLike] = (),
    model_version: str = "unversioned",
    training_data: str = "unspecified",
    licence: str = "unspecified",
    suppression: SuppressionSettings | None = None,
) -> StreamingConfig:
    """Writes `cpc_step.tflite`, `head.tflite` and `model.json` to `out`; returns the config. The front end is the
    recognizer's, with `suppression` in it if given (a stage before the level normalisation that the engine runs and
    training did not need)."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize {quantize!r} is not one of {QUANTIZATIONS}")
    field, frame_hop = encoder.receptive_field, encoder.hop_length
    hop_samples = round(hop_seconds * SAMPLE_RATE)
    if hop_samples <= 0 or hop_samples % frame_hop:
        raise ValueError(f"hop of {hop_seconds} s = {hop_samples} samples is not a positive multiple of the "
                         f"encoder's {frame_hop}-sample frame hop")
    window_frames = round(window_seconds * SAMPLE_RATE / frame_hop)
    if window_frames <= 0:
        raise ValueError(f"window of {window_seconds} s holds no frame")
    if quantize == "int8" and not representative:
        raise ValueError("int8 quantization needs real audio for calibration (--representative)")
    files = audio_files(representative) if quantize == "int8" else []
    if append := recognizer.appended_mfccs():
        append.check_alignment(field, frame_hop)
    config = StreamingConfig(
        sample_rate=SAMPLE_RATE, hop_samples=hop_samples, chunk_samples=hop_samples + field - frame_hop,
        receptive_field=field, frame_hop=frame_hop, hop_frames=hop_samples // frame_hop,
        window_frames=window_frames, state_size=autoregressor.units, mfccs=recognizer.mfccs,
        mfcc_band=append.mfcc.band if append else None, pitch=append.pitch_features if append else 0,
        outputs=DIMENSIONS,
        output_scale=(-1.0, 1.0), frontend=recognizer.frontend | suppression_config(suppression),
        features=feature_settings(recognizer, frame_hop),
        quantization={}, float_ops={}, int8_weight_ops={},
        model_version=model_version, training_data=training_data, licence=licence)
    windows = representative_windows(files, encoder, autoregressor, config, append) if files else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    applied = {
        "cpc_step": convert(step_model(encoder, autoregressor, config.chunk_samples, append),
                            out / "cpc_step.tflite",
                            "float16" if quantize == "int8" else quantize, None),
        "head": convert(head_model(recognizer, window_frames, config.feature_size), out / "head.tflite",
                        quantize, windows, HEAD_FLOAT_OPS),
    }
    config = replace(config, quantization=applied, float_ops={
        name: float_op_names(out / f"{name}.tflite") for name, kind in applied.items() if kind == "int8"},
        int8_weight_ops={name: ops for name in applied if (ops := int8_weight_op_names(out / f"{name}.tflite"))})
    (out / "model.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    return config
