"""Encoder arithmetic and `.keras` round trips of every layer, metric and model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import global_dtype_policy
from keras_cpc.layers.mfcc import banded, dct_matrix
from keras_cpc.layers import MFCC, ConvEncoder, FuturePredictor, hop_length, num_frames, receptive_field
from keras_cpc.metrics import StepAccuracy
from keras_cpc.losses import info_nce_logits, sample_negative_indices
from keras_cpc.models import CPC
from keras_cpc.models.cpc import example_seeds

TINY = dict(encoder_channels=8, context_units=12, prediction_steps=3, negatives=4)


def test_paper_encoder_arithmetic():
    kernels, strides = (10, 8, 8, 4), (5, 4, 4, 2)
    assert hop_length(strides) == 160  # 100 frames/s at 16 kHz
    assert receptive_field(kernels, strides) == 10 + 7 * 5 + 7 * 20 + 3 * 80  # 425 samples
    # 10 s: ((((160000 - 10)//5 + 1 - 8)//4 + 1 - 8)//4 + 1 - 4)//2 + 1 = 998 frames
    assert num_frames(160000, kernels, strides) == 998
    assert num_frames(425, kernels, strides) == 1
    assert num_frames(424, kernels, strides) == 0


@pytest.mark.parametrize("samples", [425, 585, 1000, 16000, 16161])
def test_encoder_output_length_follows_conv_arithmetic(samples):
    encoder = ConvEncoder(channels=4)
    frames = encoder(np.zeros((2, samples), np.float32))
    assert frames.shape == (2, (samples - 425) // 160 + 1, 4)
    assert frames.shape[1] == num_frames(samples, encoder.kernel_sizes, encoder.strides)
    assert encoder.compute_output_shape((2, samples)) == tuple(frames.shape)


def roundtrip(obj, tmp_path):
    """Saves `obj` inside a model as `.keras` and loads it back."""
    path = tmp_path / "object.keras"
    obj.save(path)
    return keras.saving.load_model(path)


def test_layers_roundtrip_through_keras_files(tmp_path):
    audio = keras.Input((2000,))
    frames = ConvEncoder(channels=6, kernel_sizes=(4, 3), strides=(2, 2))(audio)
    predictions = FuturePredictor(steps=2, units=5)(frames)
    model = keras.Model(audio, predictions)
    loaded = roundtrip(model, tmp_path)
    x = np.random.default_rng(0).normal(size=(2, 2000)).astype(np.float32)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()


def test_each_step_predictor_starts_like_a_lecun_uniform_linear_map():
    keras.utils.set_random_seed(0)
    predictor = FuturePredictor(steps=12, units=128)
    predictor.build((None, None, 256))
    kernel = keras.ops.convert_to_numpy(predictor.kernel)
    bound = np.sqrt(3 / 256)  # fan-in of one step's map: the 256 context dimensions
    for step in kernel:
        assert np.abs(step).max() <= bound and np.abs(step).max() > 0.99 * bound
        assert np.std(step) == pytest.approx(bound / np.sqrt(3), rel=0.02)


def test_mfcc_of_a_louder_signal_moves_only_the_first_coefficient():
    """Twice the amplitude adds log 2 to every log-mel band; the DCT-II (scaled by 1/sqrt(2 * 40), as
    tf.signal's) of that constant is sqrt(2 * 40) * log 2 in c0 and nothing in the others."""
    audio = np.random.default_rng(0).normal(size=(1, 4000)).astype(np.float32)
    layer = MFCC()
    quiet, loud = (keras.ops.convert_to_numpy(layer(a)) for a in (audio, 2 * audio))
    assert quiet.shape == (1, 1 + (4000 - 400) // 160, 40)
    np.testing.assert_allclose(loud[..., 0] - quiet[..., 0], np.sqrt(80) * np.log(2), rtol=1e-4)
    np.testing.assert_allclose(loud[..., 1:], quiet[..., 1:], atol=1e-4)
    assert np.abs(quiet[..., 1:]).max() > 0.1


def test_the_mfcc_dct_is_tf_signals_as_a_matrix_product():
    """LiteRT has no builtin op for tf.signal's DCT; the matrix gives its coefficients."""
    log_mel = np.random.default_rng(1).normal(size=(3, 7, 40)).astype(np.float32)
    np.testing.assert_allclose(log_mel @ dct_matrix(40), tf.signal.mfccs_from_log_mel_spectrograms(log_mel).numpy(),
                               atol=1e-5)


def test_an_mfcc_band_outside_the_spectrum_or_upside_down_is_an_error():
    for band in ((3400, 300), (20, 9000), (-1, 300)):
        with pytest.raises(ValueError, match="MFCC band .* is not within 0 .. 8000 Hz"):
            MFCC(band=band)


def _numpy_mfcc(audio: np.ndarray, bands: int = 40, window: int = 400, hop: int = 160, rate: int = 16000,
                fft: int = 512) -> np.ndarray:
    """MFCCs from their definition: periodic Hann frames, |rFFT|, HTK mel triangles over 20 Hz .. rate / 2
    (without the DC bin), log(x + 1e-6), DCT-II scaled by 1 / sqrt(2 * bands)."""
    def htk_mel(hz):
        return 1127.0 * np.log1p(np.asarray(hz) / 700.0)

    frames = np.stack([audio[i:i + window] for i in range(0, len(audio) - window + 1, hop)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
    spectrum = np.abs(np.fft.rfft(frames * hann, n=fft))
    mel = htk_mel(np.linspace(0, rate / 2, fft // 2 + 1)[1:])
    edges = np.linspace(htk_mel(20), htk_mel(rate / 2), bands + 2)
    rising = (mel[:, None] - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    falling = (edges[None, 2:] - mel[:, None]) / (edges[2:] - edges[1:-1])
    triangles = np.vstack([np.zeros(bands), np.maximum(0, np.minimum(rising, falling))])
    log_mel = np.log(spectrum @ triangles + 1e-6)
    n = np.arange(bands)
    dct = 2 * np.cos(np.pi * n[:, None] * (2 * n[None, :] + 1) / (2 * bands))  # [k, n]
    return log_mel @ dct.T / np.sqrt(2 * bands)


def test_mfcc_matches_a_numpy_reference_and_finds_a_tone():
    rng = np.random.default_rng(1)
    tone = np.sin(2 * np.pi * 1000 * np.arange(4000) / 16000)
    for audio in (0.1 * rng.normal(size=4000), 0.5 * tone + 0.01 * rng.normal(size=4000)):
        ours = keras.ops.convert_to_numpy(MFCC()(audio[None].astype(np.float32)))[0]
        np.testing.assert_allclose(ours, _numpy_mfcc(audio), rtol=0, atol=1e-4)
    assert np.abs(ours[:, 1:]).max() > 1.0  # a tone is far from a flat spectrum


def test_cpc_and_mfcc_under_a_mixed_precision_policy(tmp_path):
    """The model's policy reaches every sublayer (also when loaded under another global policy), the
    InfoNCE logits stay float32, and MFCC computes in float32 (tf.signal.stft takes no float16)."""
    audio = tf.random.normal((2, 4000), seed=1)
    with global_dtype_policy("mixed_float16"):
        model = CPC(**TINY, dtype="float32")
        model.build(audio.shape)
        mixed = CPC(**TINY)
        mixed.build(audio.shape)
        mixed.set_weights(model.get_weights())
        mfcc = MFCC()
        features = keras.ops.convert_to_numpy(mfcc(audio))
    assert {layer.dtype_policy.name for layer in model._flatten_layers()} == {"float32"}
    assert {layer.dtype_policy.name for layer in mixed._flatten_layers()} == {"mixed_float16"}
    logits, mixed_logits = model(audio), mixed(audio)
    assert logits.dtype == mixed_logits.dtype == tf.float32
    # positives only: negatives are drawn from seeds hashed from the (float16-rounded) audio
    np.testing.assert_allclose(mixed_logits[..., 0], logits[..., 0], rtol=0.05, atol=1e-3)
    loaded = roundtrip(mixed, tmp_path)  # under the float32 policy
    assert {layer.dtype_policy.name for layer in loaded._flatten_layers()} == {"mixed_float16"}
    assert mfcc.dtype_policy.name == "float32" and features.dtype == np.float32
    np.testing.assert_allclose(features, keras.ops.convert_to_numpy(MFCC()(audio)))


def test_step_accuracy_accumulates_and_roundtrips():
    metric = StepAccuracy(steps=2)
    metric.update_state([1.0, 0.0])
    metric.update_state([0.5, 0.5])
    assert {k: float(v) for k, v in metric.result().items()} == {"acc_01": 0.75, "acc_02": 0.25}
    metric.reset_state()
    metric.update_state([1.0, 0.5], sample_weight=6)  # a full batch of 6 contexts
    metric.update_state([0.0, 0.5], sample_weight=2)  # a short last batch
    metric.update_state([1.0, 1.0], sample_weight=0)  # an empty batch (a replica with nothing left)
    assert {k: float(v) for k, v in metric.result().items()} == {"acc_01": 0.75, "acc_02": 0.5}
    clone = StepAccuracy.from_config(metric.get_config())
    assert clone.steps == 2 and clone.name == metric.name


def test_an_uncompiled_cpc_runs_in_training_mode():
    model = CPC(**TINY)
    assert model(tf.random.normal((2, 4000), seed=1), training=True).shape[0] == 2


def test_cpc_refuses_a_waveform_too_short_to_predict_its_steps():
    model = CPC(**TINY)
    assert model.min_samples == receptive_field([10, 8, 8, 4], [5, 4, 4, 2]) + 3 * 160  # 3 steps, 160-sample hop
    logits = model(tf.random.normal((2, model.min_samples), seed=1))
    assert logits.shape[:2] == (2, 1)  # one context, scored against its 3rd frame ahead
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"at least {model.min_samples} samples"):
        model(tf.random.normal((2, model.min_samples - 1), seed=1))


def test_cpc_context_can_hear_an_augmented_copy_of_its_targets():
    model = CPC(**TINY)
    clean = tf.random.normal((2, 4000), seed=1)
    heard = clean + 0.5 * tf.random.normal((2, 4000), seed=2)
    np.testing.assert_array_equal(model((clean, clean)), model(clean))  # a clean pair is the plain input
    frames = model.encoder(clean)
    contexts = frames.shape[1] - TINY["prediction_steps"]
    predictions = model.predictor(model.autoregressor(model.encoder(heard))[:, :contexts])
    negatives = sample_negative_indices(example_seeds(clean, 0), contexts, frames.shape[1], TINY["negatives"],
                                        TINY["prediction_steps"])
    np.testing.assert_allclose(model((heard, clean)), info_nce_logits(frames, predictions, negatives), atol=1e-6)
    assert not np.allclose(model((heard, clean)), model(clean))


def test_cpc_roundtrips_with_identical_outputs(tmp_path):
    model = CPC(**TINY)
    inputs = tf.random.normal((2, 4000), seed=1)
    expected = model(inputs)
    loaded = roundtrip(model, tmp_path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded(inputs), expected, atol=1e-6)
    np.testing.assert_allclose(loaded.context(inputs), model.context(inputs), atol=1e-6)


def test_cpc_learns_on_a_tiny_batch():
    model = CPC(**TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    rng = np.random.default_rng(0)
    audio = np.sin(np.arange(6000) * 0.05)[None] * rng.uniform(0.2, 1, size=(4, 1))
    x = audio.astype(np.float32)
    before = model.evaluate(x, verbose=0, return_dict=True)
    assert set(before) >= {"loss", "acc_01", "acc_03"}
    assert before["loss"] == pytest.approx(np.log(1 + TINY["negatives"]), rel=0.1)  # chance: 1 in 5
    model.fit(tf.data.Dataset.from_tensors(x).repeat(30), epochs=1, verbose=0, shuffle=False)
    after = model.evaluate(x, verbose=0, return_dict=True)
    assert after["loss"] < 0.7 * before["loss"]
    assert after["acc_01"] > 0.5  # well above chance (0.2)


def test_a_banded_matrix_product_equals_the_full_one():
    matrix = np.zeros((12, 4), np.float32)
    matrix[1:4, 0], matrix[3:9, 1], matrix[8:12, 2] = 0.5, np.arange(1, 7), -1.0  # column 3: all zero
    indices, weights = banded(matrix)
    assert indices.shape == weights.shape == (4, 6)
    x = np.random.default_rng(2).normal(size=(5, 12)).astype(np.float32)
    np.testing.assert_allclose((x[:, indices] * weights).sum(-1), x @ matrix, rtol=1e-6, atol=1e-6)
