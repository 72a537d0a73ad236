"""The models shipped in assets/models: metadata, outputs on the sample clips, held-out quality."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile
from ai_edge_litert.interpreter import Interpreter

from app.engine.analysis import analyze_file
from app.engine.streaming import StreamingRecognizer
from keras_cpc.audio import audio_files, load_audio
from keras_cpc.datasets import EmotionUtterance, labels
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.export import stream_contexts
from keras_cpc.datasets.ravdess import EMOTIONS
from keras_cpc.metrics.ccc import ccc
from keras_cpc.models import CPC, RecognizerEnsemble
from keras_cpc.suppression import RNNOISE, SuppressionSettings
from training.heldout import stream_predictions
from tools.model_card import CARD, rewrite
from training.robustness import StreamPredictor

REPO = Path(__file__).resolve().parents[1]
EMOTION = REPO / "assets" / "models" / "emotion"
CPC_PATH = REPO / "assets" / "models" / "cpc_librispeech.keras"
CLIPS = audio_files([REPO / "assets" / "samples" / "ravdess" / "Actor_02"])  # held out of training
RAVDESS = REPO.parent / "shared" / "data" / "ravdess"
FLOAT_TOLERANCE = 1e-4
# int8 weights quantize each layer's input on the fly: a float round-off that differs between CPUs (AVX2 or
# AVX-512 kernels) can move one of them by a step; a clip's last output moves far less than this
INT8_TOLERANCE = 0.01
# the int8 model's .tflite files together: issue 26's 1.5 MB held one head; the ensemble's three (session 29) need 2.9
EDGE_BUDGET_BYTES = 3_000_000
MINIMUM_HELDOUT_CCC = {"activation": 0.66, "valence": 0.42}  # what the out-of-domain issue asked to keep
# The floor on the same actors: python -m training.linear_baseline --corpus ravdess (fold 0)
MFCC_RIDGE_FOLD0 = {"activation": 0.614, "valence": 0.207, "dominance": 0.272}


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((EMOTION / "expected.json").read_text())


@pytest.mark.parametrize("name", ["float", "int8"])
def test_metadata_describes_the_model(name):
    config = json.loads((EMOTION / name / "model.json").read_text())
    assert config["sample_rate"] == 16000 and config["hop_samples"] == 1600 and config["window_frames"] == 500
    assert config["outputs"] == ["activation", "valence", "dominance"] and config["output_scale"] == [-1.0, 1.0]
    assert "RAVDESS" in config["training_data"] and "LibriSpeech" in config["training_data"]
    assert config["licence"].startswith("CC BY-NC-SA 4.0")
    assert config["model_version"].startswith("precpc-ravdess-fold0-")
    # gated, before the level normalisation; level 4 where the noise floor is steady, RNNoise where its SNR is also low,
    # its output mixed with the input 30 dB below it
    assert config["frontend"]["suppression"] == vars(SuppressionSettings(2, steady_level=4, low_snr_level=RNNOISE,
                                                                         rnnoise_limit_db=30.0))
    expected = {"cpc_step": "none", "head": "none"} if name == "float" else {"cpc_step": "dynamic", "head": "dynamic"}
    assert config["quantization"] == expected
    assert config["int8_weight_ops"] == ({} if name == "float" else {"cpc_step": ["CONV_2D", "FULLY_CONNECTED"],
                                                                      "head": ["FULLY_CONNECTED"]})
    for model in ("cpc_step", "head"):
        interpreter = Interpreter(model_path=str(EMOTION / name / f"{model}.tflite"))
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops)


def test_model_card_tables_come_from_the_records():
    heldout = json.loads((EMOTION / "heldout.json").read_text())
    robustness = json.loads((EMOTION / "robustness" / "results.json").read_text())
    card = CARD.read_text()
    assert rewrite(card, heldout, robustness) == card  # python -m tools.model_card
    with pytest.raises(ValueError, match="0 places match"):
        rewrite(card.replace("Neutral read speech", "Read speech"), heldout, robustness)


def test_int8_model_fits_the_edge_budget():
    sizes = {name: sum(path.stat().st_size for path in (EMOTION / name).glob("*.tflite")) for name in ("float", "int8")}
    assert sizes["int8"] <= EDGE_BUDGET_BYTES and sizes["int8"] < 0.3 * sizes["float"]  # int8 weights: a quarter


@pytest.mark.parametrize("name", ["float", "int8"])
def test_outputs_on_the_sample_clips_match_the_stored_values(name, expected):
    tolerance = FLOAT_TOLERANCE if name == "float" else INT8_TOLERANCE
    recognizer = StreamingRecognizer(EMOTION / name)
    assert sorted(expected[name]) == [clip.name for clip in CLIPS]
    for clip in CLIPS:
        np.testing.assert_allclose(analyze_file(recognizer, clip)[-1], expected[name][clip.name],
                                   atol=tolerance, err_msg=clip.name)


def test_int8_estimates_follow_the_float_models_on_the_sample_clips():
    """Every estimate of the 8 clips: from 2 s on within 0.12 of the float model's (measured 0.059; session 28's
    single head 0.080), each clip's median within 0.10 (measured at most 0.048; seven clips 0.009-0.029). The gap is
    the int8-weight step model's:
    its errors feed back through the GRU (the float model itself moves by 0.12 early in a clip when its input audio is rounded to 8 bits), and the
    float step with the int8 head stays within 0.004 (session 23's head). Heads on contexts alone read them more
    strongly (session 24's 0.121 and 0.114, session 23's 0.163 and 0.118); over whole sets the int8 model stays within
    0.002 CCC of float on held-out actors and 0.005 under every out-of-domain condition."""
    float_model, int8_model = StreamingRecognizer(EMOTION / "float"), StreamingRecognizer(EMOTION / "int8")
    for clip in CLIPS:
        reference, quantized = (np.array(analyze_file(model, clip)) for model in (float_model, int8_model))
        np.testing.assert_array_equal(quantized[:, 0], reference[:, 0])
        gaps = np.abs(quantized[:, 1:] - reference[:, 1:]).max(axis=1)
        assert gaps[reference[:, 0] >= 2.0].max() <= 0.12 and np.median(gaps) <= 0.10, clip.name


@pytest.mark.parametrize("snr_db", [None, 10.0], ids=["clean", "white noise"])  # noise: RNNoise's path
def test_float_export_matches_the_keras_models_on_a_sample_clip(snr_db, tmp_path):
    recognizer = keras.saving.load_model(EMOTION / "recognizer.keras")
    cpc = keras.saving.load_model(CPC_PATH)
    assert isinstance(recognizer, RecognizerEnsemble) and len(recognizer.members) == 3 and isinstance(cpc, CPC)
    audio = load_audio(CLIPS[4])  # angry
    if snr_db is not None:
        noise = np.random.default_rng(0).normal(0, np.sqrt(np.mean(audio**2) / 10 ** (snr_db / 10)), len(audio))
        audio = (audio + noise).astype(np.float32)
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, audio, 16000, subtype="FLOAT")
    config = json.loads((EMOTION / "float" / "model.json").read_text())  # its front end: the suppression too
    contexts = stream_contexts(load_audio(clip), cpc.encoder, cpc.autoregressor, config["frontend"],
                               features=config.get("features"), append=recognizer.appended_mfccs())[:, -500:]
    reference = keras.ops.convert_to_numpy(
        recognizer({"features": contexts, "lengths": np.array([contexts.shape[1]], np.int32)}))[0]
    streamed = analyze_file(StreamingRecognizer(EMOTION / "float"), clip)[-1]
    np.testing.assert_allclose(streamed[1:], reference, atol=1e-4)


@pytest.mark.parametrize("scale", [0.1, 3.0])
def test_a_quieter_or_louder_speaker_gets_the_same_estimates(scale):
    """The shipped int8 model on a held-out actor's clips, calibrated as the out-of-domain protocol calibrates
    an actor (on the clips as they are: `training.robustness.StreamPredictor`), at -20 dB and +9.5 dB: every
    estimate within 0.035 of the original's (measured 0.016 and 0.008; the float model 0.014 and 0.006)."""
    predict = StreamPredictor(str(EMOTION / "int8"))
    utterances = [EmotionUtterance(str(clip), "Actor_02", 0, 0, 0, EMOTIONS[clip.name.split("-")[2]][0])
                  for clip in CLIPS]

    def estimates(clips):
        predict.calibrate(clips, utterances)
        return np.array([predict(clip) for clip in clips])

    clips = [load_audio(clip) for clip in CLIPS]
    original, scaled = estimates(clips), estimates([clip * scale for clip in clips])
    assert np.ptp(original, axis=0).min() > 0.2  # the clips' emotions differ
    np.testing.assert_allclose(scaled, original, atol=0.035)


@pytest.mark.slow
@pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"RAVDESS absent: {RAVDESS}")
def test_int8_model_on_the_held_out_actors():
    _, _, test = split("ravdess", read_corpus("ravdess", str(RAVDESS)), 0, 4, 0.2, 0)
    stored = json.loads((EMOTION / "heldout.json").read_text())
    assert stored["utterances"] == len(test)
    predicted = stream_predictions(str(EMOTION / "int8"), test)  # each actor calibrated as in training
    scores = dict(zip(("activation", "valence", "dominance"), ccc(labels(test), predicted)))
    int8 = next(v for k, v in stored["ccc"].items() if k.endswith("int8"))
    float_scores = next(v for k, v in stored["ccc"].items() if k.endswith("float"))
    for dimension, score in scores.items():
        assert score == pytest.approx(int8[dimension], abs=5e-3), dimension
        assert score == pytest.approx(float_scores[dimension], abs=0.02), dimension  # int8 loses nothing
    for dimension, minimum in MINIMUM_HELDOUT_CCC.items():
        assert scores[dimension] >= minimum, dimension
    for dimension, floor in MFCC_RIDGE_FOLD0.items():
        assert scores[dimension] > floor, dimension
