"""Central differences: the gradient of a function of an array, entry by entry or along a direction."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(fn: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences (f(x + eps) - f(x - eps)) / 2eps of ``fn()`` for each entry of ``array``.

    ``array`` is perturbed in place (and restored), so ``fn`` must read it.
    """
    flat = array.reshape(-1)
    if not np.shares_memory(flat, array):
        raise ValueError("numerical_gradient: the array must be contiguous so it can be perturbed in place")
    result = np.empty(array.size, dtype=np.float64)
    for j in range(array.size):
        original = flat[j]
        flat[j] = original + eps
        plus = fn()
        flat[j] = original - eps
        minus = fn()
        flat[j] = original
        result[j] = (plus - minus) / (2 * eps)
    return result.reshape(array.shape)


def directional_derivative(
    fn: Callable[[], float], array: np.ndarray, direction: np.ndarray, eps: float = 1e-6
) -> float:
    """Central difference of ``fn()`` along ``direction``: (f(x + eps d) - f(x - eps d)) / 2eps.

    ``array`` is perturbed in place (and restored), so ``fn`` must read it.
    """
    original = array.copy()
    try:
        array += eps * direction
        plus = fn()
        array[...] = original - eps * direction
        minus = fn()
    finally:
        array[...] = original
    return (plus - minus) / (2 * eps)


def random_directions(shape: tuple[int, ...], count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` random unit vectors of ``shape`` (the cheap check for big arrays, as HIPS autograd does)."""
    directions = []
    for _ in range(count):
        d = rng.standard_normal(shape)
        d /= np.linalg.norm(d) or 1.0
        directions.append(d)
    return directions
