"""AdamL2: Adam on the gradient of the loss plus an L2 penalty (PyTorch's Adam weight_decay)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_cpc.optimizers import AdamL2

L2 = 0.5


def _trained(optimizer: keras.optimizers.Optimizer, penalty: float, steps: int = 20) -> list[np.ndarray]:
    """Weights of a seeded linear model after `steps` of `optimizer` on MSE + penalty / 2 * sum(w ** 2)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 3)).astype("float32")
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean((model(x) - y) ** 2)
            loss += penalty / 2 * sum(keras.ops.sum(w ** 2) for w in model.trainable_weights)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
    return [w.copy() for w in model.get_weights()]


def test_adam_l2_is_adam_on_the_loss_plus_an_l2_penalty():
    ours = _trained(AdamL2(0.01, l2=L2), 0.0)
    reference = _trained(keras.optimizers.Adam(0.01), L2)
    plain = _trained(keras.optimizers.Adam(0.01), 0.0)
    for a, b, c in zip(ours, reference, plain):
        np.testing.assert_allclose(a, b, atol=1e-6)
        assert np.abs(a - c).max() > 1e-3  # the penalty matters at this size


def test_adam_l2_follows_pytorchs_update_on_a_pure_penalty():
    """No loss gradient: the gradient is l2 * w. PyTorch's Adam, in NumPy: m, v moments, bias-corrected,
    w -= lr * m_hat / (sqrt(v_hat) + eps). By hand, step 1 is w - lr (m_hat / sqrt(v_hat) = 1)."""
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    start = np.array([1.0, -2.0, 0.5], np.float32)
    variable = keras.Variable(start)
    optimizer = AdamL2(lr, l2=L2, epsilon=eps)
    w, m, v, trajectory = start.astype(np.float64), 0.0, 0.0, []
    for t in range(1, 6):
        optimizer.apply_gradients([(keras.ops.zeros(3), variable)])
        g = L2 * w
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g ** 2
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        trajectory.append((keras.ops.convert_to_numpy(variable), w))
    # Keras's float32 bias correction (1 - 0.999 in float32) moves a 0.1 step by about 1e-6
    np.testing.assert_allclose(trajectory[0][0], start - lr * np.sign(start), atol=2e-6)
    for ours, reference in trajectory:
        np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_the_papers_weight_decay_moves_the_weights():
    decayed = _trained(AdamL2(2e-4, l2=1e-5), 0.0, steps=50)
    plain = _trained(keras.optimizers.Adam(2e-4), 0.0, steps=50)
    assert any(not np.array_equal(a, b) for a, b in zip(decayed, plain))


def test_a_saved_model_keeps_its_adam_l2(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(AdamL2(3e-4, l2=1e-5), "mse")
    model.fit(np.ones((4, 4)), np.ones((4, 3)), verbose=0)
    model.save(tmp_path / "model.keras")
    optimizer = keras.saving.load_model(tmp_path / "model.keras").optimizer
    assert isinstance(optimizer, AdamL2) and optimizer.l2 == 1e-5
    assert np.isclose(float(optimizer.learning_rate), 3e-4)
