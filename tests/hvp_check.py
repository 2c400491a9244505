"""A one-line second-order check for any op: Hessian-vector products by double backward against central
differences of the gradient (shared by test_ops_new, test_conv and test_losses)."""

from __future__ import annotations

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor


def gradients(fn, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Plain first-order gradients of the scalar fn(*tensors) with respect to every input."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    return ag.grad(fn(*tensors), tensors)


def check_hvp(fn, *arrays, eps: float = 1e-5, rtol: float = 1e-5, atol: float = 1e-7, seed: int = 0) -> None:
    """For a scalar fn(*tensors): gradients recorded under create_graph equal the plain ones, and their
    derivative along a random direction v (all inputs at once, H v) equals central differences of the
    plain gradients along v."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    rng = np.random.default_rng(seed)
    directions = [rng.standard_normal(a.shape) for a in arrays]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    recorded = ag.grad(fn(*tensors), tensors, create_graph=True)
    for g, plain in zip(recorded, gradients(fn, arrays), strict=True):
        np.testing.assert_allclose(g.data, plain, rtol=1e-12, atol=1e-12)
    along = sum((g * v).sum() for g, v in zip(recorded, directions, strict=True))
    analytic = ag.grad(along, tensors, allow_unused=True)
    plus = gradients(fn, [a + eps * v for a, v in zip(arrays, directions, strict=True)])
    minus = gradients(fn, [a - eps * v for a, v in zip(arrays, directions, strict=True)])
    for i, (h, p, m) in enumerate(zip(analytic, plus, minus, strict=True)):
        numeric = (p - m) / (2 * eps)
        h = np.zeros_like(numeric) if h is None else h
        assert h.shape == numeric.shape
        np.testing.assert_allclose(h, numeric, rtol=rtol, atol=atol, err_msg=f"H v for input {i}")


def weighted_square(out: Tensor) -> Tensor:
    """sum(w * out**2) with fixed signed weights: a scalar whose Hessian involves the op's VJP twice."""
    weights = np.random.default_rng(out.size).uniform(0.5, 1.5, out.shape)
    weights = weights * np.where(np.arange(out.size).reshape(out.shape) % 2, -1.0, 1.0)
    return (out * out * weights).sum()
