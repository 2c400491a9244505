"""Helpers shared by the compile tests: closeness to eager, and gradients read and cleared."""

from __future__ import annotations

import numpy as np

RTOL = 1e-12


def assert_close(actual, expected, what: str = "") -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    assert actual.dtype == expected.dtype, what
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def gradients(params) -> list[np.ndarray]:
    return [np.array(p.grad) for p in params]


def clear(params) -> None:
    for p in params:
        p.grad = None


def one_hot_batch(rng, m: int, classes: int = 10) -> np.ndarray:
    return np.eye(classes)[rng.integers(0, classes, m)]
