"""Streaming LiteRT models of a trained recognizer: `python -m training.export`.

Writes `cpc_step.tflite` (one hop of audio + GRU state -> contexts + state), `head.tflite`
(a window of contexts -> activation, valence, dominance) and `model.json` to `--out`, for
`app.engine.streaming`. `--recognizer` is an `EmotionRecognizer` (or their `RecognizerEnsemble`, or with
`--member` one of its members alone) with `--cpc` the CPC model whose contexts it was trained on, or an
`EndToEndRecognizer` alone. The exports are then checked
against the Keras model on the first usable `--representative` file (else a synthetic signal):
an unquantized export that differs by more than `FLOAT_TOLERANCE` is an error, and the
difference of any export is recorded as `check` in `model.json`. The files are written to
`<out>.partial/` and moved into `--out` only once checked, so a failed export leaves `--out` as
it was; an export already in `--out` is replaced only with `--overwrite`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
from pathlib import Path

import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
import numpy as np

from app.engine.streaming import StreamingRecognizer
from keras_cpc.audio import SAMPLE_RATE, AudioError, audio_files, load_audio
from keras_cpc.export import (
    QUANTIZATIONS,
    export_streaming,
    load_parts,
    stream_contexts,
    window_prediction,
)
from keras_cpc.features import file_digest
from keras_cpc.suppression import LEVELS, RNNOISE, STEADY_LEVELS, SuppressionSettings
from training import non_negative_int, run_cli

logger = logging.getLogger("training.export")
FLOAT_TOLERANCE = 1e-3  # unquantized exports agree to about 1e-5


class ExportError(ValueError):
    """An export not written: its folder holds one already, or the conversion is wrong; the message names it."""


def check_signal(representative: list[str], min_samples: int) -> tuple[str, np.ndarray]:
    """The audio the exports are checked on, and its name: the first representative file of at
    least `min_samples` that loads (as calibration, others are skipped), else 3 s of seeded noise
    with a syllable-rate envelope."""
    for path in audio_files(representative) if representative else []:
        try:
            return str(path), load_audio(path, min_samples=min_samples)
        except AudioError as error:
            logger.warning("the export check skips %s", error)
    time = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    noise = np.random.default_rng(0).normal(0, 0.1, len(time))
    return "3 s of synthetic noise", (noise * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * time))).astype(np.float32)


def largest_difference(out: str | os.PathLike, encoder, autoregressor, recognizer, audio: np.ndarray) -> float:
    """Largest difference between the exports' last prediction on `audio` (the app's streaming
    engine) and the Keras parts' on the same window of contexts."""
    stream = StreamingRecognizer(out, interval=math.inf)  # only the last prediction counts: the head runs once
    streamed = (stream.push(audio) + stream.flush())[-1][1:]
    contexts = stream_contexts(audio, encoder, autoregressor, stream.config["frontend"],
                               features=stream.config["features"], append=recognizer.appended_mfccs())
    expected = window_prediction(recognizer, contexts, stream.config["window_frames"])
    return float(np.abs(np.array(streamed) - expected).max())


def record_check(folder: Path, audio: str, difference: float) -> None:
    """Adds the export check to `folder`'s `model.json`: what it ran on and the largest difference."""
    path = folder / "model.json"
    config = json.loads(path.read_text())
    config["check"] = {"audio": audio, "largest_difference": difference}
    path.write_text(json.dumps(config, indent=2) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recognizer", required=True, help="recognizer.keras from training.finetune")
    parser.add_argument("--cpc", help="the CPC model (.keras) of an EmotionRecognizer's features")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--member", type=non_negative_int, metavar="INDEX",
                        help="export this member (from 0) of an ensemble (training.ensemble) alone: one head, for a "
                             "device whose budget does not hold them all")
    parser.add_argument("--overwrite", action="store_true", help="replace the export already in --out")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                        help="none; dynamic: int8 weights; int8: the head's dense layers in int8 (weights "
                             "and activations, calibrated on --representative), its attention and pooling in "
                             "float32, the CPC step model in float16 weights")
    parser.add_argument("--hop-seconds", type=float, default=0.1, help="audio per step and per prediction")
    parser.add_argument("--window-seconds", type=float, default=5.0,
                        help="context the head sees (5 s holds 99%% of RAVDESS utterances whole)")
    parser.add_argument("--representative", nargs="+", default=(), metavar="FILE_OR_DIR",
                        help="real speech to calibrate int8 quantization")
    parser.add_argument("--suppression", type=int, choices=LEVELS, metavar="LEVEL",
                        help="WebRTC noise suppression (keras_cpc.suppression) before the recognizer's front end, "
                             "from 1 (about 6 dB of steady noise removed) to 4 (21 dB), when its gate finds the "
                             "stream noisy; default: none")
    parser.add_argument("--suppression-always", action="store_true",
                        help="with --suppression: suppress every stream, without the gate")
    parser.add_argument("--suppression-steady", type=steady_level,
                        choices=STEADY_LEVELS, metavar="LEVEL",
                        help="with --suppression: this level, or rnnoise (a learned suppressor, keras_cpc.rnnoise), "
                             "instead where the gate finds the noise floor steady (a fan, a hiss; not babble); "
                             "default: the same level")
    parser.add_argument("--suppression-low-snr", type=steady_level, choices=STEADY_LEVELS, metavar="LEVEL",
                        help="with --suppression-steady: this level, or rnnoise, instead where the steady floor is "
                             "also close under the speech (the gate's SNR estimate below 20 dB: about 15 dB SNR of "
                             "white or pink noise); default: the steady level")
    parser.add_argument("--suppression-rnnoise-limit", type=float, metavar="DB",
                        help="with rnnoise as a level: remove at most DB dB (RNNoise's output mixed with the input "
                             "DB dB below it, so that the speech it distorts is partly restored); default: no limit")
    parser.add_argument("--model-version", help="version string (default: digest of the input models)")
    parser.add_argument("--training-data", default="unspecified", help="corpora the models were trained on")
    parser.add_argument("--licence", default="unspecified", help="licence of the exported models")
    return parser


def steady_level(value: str) -> int | str:
    """A `--suppression-steady` or `--suppression-low-snr` value: rnnoise, or a WebRTC level."""
    return value if value == RNNOISE else int(value)


def suppression(args: argparse.Namespace) -> SuppressionSettings | None:
    """The noise suppression the options ask for, if any."""
    if args.suppression is None:
        if (args.suppression_always or args.suppression_steady is not None or args.suppression_low_snr is not None
                or args.suppression_rnnoise_limit is not None):
            raise ValueError("--suppression-always, --suppression-steady, --suppression-low-snr and "
                             "--suppression-rnnoise-limit need --suppression LEVEL")
        return None
    ungated = {"gate_snr_db": None} if args.suppression_always else {}
    return SuppressionSettings(args.suppression, steady_level=args.suppression_steady,
                               low_snr_level=args.suppression_low_snr, rnnoise_limit_db=args.suppression_rnnoise_limit,
                               **ungated)


def export(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if (out / "model.json").exists() and not args.overwrite:
        raise ExportError(f"{out}: holds an export already (model.json); give --overwrite to replace it")
    settings = suppression(args)  # bad options fail before the models load
    representative = [str(f) for f in audio_files(args.representative)] if args.representative else []
    encoder, autoregressor, recognizer = load_parts(args.recognizer, args.cpc, args.member)
    version = args.model_version or "-".join(file_digest(p, 8) for p in (args.cpc, args.recognizer) if p)
    if args.member is not None:  # given or not, the version says which member
        version += f"-member{args.member}"
    partial = Path(f"{out.resolve()}.partial")
    shutil.rmtree(partial, ignore_errors=True)  # from an export that died
    config = export_streaming(partial, encoder, autoregressor, recognizer, args.hop_seconds,
                              args.window_seconds, args.quantize, representative, version,
                              args.training_data, args.licence, settings)
    name, audio = check_signal(representative, config.chunk_samples)
    difference = largest_difference(partial, encoder, autoregressor, recognizer, audio)
    if set(config.quantization.values()) == {"none"} and difference > FLOAT_TOLERANCE:
        shutil.rmtree(partial)
        raise ExportError(f"{out}: not written: the LiteRT models differ from the Keras model by {difference:.2e} "
                          f"on {name} (more than {FLOAT_TOLERANCE}): the conversion is wrong")
    record_check(partial, name, difference)
    out.mkdir(parents=True, exist_ok=True)
    for file in partial.iterdir():
        os.replace(file, out / file.name)
    partial.rmdir()
    logger.info("wrote %s: %d-sample chunks, %d-frame window, quantization %s", out,
                config.chunk_samples, config.window_frames, config.quantization)
    logger.info("the LiteRT models' last prediction on %s is within %.1e of the Keras model's", name, difference)


def main(argv: list[str] | None = None) -> None:
    run_cli(export, build_parser(), argv)


if __name__ == "__main__":
    main()
