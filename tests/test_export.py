"""Tests of the LiteRT export, the streaming recognizer and the file analyzer (tiny models)."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.python import schema_py_generated as schema

from app import analyze
from app.engine import analysis
from app.engine.streaming import StreamingRecognizer, available_suppressor
from keras_cpc.audio import load_audio
from keras_cpc.export import convert, reservoir_sample, step_model
from keras_cpc.features import cpc_extractor
from keras_cpc.layers import MFCC, AppendMFCC, Pitch
from keras_cpc.datasets import EmotionUtterance
from keras_cpc.loudness import (LevelSettings, frontend_config, normalize_level, speaker_level,
                               speech_level)
from keras_cpc.datasets.emotion import DIMENSIONS
from keras_cpc.models import CPC, EmotionRecognizer, EndToEndRecognizer, ensemble_of
from keras_cpc.speaker_features import FeatureSettings, to_reference
from keras_cpc.speech_frames import SpeechFrameSettings, speech_frame_config, speech_mask
from keras_cpc.suppression import RNNOISE, SuppressionSettings, suppress_noise
from training import export, heldout, linear_baseline, robustness

REPO = Path(__file__).resolve().parents[1]
UNITS = 16
HEAD = dict(num_heads=2, attention_dim=8, hidden_units=(8, 8))
WINDOW_SECONDS = 0.5  # 50 frames: the 3 s clip overfills the ring buffer
BUILTINS = {name for name in dir(schema.BuiltinOperator) if name.isupper()} - {"CUSTOM", "DELEGATE", "WHILE"}


def _randomize(model: keras.Model, seed: int) -> None:
    """Weights large enough that outputs vary well beyond the 1e-4 tolerance (fresh heads give ~1e-4)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        scale = 1 / np.sqrt(np.prod(shape[:-1])) if len(shape) > 1 else 0.1
        weight.assign(rng.normal(0, scale, shape).astype(np.float32))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny random CPC + recognizer (bounded, behind the level normalisation, as `training.finetune` trains
    them) saved as .keras, exported without quantization."""
    root = tmp_path_factory.mktemp("export")
    cpc = CPC(encoder_channels=8, context_units=UNITS)
    cpc.build((None, None))
    recognizer = EmotionRecognizer(**HEAD, bounded=True, frontend=frontend_config(LevelSettings(per_speaker=True)))
    recognizer.build({"features": (None, None, UNITS), "lengths": (None,)})
    _randomize(cpc, 0)
    _randomize(recognizer, 1)
    cpc.save(root / "cpc.keras")
    recognizer.save(root / "recognizer.keras")
    export.main(["--cpc", str(root / "cpc.keras"), "--recognizer", str(root / "recognizer.keras"),
                 "--out", str(root / "float"), "--window-seconds", str(WINDOW_SECONDS)])
    return cpc, recognizer, root / "float"


@pytest.fixture(scope="module")
def audio(speech_clip):
    return speech_clip[:48000]  # 3 s: 298 frames, 29 full hops and 8 frames left for flush


def _contexts(cpc: CPC, audio: np.ndarray, calibration: float | None = None) -> np.ndarray:
    """The contexts of the audio after the front end (the exported models' level normalisation)."""
    return keras.ops.convert_to_numpy(cpc.context(normalize_level(audio, calibration=calibration)[None]))[0]


def _recognize(recognizer, windows, lengths) -> np.ndarray:
    inputs = {"features": windows, "lengths": np.asarray(lengths, np.int32)}
    return keras.ops.convert_to_numpy(recognizer(inputs))


def test_model_json_sizes_come_from_the_models(models):
    assert sorted(f.name for f in models[2].iterdir()) == ["cpc_step.tflite", "head.tflite", "model.json"]
    assert not models[2].with_name("float.partial").exists()  # checked, then moved into --out
    config = json.loads((models[2] / "model.json").read_text())
    assert config["hop_samples"] == 1600 and config["chunk_samples"] == 1600 + 425 - 160
    assert config["hop_frames"] == 10 and config["window_frames"] == 50 and config["state_size"] == UNITS
    assert config["outputs"] == ["activation", "valence", "dominance"] and config["output_scale"] == [-1, 1]
    assert config["quantization"] == {"cpc_step": "none", "head": "none"} and config["float_ops"] == {}
    assert config["int8_weight_ops"] == {}
    assert config["check"]["audio"] == "3 s of synthetic noise" and 0 <= config["check"]["largest_difference"] < 1e-4


def _export(recognizer: keras.Model, root: Path, name: str) -> Path:
    """Saves `recognizer` as `root/<name>_recognizer.keras`, exports it in float beside `root/cpc.keras` to
    `root/<name>` and returns that folder."""
    recognizer.save(root / f"{name}_recognizer.keras")
    export.main(["--cpc", str(root / "cpc.keras"), "--recognizer", str(root / f"{name}_recognizer.keras"),
                 "--out", str(root / name), "--window-seconds", str(WINDOW_SECONDS)])
    return root / name


def _ops(path) -> set[str]:
    return {op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details()}


def test_float_models_use_builtin_ops_only(models):
    for name in ("cpc_step.tflite", "head.tflite"):
        ops = _ops(models[2] / name)
        assert ops <= BUILTINS, f"{name}: non-builtin ops {ops - BUILTINS}"


def test_the_export_check_tells_its_model_from_another(models, audio):
    cpc, recognizer, folder = models
    other = EmotionRecognizer(**HEAD)
    other.build({"features": (None, None, UNITS), "lengths": (None,)})
    _randomize(other, 2)
    name, synthetic = export.check_signal([], 1865)
    assert name == "3 s of synthetic noise" and synthetic.shape == (48000,) and synthetic.dtype == np.float32
    for signal in (audio, synthetic):
        assert export.largest_difference(folder, cpc.encoder, cpc.autoregressor, recognizer, signal) < 1e-4
        assert export.largest_difference(folder, cpc.encoder, cpc.autoregressor, other, signal) > 1e-2


def test_heldout_scores_keras_on_the_whole_clip_and_on_its_last_window(models, audio, tmp_path):
    cpc, recognizer, folder = models
    soundfile.write(tmp_path / "clip.wav", audio, 16000)
    level = speech_level(audio)  # its speaker's level: the median over their one clip
    contexts = _contexts(cpc, audio, level)  # 298 frames
    clip = EmotionUtterance(str(tmp_path / "clip.wav"), "Actor_99", 0.0, 0.0, 0.0, "neutral")
    whole, window = heldout.keras_predictions(str(folder.parent / "recognizer.keras"),
                                              str(folder.parent / "cpc.keras"), [clip], 50, {})
    assert np.abs(_contexts(cpc, audio) - contexts).max() > 1e-3  # the calibration matters
    last = np.concatenate([contexts[-50:], np.zeros((248, UNITS), np.float32)])  # padded after the 50 frames
    expected = _recognize(recognizer, np.stack([contexts, last]), [298, 50])
    np.testing.assert_allclose(np.concatenate([whole, window]), expected, atol=1e-5)
    assert np.abs(whole - window).max() > 1e-3


def test_the_export_check_takes_the_first_representative_file_that_loads(audio, tmp_path):
    (tmp_path / "a_corrupt.wav").write_bytes(b"RIFF" + bytes(100))
    soundfile.write(tmp_path / "b_short.wav", audio[:1000], 16000)  # shorter than one chunk
    soundfile.write(tmp_path / "c_speech.wav", audio, 16000)
    name, signal = export.check_signal([str(tmp_path)], 1865)
    assert name == str(tmp_path / "c_speech.wav") and len(signal) == len(audio)
    assert export.check_signal([str(tmp_path / "b_short.wav")], 1865)[0] == "3 s of synthetic noise"


def _export_args(models, out: Path, *extra: str) -> argparse.Namespace:
    return export.build_parser().parse_args([
        "--cpc", str(models[2].parent / "cpc.keras"), "--recognizer", str(models[2].parent / "recognizer.keras"),
        "--out", str(out), "--window-seconds", str(WINDOW_SECONDS), *extra])


def test_an_unquantized_export_that_differs_from_keras_is_an_error_and_leaves_out_as_it_was(
        models, tmp_path, monkeypatch):
    out = tmp_path / "model"
    out.mkdir()
    (out / "model.json").write_text("the earlier export")
    monkeypatch.setattr(export, "largest_difference", lambda *args: 0.5)
    with pytest.raises(export.ExportError, match="not written: .* differ from the Keras model by 5.00e-01 on 3 s of synthetic"):
        export.export(_export_args(models, out, "--overwrite"))
    assert [f.name for f in out.iterdir()] == ["model.json"]
    assert (out / "model.json").read_text() == "the earlier export"
    assert not (tmp_path / "model.partial").exists()


def test_a_missing_representative_path_fails_before_the_conversion(models, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "export_streaming", lambda *args: pytest.fail("converted before checking"))
    with pytest.raises(FileNotFoundError, match="absent.wav: no such file"):
        export.export(_export_args(models, tmp_path / "out", "--representative", str(tmp_path / "absent.wav")))


def test_end_to_end_recognizer_exports_with_dynamic_quantization(tmp_path):
    model = EndToEndRecognizer(encoder_channels=8, context_units=UNITS, recognizer=HEAD)
    model.build({"audio": (None, None), "lengths": (None,)})
    model.save(tmp_path / "e2e.keras")
    export.main(["--recognizer", str(tmp_path / "e2e.keras"), "--out", str(tmp_path / "out"),
                 "--quantize", "dynamic", "--training-data", "RAVDESS", "--licence", "CC BY-NC-SA 4.0"])
    config = json.loads((tmp_path / "out" / "model.json").read_text())
    assert config["quantization"] == {"cpc_step": "dynamic", "head": "dynamic"}
    assert config["int8_weight_ops"] == {}  # the converter leaves weights under 1024 values in float (the shipped
    # model's int8 weights: test_shipped_models.py)
    assert config["licence"] == "CC BY-NC-SA 4.0" and config["training_data"] == "RAVDESS"
    for name in ("cpc_step.tflite", "head.tflite"):
        assert _ops(tmp_path / "out" / name) <= BUILTINS
    assert len(StreamingRecognizer(tmp_path / "out").push(np.zeros(4000, np.float32))) == 2


@pytest.mark.slow
def test_int8_records_the_ops_it_keeps_in_float(models, sample_root, tmp_path):
    representative = next(sample_root.rglob("*.flac"))
    export.export(_export_args(models, tmp_path, "--quantize", "int8", "--representative", str(representative)))
    config = json.loads((tmp_path / "model.json").read_text())
    assert config["check"]["audio"] == str(representative) and config["check"]["largest_difference"] > 0
    assert config["quantization"] == {"cpc_step": "float16", "head": "int8"}  # see HEAD_FLOAT_OPS
    assert set(config["float_ops"]) == {"head"}
    assert {"BATCH_MATMUL", "SOFTMAX", "SUM"} <= set(config["float_ops"]["head"])
    assert "FULLY_CONNECTED" not in config["float_ops"]["head"]
    assert config["int8_weight_ops"] == {"head": ["FULLY_CONNECTED"]}  # the step model's weights are float16
    for name in ("cpc_step.tflite", "head.tflite"):
        assert _ops(tmp_path / name) <= BUILTINS


def test_step_and_head_match_keras(models, audio):
    cpc, recognizer, folder = models
    config = json.loads((folder / "model.json").read_text())
    step = Interpreter(model_path=str(folder / "cpc_step.tflite")).get_signature_runner()
    head = Interpreter(model_path=str(folder / "head.tflite")).get_signature_runner()
    state, contexts, leveled = np.zeros((1, UNITS), np.float32), [], normalize_level(audio)
    assert config["frontend"] == {"level": vars(LevelSettings(per_speaker=True))}
    for start in range(0, len(audio) - config["chunk_samples"] + 1, config["hop_samples"]):
        out = step(audio=leveled[None, start:start + config["chunk_samples"]], state=state)
        state = out["state"]
        contexts.append(out["contexts"][0])
    streamed, expected = np.concatenate(contexts), _contexts(cpc, audio)
    assert streamed.shape == (290, UNITS) and expected.shape == (298, UNITS)
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(streamed, expected[:290], atol=1e-4)
    window = streamed[None, -50:]
    emotion = head(features=window, lengths=np.array([50], np.int32))["emotion"]
    reference = _recognize(recognizer, window, [50])
    assert np.abs(reference).max() > 0.05
    np.testing.assert_allclose(emotion, reference, atol=1e-4)


def test_streaming_matches_whole_utterance_for_any_chunk_size(models, audio):
    cpc, recognizer, folder = models
    expected = _contexts(cpc, audio)
    # Keras reference of every hop: the head on the latest 50 frames (fewer at the start)
    ends = [*range(10, 291, 10), 298]
    windows = np.zeros((len(ends), 50, UNITS), np.float32)
    for row, end in enumerate(ends):
        frames = expected[max(0, end - 50):end]
        windows[row, :len(frames)] = frames
    reference = _recognize(recognizer, windows, [min(end, 50) for end in ends])
    runs = []
    for size in (123, 1600, 5000):
        streaming = StreamingRecognizer(folder)
        chunks = [audio[start:start + size] for start in range(0, len(audio), size)]
        predictions = [p for chunk in chunks for p in streaming.push(chunk)]
        assert len(predictions) == 29
        np.testing.assert_allclose(streaming.features(), expected[240:290], atol=1e-4)
        predictions += streaming.flush()
        assert [round(p.time * 16000) for p in predictions] == [(end - 1) * 160 + 425 for end in ends]
        values = np.array([p[1:] for p in predictions])
        np.testing.assert_allclose(values, reference, atol=1e-4)
        runs.append(values)
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_a_quieter_or_louder_stream_gives_the_same_estimates(models, audio):
    """The level normalisation makes the estimates independent of the recording level, to the 0.02 the
    out-of-domain protocol asks, and the contexts the head sees nearly exactly (its speech gate compares
    histogram bins: a level change may move a block across a bin edge); without it, they follow the level."""
    def run(samples, front_end=True):
        stream = StreamingRecognizer(models[2])
        if not front_end:
            stream.level = None
        estimates = stream.push(samples)
        contexts = stream.features()
        return np.array([p[1:] for p in estimates + stream.flush()]), contexts

    expected, contexts = run(audio)
    for scale in (0.1, 3.0):
        estimates, scaled_contexts = run(audio * scale)
        np.testing.assert_allclose(estimates, expected, atol=0.02)
        np.testing.assert_allclose(scaled_contexts, contexts, atol=1e-4)  # 3e-7 at -20 dB, 3e-5 at +9.5 dB
    raw, raw_loud = run(audio, front_end=False)[1], run(audio * 3, front_end=False)[1]
    assert np.abs(raw_loud - raw).max() > 1e-2  # this tiny random model's GRU saturates: 0.02


def test_noise_suppression_streams_as_keras_scores_the_whole_clip_at_any_level(models, audio, monkeypatch, caplog):
    """An export with `--suppression` (here without its gate) records it in the recognizer's front end, where it runs
    before the level normalisation; the engine runs it, a stream in chunks of any size predicts as the Keras model on
    the whole clip through that front end, a speaker's level is measured behind it, and the level normalisation after
    it keeps the estimates of a quieter or louder recording within 0.02."""
    cpc, recognizer, folder = models
    out = folder.parent / "suppressed"
    export.main(["--cpc", str(folder.parent / "cpc.keras"), "--recognizer", str(folder.parent / "recognizer.keras"),
                 "--out", str(out), "--window-seconds", str(WINDOW_SECONDS), "--suppression", "3",
                 "--suppression-always"])
    frontend = json.loads((out / "model.json").read_text())["frontend"]
    assert frontend == recognizer.frontend | {"suppression": vars(SuppressionSettings(3, gate_snr_db=None))}
    contexts = export.stream_contexts(audio, cpc.encoder, cpc.autoregressor, frontend)
    assert np.abs(contexts - _contexts(cpc, audio)[None]).max() > 1e-3  # suppressed: other contexts

    def run(samples, size):
        stream = StreamingRecognizer(out)
        predictions = [p for start in range(0, len(samples), size) for p in stream.push(samples[start:start + size])]
        return np.array([p[1:] for p in predictions + stream.flush()])

    expected = run(audio, 123)
    np.testing.assert_allclose(expected[-1], export.window_prediction(recognizer, contexts, 50), atol=1e-4)
    halves = [audio[:len(audio) // 2], audio[len(audio) // 2:]]
    level, _ = StreamingRecognizer(out).calibrate_speaker(lambda: [[half] for half in halves])
    suppression = SuppressionSettings(3, gate_snr_db=None)
    assert level == speaker_level([suppress_noise(half, suppression) for half in halves],
                                  LevelSettings(**frontend["level"]))
    np.testing.assert_array_equal(run(audio, 5000), expected)
    for scale in (0.1, 3.0):
        np.testing.assert_allclose(run(audio * scale, 1600), expected, atol=0.02)
    monkeypatch.setitem(sys.modules, "webrtc_noise_gain", None)  # a platform without its wheel
    with caplog.at_level(logging.WARNING, "app.engine.streaming"):
        assert StreamingRecognizer(out).suppressor is None
    assert "needs the webrtc-noise-gain package" in caplog.text and "running without it" in caplog.text


def test_without_rnnoise_its_streams_get_the_level_below_and_without_webrtc_nothing(monkeypatch, caplog,
                                                                                   hide_rnnoise):
    settings = SuppressionSettings(2, steady_level=RNNOISE)
    suppressor, missing = available_suppressor(settings, 16000, Path("model"))
    assert suppressor.settings == settings and missing is None
    hide_rnnoise()
    with caplog.at_level(logging.WARNING, "app.engine.streaming"):
        suppressor, missing = available_suppressor(settings, 16000, Path("model"))
    assert suppressor.settings == SuppressionSettings(2) and missing == "pyrnnoise"
    tiered = available_suppressor(SuppressionSettings(2, steady_level=4, low_snr_level=RNNOISE), 16000, Path("m"))
    assert tiered[0].settings == SuppressionSettings(2, steady_level=4)  # loud steady noise: the steady level
    limited = SuppressionSettings(2, steady_level=4, low_snr_level=RNNOISE, rnnoise_limit_db=30.0)  # the shipped
    assert available_suppressor(limited, 16000, Path("m"))[0].settings == SuppressionSettings(2, steady_level=4)
    assert available_suppressor(replace(limited, steady_level=RNNOISE, low_snr_level=None), 16000, Path("m"))[0] \
        .settings == SuppressionSettings(2)
    assert "model: RNNoise needs the pyrnnoise package; running without it" in caplog.text
    monkeypatch.setitem(sys.modules, "webrtc_noise_gain", None)
    assert available_suppressor(settings, 16000, Path("model")) == (None, "webrtc-noise-gain")
    assert available_suppressor(None, 16000, Path("model")) == (None, None)


def test_the_suppression_options_give_the_settings_or_a_clear_error():
    def settings(*options):
        return export.suppression(export.build_parser().parse_args(["--recognizer", "r", "--out", "o", *options]))

    assert settings() is None
    assert settings("--suppression", "2", "--suppression-steady", "4") == SuppressionSettings(2, steady_level=4)
    denoised = SuppressionSettings(2, steady_level=RNNOISE)
    assert settings("--suppression", "2", "--suppression-steady", "rnnoise") == denoised
    assert settings("--suppression", "3", "--suppression-always") == SuppressionSettings(3, gate_snr_db=None)
    assert settings("--suppression", "2", "--suppression-steady", "4", "--suppression-low-snr", "rnnoise") \
        == SuppressionSettings(2, steady_level=4, low_snr_level=RNNOISE)
    assert settings("--suppression", "2", "--suppression-steady", "4", "--suppression-low-snr", "rnnoise",
                    "--suppression-rnnoise-limit", "20") \
        == SuppressionSettings(2, steady_level=4, low_snr_level=RNNOISE, rnnoise_limit_db=20.0)
    with pytest.raises(ValueError, match="need --suppression LEVEL"):
        settings("--suppression-steady", "4")
    with pytest.raises(ValueError, match="need --suppression LEVEL"):
        settings("--suppression-rnnoise-limit", "20")
    with pytest.raises(ValueError, match="no level is RNNoise"):
        settings("--suppression", "2", "--suppression-steady", "4", "--suppression-rnnoise-limit", "20")
    with pytest.raises(ValueError, match="need --suppression LEVEL"):
        settings("--suppression-low-snr", "rnnoise")
    with pytest.raises(ValueError, match="low-SNR suppression level needs a steady-noise level"):
        settings("--suppression", "2", "--suppression-low-snr", "rnnoise")
    with pytest.raises(ValueError, match="needs the gate"):
        settings("--suppression", "2", "--suppression-always", "--suppression-steady", "4")


def test_interval_predicts_every_nth_hop_and_at_the_end(models, audio):
    every_hop = StreamingRecognizer(models[2])
    expected = every_hop.push(audio) + every_hop.flush()  # 29 hops, then the 8 frames left
    sparse = StreamingRecognizer(models[2], interval=0.3)
    predictions = [p for start in range(0, len(audio), 700) for p in sparse.push(audio[start:start + 700])]
    assert predictions == expected[2:29:3]  # hops 3, 6, ..., 27
    assert sparse.flush() == [expected[-1]]
    exact = StreamingRecognizer(models[2], interval=0.5)
    end = 265 + 5 * 1600  # the overlap + 5 hops: no frame left ...
    end += -end % 320  # ... once the level normalisation has passed on the last 20 ms block they end in
    assert exact.push(audio[:end]) == [expected[4]]
    assert exact.flush() == []
    for interval in (0.25, 0.0, -0.1, -math.inf, math.nan):
        with pytest.raises(ValueError, match=f"interval {interval} s is not a positive multiple of the model's 0.1 s"):
            StreamingRecognizer(models[2], interval=interval)
    final = StreamingRecognizer(models[2], interval=math.inf)
    assert final.push(audio) == [] and final.flush() == [expected[-1]]
    assert (every_hop.interval, sparse.interval, final.interval) == (pytest.approx(0.1), pytest.approx(0.3), math.inf)
    every_hop.interval = 0.3  # set on a loaded model: the same as given to the constructor
    assert every_hop.push(audio) == expected[2:29:3]


def test_predictions_see_a_full_window_from_window_seconds_on(models, audio):
    stream = StreamingRecognizer(models[2])
    assert stream.window_seconds == (49 * 160 + 425) / 16000  # 50 frames
    seen = []
    for start in range(0, len(audio), 1600):  # one hop a push: at most one prediction
        for prediction in stream.push(audio[start:start + 1600]):
            seen.append((prediction.time >= stream.window_seconds, len(stream.features()) == 50))
    assert all(full == window_full for full, window_full in seen) and {full for full, _ in seen} == {True, False}


def test_streaming_imports_neither_tensorflow_nor_keras(models):
    code = (
        "import sys, numpy as np\n"
        "from app.engine.streaming import StreamingRecognizer\n"
        f"recognizer = StreamingRecognizer({str(models[2])!r})\n"
        "assert len(recognizer.push(np.zeros(1920, np.float32))) == 1\n"  # 6 level blocks hold the first chunk
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_analyze_writes_trajectories_and_skips_a_corrupt_file(models, audio, tmp_path, capsys):
    soundfile.write(tmp_path / "a.wav", audio[:20000], 16000)
    stereo = np.stack([audio[:22050], 0.5 * audio[22050:44100]], axis=1)  # channels that differ
    soundfile.write(tmp_path / "b.wav", stereo, 22050)  # averaged and resampled while streaming
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF" + bytes(100))
    (tmp_path / "headerless.raw").write_bytes(bytes(100))  # soundfile raises TypeError: no sample rate
    with pytest.raises(SystemExit) as exit_info:
        analyze.main([str(tmp_path), str(tmp_path / "headerless.raw"), "--model", str(models[2]),
                      "--csv", str(tmp_path / "out.csv"), "--plot", str(tmp_path / "out.png"),
                      "--calibration", "none"])  # each file as a fresh StreamingRecognizer streams it
    assert exit_info.value.code == 1
    errors = capsys.readouterr().err
    assert "corrupt.wav" in errors and f"{tmp_path / 'headerless.raw'}: cannot decode audio" in errors
    with open(tmp_path / "out.csv") as handle:
        rows = list(csv.DictReader(handle))
    per_file = {name: [r for r in rows if r["file"].endswith(name)] for name in ("a.wav", "b.wav")}
    assert len(rows) == len(per_file["a.wav"]) + len(per_file["b.wav"])
    assert len(per_file["a.wav"]) == 13  # 12 hops + the frames of the last partial hop
    streaming = StreamingRecognizer(models[2])  # on the whole file, averaged and resampled at once
    expected = [*streaming.push(load_audio(tmp_path / "b.wav")), *streaming.flush()]
    assert len(per_file["b.wav"]) == len(expected) == 10  # 1 s: 98 frames
    np.testing.assert_allclose([[float(r[d]) for d in DIMENSIONS] for r in per_file["b.wav"]],
                               [p[1:] for p in expected], atol=1e-4)
    assert (tmp_path / "out.png").stat().st_size > 0


def test_analyze_keeps_the_predictions_up_to_a_files_problem(models, audio, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(analysis, "BLOCK_SECONDS", 0.5)
    damaged = audio[:24000].copy()
    damaged[20000] = np.nan  # in the third block of 0.5 s
    soundfile.write(tmp_path / "damaged.wav", damaged, 16000, subtype="FLOAT")
    with pytest.raises(SystemExit) as exit_info:
        analyze.main([str(tmp_path / "damaged.wav"), "--model", str(models[2]), "--csv", str(tmp_path / "out.csv"),
                      "--calibration", "none"])
    assert exit_info.value.code == 1
    streaming = StreamingRecognizer(models[2])
    expected = streaming.push(audio[:20000]) + streaming.flush()  # all the audio before the problem
    assert len(expected) == 13 and "damaged.wav: audio contains NaN or Inf samples from 1.25 s; its 13 predictions " \
        "up to 1.2 s are kept" in capsys.readouterr().err
    with open(tmp_path / "out.csv") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_allclose([float(r["time"]) for r in rows], [p.time for p in expected], atol=5e-4)
    np.testing.assert_allclose([[float(r[d]) for d in DIMENSIONS] for r in rows], [p[1:] for p in expected], atol=1e-4)


def test_analyze_of_a_folder_without_audio_is_an_error(models, tmp_path, capsys):
    (tmp_path / "notes.mp3").write_bytes(b"ID3")
    with pytest.raises(SystemExit) as exit_info:
        analyze.main([str(tmp_path), "--model", str(models[2]), "--csv", str(tmp_path / "out.csv")])
    assert exit_info.value.code == 2
    assert f"no audio files (.wav, .flac, .ogg) in {tmp_path}" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.slow
def test_robustness_scores_the_engine_and_the_floor_under_each_condition(models, sample_root, tmp_path):
    ravdess = REPO / "assets" / "samples" / "ravdess"  # actors 1 and 2 train, 4 validates, 3 is held out
    corpus = ["--corpus", "ravdess", "--data", str(ravdess), "--folds", "4", "--fold", "0"]
    report = robustness.robustness(robustness.build_parser().parse_args([
        *corpus, "--models", str(models[2]), "--conditions", "clean", "level-20", "babble-10db", "--babble",
        str(sample_root), "--read-speech", str(sample_root), "--cache", str(tmp_path / "cache"),
        "--out", str(tmp_path / "out"), "--jobs", "2"]))  # clean and babble in one process, level-20 in the other
    assert report["speakers"] == ["Actor_03"] and report["utterances"] == 8
    scores = report["conditions"]
    assert list(scores) == ["clean", "level-20", "babble-10db"]
    model, floor = str(models[2]), robustness.FLOOR
    heldout_scores = heldout.heldout(heldout.build_parser().parse_args([
        *corpus, "--recognizer", str(models[2].parent / "recognizer.keras"), "--cpc",
        str(models[2].parent / "cpc.keras"), "--models", model]))["ccc"][model]  # file by file, in blocks
    assert scores["clean"][model] == pytest.approx(heldout_scores, abs=1e-6)
    assert scores["level-20"][model] == pytest.approx(scores["clean"][model], abs=0.02)  # the level front end
    sets = heldout.split("ravdess", heldout.read_corpus("ravdess", str(ravdess)), 0, 4, 0.2, 0)
    floor_scores = linear_baseline.evaluate_fold(sets, str(tmp_path / "cache"))
    expected = {d: floor_scores[f"ccc_{d}"] for d in DIMENSIONS}  # from float16 cached test features
    assert scores["clean"][floor] == pytest.approx(expected, abs=1e-3)
    for condition in ("level-20", "babble-10db"):  # MFCC statistics see the level and the noise
        assert abs(scores[condition][floor]["activation"] - scores["clean"][floor]["activation"]) > 1e-3
    read = report["read_speech"][model]
    assert read["files"] == 12 and read["hops"] > 12 * 50 and read["hops_inside"] == read["files_inside"] == 1.0
    for name in ("results.json", "robustness.md", "robustness.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "| level-20 |" in (tmp_path / "out" / "robustness.md").read_text()
    with pytest.raises(ValueError, match="--jobs 0: at least one process"):
        robustness.robustness(robustness.build_parser().parse_args([*corpus, "--models", model, "--out", "o",
                                                                    "--jobs", "0"]))
    for option, what in (["--feature-seconds", "9"], "weighs"), (["--presume-neutral"], "maps"):
        with pytest.raises(ValueError, match=f"{option[0]} {what} a calibration: give --calibration matched, clean or"):
            robustness.robustness(robustness.build_parser().parse_args(
                [*corpus, "--models", model, "--out", "o", "--calibration", "none", *option]))


@pytest.mark.slow
def test_robustness_and_heldout_score_another_corpus_as_they_score_the_fold(models, tmp_path):
    """`--test-corpus csv`: a CSV of the fold's held-out actor, its labels written out, scores as the fold does (the
    floor still fitted on the fold's training speakers)."""
    ravdess = REPO / "assets" / "samples" / "ravdess"
    held_out = heldout.split("ravdess", heldout.read_corpus("ravdess", str(ravdess)), 0, 4, 0.2, 0)[2]
    table = tmp_path / "actor03.csv"
    table.write_text("path,speaker,activation,valence,dominance,emotion\n" + "".join(
        f"{u.path},{u.speaker},{u.activation!r},{u.valence!r},{u.dominance!r},{u.emotion}\n" for u in held_out))
    corpus, model = ["--corpus", "ravdess", "--data", str(ravdess), "--folds", "4", "--fold", "0"], str(models[2])
    other = ["--test-corpus", "csv", "--test-data", str(table)]
    common = [*corpus, "--models", model, "--conditions", "clean", "level-20", "--cache", str(tmp_path / "cache")]
    fold, csv_corpus = (robustness.robustness(robustness.build_parser().parse_args(
        [*common, *extra, "--out", str(tmp_path / name)])) for name, extra in (("fold", []), ("csv", other)))
    assert csv_corpus["conditions"] == fold["conditions"] and csv_corpus["speakers"] == ["Actor_03"]
    description = f"utterances of csv {table} (trained on ravdess fold 0)"
    assert csv_corpus["test"] == description
    assert (tmp_path / "csv" / "robustness.md").read_text().startswith(f"8 utterances of csv {table} (trained on")
    recognizer = ["--recognizer", str(models[2].parent / "recognizer.keras"),
                  "--cpc", str(models[2].parent / "cpc.keras"), "--models", model]
    fold, csv_corpus = (heldout.heldout(heldout.build_parser().parse_args([*corpus, *recognizer, *extra]))
                        for extra in ([], other))
    assert csv_corpus["ccc"] == fold["ccc"] and csv_corpus["test"] == description
    table.write_text("".join(table.read_text().splitlines(keepends=True)[:7]))  # the header and 6 clips
    assert heldout.heldout(heldout.build_parser().parse_args([*corpus, *recognizer, *other]))["utterances"] == 6
    trained = heldout.split("ravdess", heldout.read_corpus("ravdess", str(ravdess)), 0, 4, 0.2, 0)[0][0]
    table.write_text(f"path,speaker,emotion\n{trained.path},{trained.speaker},{trained.emotion}\n")
    with pytest.raises(ValueError, match=f"{trained.path}: a file of {table} that ravdess fold 0 trains or validates"):
        heldout.heldout(heldout.build_parser().parse_args([*corpus, *recognizer, *other]))
    with pytest.raises(ValueError, match="--test-corpus and --test-data go together"):
        heldout.heldout(heldout.build_parser().parse_args([*corpus, *recognizer, *other[:2]]))


@pytest.mark.parametrize("calibration", robustness.CALIBRATIONS)
def test_robustness_calibrates_each_speaker_with_the_clips_it_is_asked_for(calibration):
    """Matched: with the speaker's clips under the condition; clean: with their unshifted clips, whatever the
    condition; corpus: with every speaker's clips under the condition; none: with no clip (a new speaker). Each
    speaker's calibration comes before their clips, every clip is scored shifted, once, and each speaker's clips come
    in the same seeded order under every condition."""
    corpus = heldout.read_corpus("ravdess", str(REPO / "assets" / "samples" / "ravdess"))
    test = [u for pair in zip(corpus[:3], corpus[8:11]) for u in pair]  # two actors, interleaved
    clean = [load_audio(u.path) for u in test]
    conditions = ["level-20", "white-20db"]  # the noise is drawn from clip i's seed, 3 + i
    shifted = {c: [robustness.apply_condition(c, clip, 3 + i) for i, clip in enumerate(clean)] for c in conditions}
    events = []

    class Recorder:
        def calibrate(self, clips, utterances):
            events.append(("calibrate", clips, [test.index(u) for u in utterances]))

        def __call__(self, audio):
            events.append(("heard", audio))
            return np.array([np.abs(audio).max(), np.abs(audio).mean(), audio.std()])

    robustness.score_conditions({"recorder": Recorder()}, test, conditions, 3, [], calibration)
    orders = []
    for condition, part in zip(conditions, np.split(np.array(events, dtype=object), 2)):
        expected = {"clean": clean, "none": []}.get(calibration, shifted[condition])
        for calibrated, *heard in np.split(part, 2):  # a speaker each: 3 clips
            assert calibrated[0] == "calibrate" and all(event[0] == "heard" for event in heard)
            indices = [next(i for i, clip in enumerate(shifted[condition]) if np.array_equal(clip, event[1]))
                       for event in heard]
            assert len({test[i].speaker for i in indices}) == 1
            if calibration == "none":
                assert calibrated[1] == calibrated[2] == []
            elif calibration == "corpus":
                assert calibrated[2] == list(range(len(test)))
                for clip, i in zip(calibrated[1], calibrated[2], strict=True):
                    np.testing.assert_array_equal(clip, expected[i])
            else:
                assert sorted(calibrated[2]) == sorted(indices)
                for clip, i in zip(calibrated[1], calibrated[2]):
                    np.testing.assert_array_equal(clip, expected[i])
            orders.append(indices)
    assert orders[:2] == orders[2:] and sorted(i for order in orders[:2] for i in order) == list(range(len(test)))
    rng, speakers = np.random.default_rng(3), dict.fromkeys(u.speaker for u in test)
    assert orders[:2] == [list(rng.permutation([i for i, u in enumerate(test) if u.speaker == s])) for s in speakers]
    assert orders[:2] != [[0, 2, 4], [1, 3, 5]]  # not the corpus's order
    events.clear()  # another process of `--jobs`, with another share of the conditions: the same order
    robustness.score_conditions({"recorder": Recorder()}, test, conditions[1:], 3, [], calibration)
    heard = [next(i for i, clip in enumerate(shifted["white-20db"]) if np.array_equal(clip, event[1]))
             for event in events if event[0] == "heard"]
    assert heard == orders[2] + orders[3]


@pytest.mark.parametrize("calibration", ["matched", "clean", "none"])
def test_robustness_reads_one_speaker_at_a_time(monkeypatch, calibration):
    """However large the test set, memory holds one speaker's clips: a speaker's files are read when their turn comes
    (`--calibration corpus` alone holds every speaker's, its calibration)."""
    corpus = heldout.read_corpus("ravdess", str(REPO / "assets" / "samples" / "ravdess"))
    test = [u for pair in zip(corpus[:3], corpus[8:11]) for u in pair]  # two actors, interleaved
    events, load = [], robustness.load_audio
    monkeypatch.setattr(robustness, "load_audio", lambda path: events.append(("read", path)) or load(path))

    class Listener:
        def calibrate(self, clips, utterances):
            """Nothing to calibrate."""

        def __call__(self, audio):
            events.append(("heard",))
            return audio[:3]

    robustness.score_conditions({"listener": Listener()}, test, ["level-20"], 0, [], calibration)
    turns = [[path for kind, *path in part if kind == "read"] for part in np.split(np.array(events, dtype=object), 2)]
    assert [len({Path(p[0]).parent for p in turn}) for turn in turns] == [1, 1]  # each turn reads one actor's files
    assert events[-1] == ("heard",) and sum(event == ("heard",) for event in events) == len(test)


def test_robustness_rejects_an_unknown_calibration():
    with pytest.raises(ValueError, match="calibration 'quiet': one of matched, clean, none"):
        robustness.score_conditions({}, [], ["clean"], 0, [], "quiet")


def test_reservoir_sample_is_uniform_and_holds_at_most_its_size():
    class Window:  # counts how many are alive at once
        alive = peak = 0

        def __init__(self):
            Window.alive += 1
            Window.peak = max(Window.peak, Window.alive)

        def __del__(self):
            Window.alive -= 1

    assert len(reservoir_sample((Window() for _ in range(1000)), 5)) == 5
    assert Window.peak <= 7  # the sample, the last item considered and the next one
    draws = 3000
    counts = np.bincount([i for seed in range(draws) for i in reservoir_sample(range(10), 3, seed)], minlength=10)
    np.testing.assert_allclose(counts / draws, 0.3, atol=0.04)  # each item is kept with probability 3/10
    assert sorted(reservoir_sample(range(2), 5)) == [0, 1]


def test_the_engine_names_the_dimensions_the_library_exports():
    """One fact, two sides: the TensorFlow-free engine's output names are `keras_cpc`'s `DIMENSIONS`."""
    from app.engine.streaming import DIMENSIONS as ENGINE_DIMENSIONS

    assert ENGINE_DIMENSIONS == DIMENSIONS


@pytest.fixture(scope="module")
def speaker_models(models):
    """A recognizer trained on features normalised per speaker (`--speaker-features`) on the CPC of `models`,
    exported without quantization."""
    cpc, _, folder = models
    root = folder.parent
    rng = np.random.default_rng(4)
    recognizer = EmotionRecognizer(**HEAD, bounded=True, frontend=frontend_config(LevelSettings(per_speaker=True)),
                                   standardize=True, speaker_features=True, variance_floor=0.02,
                                   neutral_statistics=(rng.normal(0, 0.1, UNITS), rng.uniform(0.005, 0.05, UNITS)))
    recognizer.build({"features": (None, None, UNITS), "lengths": (None,)})
    _randomize(recognizer, 3)
    recognizer.standardization.set_statistics(rng.normal(0, 0.1, UNITS), rng.uniform(0.01, 0.1, UNITS))
    return cpc, recognizer, _export(recognizer, root, "speaker")


def _last_predictions(recognizer, contexts: np.ndarray, ends: list[int]) -> np.ndarray:
    """The Keras head at each hop end on the latest 50 frames (fewer at the start)."""
    windows = np.zeros((len(ends), 50, contexts.shape[1]), np.float32)
    for row, end in enumerate(ends):
        frames = contexts[max(0, end - 50):end]
        windows[row, :len(frames)] = frames
    return _recognize(recognizer, windows, [min(end, 50) for end in ends])


def test_model_json_records_the_per_speaker_normalisation_of_the_features(speaker_models, models):
    _, recognizer, folder = speaker_models
    features = json.loads((folder / "model.json").read_text())["features"]
    np.testing.assert_allclose(features["mean"], recognizer.standardization.mean.numpy(), atol=1e-7)
    np.testing.assert_allclose(features["variance"], recognizer.standardization.variance.numpy(), atol=1e-7)
    np.testing.assert_allclose([features["neutral_mean"], features["neutral_variance"]],
                               recognizer.neutral_statistics, atol=1e-7)
    assert features["frame_rate"] == 100 and features["prior_seconds"] > 0 and features["epsilon"] == 0.02
    assert json.loads((models[2] / "model.json").read_text())["features"] == {}  # trained on raw features
    assert StreamingRecognizer(models[2]).speaker_features is None


def test_streaming_with_speaker_features_equals_keras_on_the_whole_clip(speaker_models, audio):
    cpc, recognizer, folder = speaker_models
    features = json.loads((folder / "model.json").read_text())["features"]
    raw = _contexts(cpc, audio)
    mapped = export.stream_contexts(audio, cpc.encoder, cpc.autoregressor, recognizer.frontend, features=features)[0]
    assert np.abs(mapped - raw).max() > 0.1  # the mapping matters
    reference = _last_predictions(recognizer, mapped, [*range(10, 291, 10), 298])
    for size in (123, 5000):
        stream = StreamingRecognizer(folder)
        predictions = [p for start in range(0, len(audio), size) for p in stream.push(audio[start:start + size])]
        np.testing.assert_allclose(stream.features(), mapped[240:290], atol=1e-4)
        values = np.array([p[1:] for p in predictions + stream.flush()])
        np.testing.assert_allclose(values, reference, atol=1e-4)


def test_heldout_streams_a_speaker_calibrated_model_as_it_scores_keras(speaker_models, audio, tmp_path):
    """Each actor mapped onto the corpus's statistics, as training mapped them, not onto the neutral reference."""
    _, _, folder = speaker_models
    clips = []
    for index, (clip, emotion) in enumerate([(audio[:30000], "neutral"), (0.3 * audio[20000:], "happy")]):
        soundfile.write(tmp_path / f"clip{index}.wav", clip, 16000, subtype="FLOAT")
        clips.append(EmotionUtterance(str(tmp_path / f"clip{index}.wav"), "Actor_99", 0.0, 0.0, 0.0, emotion))
    features = json.loads((folder / "model.json").read_text())["features"]
    _, keras_window = heldout.keras_predictions(str(folder.parent / "speaker_recognizer.keras"),
                                                str(folder.parent / "cpc.keras"), clips, 50, features)
    np.testing.assert_allclose(heldout.stream_predictions(str(folder), clips), keras_window, atol=1e-4)


def test_an_ensemble_exports_streams_and_scores_as_one_recognizer(speaker_models, audio, tmp_path, capsys):
    """Two runs' recognizers (other weights, other statistics) as one `RecognizerEnsemble`: one head, the first
    member's statistics in model.json, the stream equal to the Keras ensemble, held-out scoring as for one model."""
    cpc, first, speaker_folder = speaker_models
    root = speaker_folder.parent
    rng = np.random.default_rng(8)
    second = EmotionRecognizer.from_config({**first.get_config(), "attention_dim": 12, "num_heads": 3})  # another size
    second.build({"features": (None, None, UNITS), "lengths": (None,)})
    _randomize(second, 9)
    second.standardization.set_statistics(rng.normal(0, 0.1, UNITS), rng.uniform(0.01, 0.1, UNITS))
    ensemble = ensemble_of([first, second])
    folder = _export(ensemble, root, "ensemble")
    config = json.loads((folder / "model.json").read_text())
    assert config["check"]["largest_difference"] < 1e-4
    np.testing.assert_allclose(config["features"]["mean"], first.standardization.mean.numpy(), atol=1e-7)
    mapped = export.stream_contexts(audio, cpc.encoder, cpc.autoregressor, ensemble.frontend,
                                    features=config["features"])[0]
    stream = StreamingRecognizer(folder)
    values = np.array([p[1:] for p in stream.push(audio) + stream.flush()])
    expected = _last_predictions(ensemble, mapped, [*range(10, 291, 10), 298])
    np.testing.assert_allclose(values, expected, atol=1e-4)
    assert np.abs(expected - _last_predictions(first, mapped, [*range(10, 291, 10), 298])).max() > 1e-2
    soundfile.write(tmp_path / "clip.wav", audio, 16000, subtype="FLOAT")
    clips = [EmotionUtterance(str(tmp_path / "clip.wav"), "Actor_98", 0.0, 0.0, 0.0, "neutral")]
    _, keras_window = heldout.keras_predictions(str(root / "ensemble_recognizer.keras"), str(root / "cpc.keras"),
                                                clips, 50, config["features"])
    np.testing.assert_allclose(heldout.stream_predictions(str(folder), clips), keras_window, atol=1e-4)
    member = root / "member1"  # one member alone, from the ensemble's file: the second's head, the same features
    export.main(["--cpc", str(root / "cpc.keras"), "--recognizer", str(root / "ensemble_recognizer.keras"),
                 "--member", "1", "--out", str(member), "--window-seconds", str(WINDOW_SECONDS)])
    member_config = json.loads((member / "model.json").read_text())
    assert member_config["features"] == config["features"] and member_config["model_version"].endswith("-member1")
    stream = StreamingRecognizer(member)
    values = np.array([p[1:] for p in stream.push(audio) + stream.flush()])
    np.testing.assert_allclose(values, _last_predictions(ensemble.members[1], mapped, [*range(10, 291, 10), 298]),
                               atol=1e-4)
    _, member_window = heldout.keras_predictions(str(root / "ensemble_recognizer.keras"), str(root / "cpc.keras"),
                                                 clips, 50, config["features"], member=1)
    np.testing.assert_allclose(heldout.stream_predictions(str(member), clips), member_window, atol=1e-4)
    assert np.abs(member_window - keras_window).max() > 1e-2  # scored against the member, not the ensemble
    refusals = (("ensemble", "2", "the ensemble's members are 0 to 1, not 2"), ("ensemble", "-1", "is below 0"),
                ("first", "0", r"first_recognizer.keras: not an ensemble \(RecognizerEnsemble\): it has no member 0"))
    for recognizer, index, problem in refusals:
        if recognizer == "first":
            first.save(root / "first_recognizer.keras")
        with pytest.raises(SystemExit) as exit_info:  # the message: in the exit (run_cli) or on stderr (argparse)
            export.main(["--cpc", str(root / "cpc.keras"), "--recognizer", str(root / f"{recognizer}_recognizer.keras"),
                         "--member", index, "--out", str(tmp_path / "refused")])
        assert re.search(problem, f"{exit_info.value.code} {capsys.readouterr().err}")
        assert not (tmp_path / "refused").exists()


def test_a_frame_averaging_head_streams_as_keras_scores_the_whole_clip(models, audio):
    cpc, _, folder = models
    root = folder.parent
    contexts = _contexts(cpc, audio)
    recognizer = EmotionRecognizer(**HEAD, bounded=True, frontend=frontend_config(LevelSettings(per_speaker=True)),
                                   frame_average=4, standardize=True)
    recognizer.build({"features": (None, None, UNITS), "lengths": (None,)})
    _randomize(recognizer, 5)
    recognizer.standardization.set_statistics(contexts.mean(0), contexts.var(0))  # frames that differ: runs matter
    _export(recognizer, root, "averaging")
    assert _ops(root / "averaging" / "head.tflite") <= BUILTINS
    ends = [*range(10, 291, 10), 298]
    reference = _last_predictions(recognizer, contexts, ends)
    # the runs of 4 start at the window's oldest frame: the frames in the order a ring buffer holds them differ
    ring = np.stack([np.roll(contexts[end - 50:end], end % 50, axis=0) for end in ends[5:]])
    assert np.abs(_recognize(recognizer, ring, [50] * len(ring)) - reference[5:]).max() > 0.005  # 50x the tolerance
    for size in (123, 5000):
        stream = StreamingRecognizer(root / "averaging")
        predictions = [p for start in range(0, len(audio), size) for p in stream.push(audio[start:start + size])]
        np.testing.assert_allclose(np.array([p[1:] for p in predictions + stream.flush()]), reference, atol=1e-4)


def test_an_attentive_pooling_head_streams_as_keras_scores_the_whole_clip(models, audio):
    cpc, _, folder = models
    root = folder.parent
    contexts = _contexts(cpc, audio)
    recognizer = EmotionRecognizer(**HEAD, bounded=True, frontend=frontend_config(LevelSettings(per_speaker=True)),
                                   attentive_pooling=True, residual=True, standardize=True)
    recognizer.build({"features": (None, None, UNITS), "lengths": (None,)})
    _randomize(recognizer, 6)
    recognizer.standardization.set_statistics(contexts.mean(0), contexts.var(0))  # frames that differ, also after
    # the attention (its residual): how each weighs matters
    _export(recognizer, root, "attentive")
    ops = _ops(root / "attentive" / "head.tflite")
    assert ops <= BUILTINS and "EXP" not in ops  # its weights a SOFTMAX, which int8 keeps in float (HEAD_FLOAT_OPS)
    ends = [*range(10, 291, 10), 298]
    reference = _last_predictions(recognizer, contexts, ends)
    stream = StreamingRecognizer(root / "attentive")
    predictions = [p for start in range(0, len(audio), 777) for p in stream.push(audio[start:start + 777])]
    np.testing.assert_allclose(np.array([p[1:] for p in predictions + stream.flush()]), reference, atol=1e-4)
    recognizer.pooling.score.kernel.assign(np.zeros((recognizer.pooling.units, 1), np.float32))
    alike = _last_predictions(recognizer, contexts, ends)  # every frame weighing alike
    assert np.abs(alike - reference).max() > 0.05


def test_a_head_on_contexts_with_mfccs_and_pitch_streams_as_keras_scores_the_whole_clip(models, audio, tmp_path):
    """`--mfccs --pitch`: the step model appends the MFCCs and pitch features that start at each context's first
    sample, as the training features do (`cpc_extractor`), behind the front end and before the per-speaker
    mapping."""
    cpc, _, folder = models
    root = folder.parent
    appended = [keras.ops.convert_to_numpy(layer(normalize_level(audio)[None]))[0] for layer in (MFCC(8), Pitch())]
    expected = np.concatenate([_contexts(cpc, audio), *appended], axis=1)  # 298 frames of 400 samples appended
    width = UNITS + 8 + 2
    rng = np.random.default_rng(6)
    recognizer = EmotionRecognizer(**HEAD, bounded=True, frontend=frontend_config(LevelSettings(per_speaker=True)),
                                   standardize=True, speaker_features=True, variance_floor=0.02, mfccs=8,
                                   pitch=True)
    recognizer.build({"features": (None, None, width), "lengths": (None,)})
    _randomize(recognizer, 7)
    recognizer.standardization.set_statistics(rng.normal(0, 0.1, width), rng.uniform(0.01, 0.1, width))
    _export(recognizer, root, "mfccs")
    config = json.loads((root / "mfccs" / "model.json").read_text())
    assert config["mfccs"] == 8 and config["mfcc_band"] == [20, 8000] and config["state_size"] == UNITS
    assert config["pitch"] == 2
    assert config["check"]["largest_difference"] < 1e-4
    assert _ops(root / "mfccs" / "cpc_step.tflite") <= BUILTINS
    assert json.loads((folder / "model.json").read_text())["mfccs"] == 0
    unmapped = export.stream_contexts(audio, cpc.encoder, cpc.autoregressor, recognizer.frontend,
                                      append=recognizer.appended_mfccs())[0]
    np.testing.assert_allclose(unmapped, expected, atol=1e-4)
    mapped = export.stream_contexts(audio, cpc.encoder, cpc.autoregressor, recognizer.frontend,
                                    features=config["features"], append=recognizer.appended_mfccs())[0]
    reference = _last_predictions(recognizer, mapped, [*range(10, 291, 10), 298])
    for size in (123, 5000):
        stream = StreamingRecognizer(root / "mfccs")
        predictions = [p for start in range(0, len(audio), size) for p in stream.push(audio[start:start + size])]
        np.testing.assert_allclose(stream.features(), mapped[240:290], atol=1e-4)
        np.testing.assert_allclose(np.array([p[1:] for p in predictions + stream.flush()]), reference, atol=1e-4)
    cpc.save(tmp_path / "cpc.keras")
    _, extract, _, _ = cpc_extractor(tmp_path / "cpc.keras", AppendMFCC(8, pitch=True))  # training's, on raw audio
    raw = [keras.ops.convert_to_numpy(layer(audio[None]))[0] for layer in (cpc.context, MFCC(8), Pitch())]
    np.testing.assert_allclose(extract(audio), np.concatenate([raw[0], *(r[:len(raw[0])] for r in raw[1:])], axis=1),
                               atol=1e-4)
    wrong = EmotionRecognizer(**HEAD, mfccs=8, pitch=True)
    wrong.build({"features": (None, None, UNITS), "lengths": (None,)})
    wrong.save(tmp_path / "wrong.keras")
    with pytest.raises(ValueError, match=f"takes {UNITS}-dimensional features but .* gives {UNITS} and 8 MFCCs and 2 pitch"):
        export.load_parts(tmp_path / "wrong.keras", root / "cpc.keras")


@pytest.mark.parametrize("quantize", ["dynamic", "float16"])
def test_quantization_leaves_the_appended_mfccs_and_pitch_in_float(models, audio, tmp_path, quantize):
    """Dynamic-range quantization quantizes a matrix product's input to 8 bits on the fly, which would round the
    quiet mel bands to zero; the MFCC's linear maps are products and sums and the pitch's autocorrelation an FFT,
    which it leaves in float (float16: the int8 export's step model)."""
    cpc, _, folder = models
    chunk = json.loads((folder / "model.json").read_text())["chunk_samples"]
    step = step_model(cpc.encoder, cpc.autoregressor, chunk, AppendMFCC(8, pitch=True))
    assert convert(step, tmp_path / "step.tflite", quantize, None) == quantize
    assert _ops(tmp_path / "step.tflite") <= BUILTINS
    piece = normalize_level(audio)[8000:8000 + chunk]
    out = Interpreter(model_path=str(tmp_path / "step.tflite")).get_signature_runner()(
        audio=piece[None], state=np.zeros((1, UNITS), np.float32))["contexts"][0]
    expected = [keras.ops.convert_to_numpy(layer(piece[None]))[0][:len(out)] for layer in (MFCC(8), Pitch())]
    tolerance = {"dynamic": 1e-3, "float16": 5e-3}[quantize]  # float16: the weights' own rounding
    np.testing.assert_allclose(out[:, UNITS:UNITS + 8], expected[0], rtol=1e-4, atol=tolerance)
    np.testing.assert_allclose(out[:, UNITS + 8:], expected[1], atol=tolerance)


def test_streaming_with_speech_frames_keeps_only_their_contexts_as_the_whole_clip_does(models, audio):
    cpc, _, folder = models
    frontend = frontend_config(LevelSettings(per_speaker=True)) | speech_frame_config(SpeechFrameSettings())
    recognizer = EmotionRecognizer(**HEAD, bounded=True, frontend=frontend)
    recognizer.build({"features": (None, None, UNITS), "lengths": (None,)})
    _randomize(recognizer, 5)
    _export(recognizer, folder.parent, "speech")
    clip = np.concatenate([np.zeros(3000, np.float32), audio[:16000], np.zeros(8000, np.float32), audio[16000:40000]])
    contexts = _contexts(cpc, clip)  # 317 frames: 31 hops, 7 left for flush
    mask = speech_mask(normalize_level(clip), len(contexts), cpc.encoder.receptive_field, cpc.encoder.hop_length)
    assert not mask[:10].any() and not mask[130:140].any() and 0.5 < mask.mean() < 0.95  # silence and the pause
    speech = contexts[mask]
    np.testing.assert_allclose(export.stream_contexts(clip, cpc.encoder, cpc.autoregressor, frontend)[0], speech,
                               atol=1e-5)
    ends = [end for end in range(10, 311, 10) if mask[:end].any()] + [317]  # hops with speech heard, and flush
    reference = _last_predictions(recognizer, speech, [int(mask[:end].sum()) for end in ends])
    for size in (123, 5000):
        stream = StreamingRecognizer(folder.parent / "speech")
        predictions = [p for start in range(0, len(clip), size) for p in stream.push(clip[start:start + size])]
        np.testing.assert_allclose(stream.features(), contexts[:310][mask[:310]][-50:], atol=1e-4)
        predictions += stream.flush()
        assert [round(p.time * 16000) for p in predictions] == [(end - 1) * 160 + 425 for end in ends]
        np.testing.assert_allclose(np.array([p[1:] for p in predictions]), reference, atol=1e-4)
    assert StreamingRecognizer(folder.parent / "speech").push(np.zeros(16000, np.float32)) == []  # no speech yet
    silent = robustness.StreamPredictor(str(folder.parent / "speech"))(np.zeros(16000, np.float32))
    np.testing.assert_array_equal(silent, [0, 0, 0])  # scored as neutral
    soundfile.write(folder.parent / "silence.wav", np.zeros(16000, np.float32), 16000)
    soundfile.write(folder.parent / "speech.wav", clip, 16000, subtype="FLOAT")
    read = robustness.read_speech_statistics([str(folder.parent / "speech")],
                                             [folder.parent / "silence.wav", folder.parent / "speech.wav"])
    statistics = read[str(folder.parent / "speech")]
    with pytest.raises(analysis.AnalysisError, match="no speech heard"):
        analysis.analyze_file(StreamingRecognizer(folder.parent / "speech"), folder.parent / "silence.wav")
    assert statistics["files_without_estimate"] == 1 and statistics["hops"] > 20  # the speech file's
    assert np.isfinite(list(statistics["mean"].values())).all() and set(statistics["std"].values()) == {0.0}
    assert statistics["largest"] == {name: abs(mean) for name, mean in statistics["mean"].items()}  # one file


def test_a_session_keeps_the_speakers_level_and_statistics_from_one_utterance_to_the_next(speaker_models, audio,
                                                                                          monkeypatch):
    """`flush(keep_speaker=True)` ends an utterance: the window starts empty, the level histogram goes on (as one
    stream's over both utterances: the first is a whole number of level blocks) and so do the running feature
    statistics (NumPy over the prior and every frame mapped so far); `flush()` forgets both."""
    _, _, folder = speaker_models
    first, second = 0.3 * audio[:24000], audio[20000:]  # 75 blocks of 20 ms
    session, stream = StreamingRecognizer(folder, interval=math.inf), StreamingRecognizer(folder, interval=math.inf)
    alone = session.push(second) + session.flush()
    mapped, push = [], session.speaker_features.push
    monkeypatch.setattr(session.speaker_features, "push", lambda frames: mapped.append(frames) or push(frames))
    session.push(first)
    assert session.flush(keep_speaker=True) and not len(session.features())
    session.push(second)
    stream.push(np.concatenate([first, second]))
    assert session.level.level_dbfs == pytest.approx(stream.level.level_dbfs, abs=1e-9)
    estimate = session.flush(keep_speaker=True)[-1][1:]
    assert np.abs(np.array(estimate) - alone[-1][1:]).max() > 1e-3  # the first utterance was heard
    settings, frames = session.speaker_features.settings, np.concatenate(mapped, dtype=np.float64)
    weight, (mean, variance) = settings.prior_seconds * settings.frame_rate, settings.reference(neutral=True)
    expected_mean = (weight * mean + frames.sum(0)) / (weight + len(frames))
    expected_variance = (weight * (variance + mean ** 2) + np.square(frames).sum(0)) / (weight + len(frames)) \
        - expected_mean ** 2
    np.testing.assert_allclose(session.speaker_features.statistics[0], expected_mean, atol=1e-6)
    np.testing.assert_allclose(session.speaker_features.statistics[1], expected_variance, atol=1e-6)
    session.flush()
    np.testing.assert_allclose(session.speaker_features.statistics[0], mean, atol=1e-9)
    assert session.level.level_dbfs is None


def test_calibrate_speaker_measures_level_and_context_statistics_as_training_does(speaker_models, audio):
    cpc, recognizer, folder = speaker_models
    features = json.loads((folder / "model.json").read_text())["features"]
    clips = [audio[:30000], 0.3 * audio[20000:]]  # one speaker, a quieter second recording
    level = float(np.median([speech_level(clip) for clip in clips]))
    raw = np.concatenate([_contexts(cpc, clip, level) for clip in clips]).astype(np.float64)
    stream = StreamingRecognizer(folder, interval=math.inf)
    measured_level, (mean, variance) = stream.calibrate_speaker(lambda: ([clip[:7000], clip[7000:]] for clip in clips))
    assert measured_level == pytest.approx(level, abs=1e-6)
    np.testing.assert_allclose(mean, raw.mean(0), atol=1e-4)
    np.testing.assert_allclose(variance, raw.var(0), atol=1e-4)
    mapped = export.stream_contexts(audio, cpc.encoder, cpc.autoregressor, recognizer.frontend, level, features,
                                    (mean, variance))[0]
    estimate = (stream.push(audio) + stream.flush())[-1][1:]
    np.testing.assert_allclose(estimate, _last_predictions(recognizer, mapped, [298])[0], atol=1e-4)
    neutral_level, (neutral_mean, _) = stream.calibrate_speaker(lambda: ([clip] for clip in clips),
                                                                lambda: ([clip] for clip in clips[1:]))
    assert neutral_level == measured_level  # the level from all recordings, the features from the neutral ones
    np.testing.assert_allclose(neutral_mean, _contexts(cpc, clips[1], level).mean(0), atol=1e-4)
    stream.calibrate_speaker(lambda: ([clip] for clip in clips), neutral=False)  # an acted corpus: every emotion
    corpus = FeatureSettings(**features).reference(neutral=False)
    acted = (stream.push(audio) + stream.flush())[-1][1:]
    expected = to_reference(_contexts(cpc, audio, level), (mean, variance), corpus, features["epsilon"])
    np.testing.assert_allclose(acted, _last_predictions(recognizer, expected, [298])[0], atol=1e-4)
    assert np.abs(np.array(acted) - estimate).max() > 1e-3  # the neutral reference moved the estimate
    stream.calibrate(None)  # cleared: the running estimate again
    uncalibrated = (stream.push(audio) + stream.flush())[-1][1:]
    assert np.abs(np.array(uncalibrated) - estimate).max() > 1e-3


@pytest.mark.parametrize("feature_seconds", [None, 15.0])
def test_the_protocol_measures_a_speakers_calibration_once_per_set_of_clips(speaker_models, audio, monkeypatch,
                                                                           feature_seconds):
    """`--calibration clean` calibrates each speaker with the same clips under every condition: measured once, and
    used as a fresh calibration would be; other clips of the same files (another condition's) are measured again, and
    replace them (one calibration kept per set of files)."""
    _, _, folder = speaker_models
    utterances, other = ([EmotionUtterance(f"{s}clip{i}.wav", s, 0.0, 0.0, 0.0, "angry") for i in range(2)]
                         for s in ("Actor_98", "Actor_99"))
    clips, quieter = [audio[:30000], audio[20000:]], [0.3 * audio[:30000], 0.3 * audio[20000:]]
    fresh = robustness.StreamPredictor(str(folder), feature_seconds=feature_seconds)
    fresh.calibrate(clips, utterances)
    expected = fresh(audio[5000:40000])
    predict = robustness.StreamPredictor(str(folder), feature_seconds=feature_seconds)
    measured, measure = [], predict.recognizer.calibrate_speaker
    monkeypatch.setattr(predict.recognizer, "calibrate_speaker", lambda *a, **k: measured.append(1) or measure(*a, **k))
    for calibration, files, measures in [(clips, utterances, 1), (clips, other, 1), (clips, utterances, 0),
                                         (quieter, utterances, 1), (quieter, utterances, 0), (clips, utterances, 1)]:
        before = len(measured)
        predict.calibrate(calibration, files)
        estimate = predict(audio[5000:40000])
        assert (np.abs(estimate - expected).max() < 1e-6) == (calibration is clips)
        assert len(measured) - before == measures
    assert len(predict.calibrations) == 2


def test_the_protocol_can_presume_a_calibration_neutral_as_analyze_presumes_a_folder(speaker_models, audio):
    """`--presume-neutral`: the speaker's statistics mapped onto the model's neutral reference, as `app.analyze`
    maps a folder's, instead of the corpus's (a RAVDESS actor's clips hold every emotion)."""
    _, _, folder = speaker_models
    utterances = [EmotionUtterance(f"clip{i}.wav", "Actor_99", 0.0, 0.0, 0.0, "angry") for i in range(2)]
    clips = [audio[:30000], 0.3 * audio[20000:]]
    estimates = {}
    for neutral in (False, True):
        predict = robustness.StreamPredictor(str(folder), neutral=neutral)
        predict.calibrate(clips, utterances)
        estimates[neutral] = predict(audio[5000:40000])
    analyzed = StreamingRecognizer(folder, interval=math.inf)
    analyzed.calibrate_speaker(robustness.recordings(clips))  # as app.analyze calibrates a folder
    np.testing.assert_allclose(estimates[True], (analyzed.push(audio[5000:40000]) + analyzed.flush())[-1][1:],
                               atol=1e-6)
    assert np.abs(estimates[True] - estimates[False]).max() > 1e-3
    report = {"fold": 0, "test": "held-out utterances of ravdess fold 0", "utterances": 2, "speakers": ["Actor_99"],
              "seed": 0, "calibration": "corpus", "presumed_neutral": True,
              "conditions": {"clean": {"model": dict.fromkeys(DIMENSIONS, 0.5)}}}
    assert robustness.markdown(report).splitlines()[0] == (
        "2 held-out utterances of ravdess fold 0 (Actor_99); seed 0; every speaker calibrated with all speakers' clips "
        "under the condition, presumed neutral speech; each clip a stream.")
    many = {**report, "speakers": [f"{i:04}" for i in range(1001, 1014)]}  # a corpus's many speakers are counted
    assert robustness.markdown(many).startswith("2 held-out utterances of ravdess fold 0 (13 speakers); seed 0;")


def test_analyze_acted_maps_a_folders_statistics_onto_the_corpus_not_the_neutral_reference(speaker_models, audio,
                                                                                          tmp_path):
    """`app.analyze --acted`: a folder's files hold every emotion (an acted corpus), so their statistics are mapped
    as training and the protocol map an actor's; by default they are presumed neutral on average."""
    _, _, folder = speaker_models
    clips = [audio[:30000], 0.3 * audio[20000:]]
    for index, clip in enumerate(clips):
        soundfile.write(tmp_path / f"clip{index}.wav", clip, 16000, subtype="FLOAT")
    rows = {}
    for acted in (False, True):
        out = tmp_path / f"acted{acted}.csv"
        analyze.main([str(tmp_path), "--model", str(folder), "--csv", str(out), *(["--acted"] if acted else [])])
        with open(out, newline="") as handle:
            rows[acted] = np.array([[float(row[d]) for d in DIMENSIONS] for row in csv.DictReader(handle)])
        reference = StreamingRecognizer(folder)
        reference.calibrate_speaker(robustness.recordings(clips), neutral=not acted)
        expected = [p[1:] for clip in clips for p in reference.push(clip) + reference.flush()]
        np.testing.assert_allclose(rows[acted], expected, atol=1e-4)
    assert np.abs(rows[True] - rows[False]).max() > 1e-3
