"""Tests of the linear MFCC baseline's ridge regression and statistics."""

from __future__ import annotations

import numpy as np

from keras_cpc.floor import fit_ridge, statistics


def test_ridge_without_penalty_is_least_squares():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    y = x @ rng.normal(size=(4, 3)) + 2.0 + rng.normal(scale=0.1, size=(50, 3))
    weights, bias = fit_ridge(x, y, 0.0)
    solution = np.linalg.lstsq(np.hstack([x, np.ones((50, 1))]), y, rcond=None)[0]
    np.testing.assert_allclose(weights, solution[:4], atol=1e-10)
    np.testing.assert_allclose(bias, solution[4], atol=1e-10)


def test_ridge_penalty_matches_the_augmented_system_and_leaves_the_bias_free():
    rng = np.random.default_rng(1)
    x, y, penalty = rng.normal(size=(30, 5)), rng.normal(size=(30, 2)), 7.0
    weights, bias = fit_ridge(x, y, penalty)
    centred_x, centred_y = x - x.mean(0), y - y.mean(0)  # the bias absorbs the means
    augmented_x = np.vstack([centred_x, np.sqrt(penalty) * np.eye(5)])
    augmented_y = np.vstack([centred_y, np.zeros((5, 2))])
    np.testing.assert_allclose(weights, np.linalg.lstsq(augmented_x, augmented_y, rcond=None)[0], atol=1e-10)
    np.testing.assert_allclose((x @ weights + bias).mean(0), y.mean(0), atol=1e-10)
    assert np.abs(weights).sum() < np.abs(fit_ridge(x, y, 0.0)[0]).sum()


def test_statistics_are_mean_then_std_over_time(tmp_path):
    frames = np.arange(12, dtype=np.float16).reshape(4, 3)
    np.save(tmp_path / "a.npy", frames)
    np.testing.assert_allclose(statistics([tmp_path / "a.npy"]),
                               [[4.5, 5.5, 6.5, *np.full(3, np.sqrt(11.25))]])
