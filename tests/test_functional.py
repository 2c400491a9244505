"""vjp, jvp, jacobian, hessian and hvp against central differences, on non-trivial functions."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.checking.numeric import numerical_gradient

RNG = np.random.default_rng(0)
X_DATA = RNG.standard_normal((5, 3))
Y_DATA = np.eye(2)[RNG.integers(0, 2, 5)]


def mixed(x):
    """R^(3x4) -> R^(3x3): softmax, tanh, exp and a matmul with itself (fan-out)."""
    return ag.softmax(x, axis=1) @ (x.tanh() * x.exp()).T


def scalar(x):
    return ag.logsumexp(mixed(x)) + (x.sigmoid() ** 3).sum()


def tutorial_cost(theta1, b1, theta2, b2):
    """The tutorial network's cost as a function of its parameters (the digits network, in small)."""
    a2 = (Tensor(X_DATA) @ theta1.T + b1).sigmoid()
    z3 = a2 @ theta2.T + b2
    return ag.binary_cross_entropy_with_logits(z3, Y_DATA, reduction="sum") / 5 + 0.1 * (theta1**2).sum()


PARAMS = (
    RNG.standard_normal((4, 3)),
    RNG.standard_normal(4),
    RNG.standard_normal((2, 4)),
    RNG.standard_normal(2),
)
X = RNG.standard_normal((3, 4))


def value(fn, *arrays) -> np.ndarray:
    with ag.no_grad():
        return np.array(fn(*[Tensor(a) for a in arrays]).data)


def numeric_jacobian(fn, arrays, i, eps=1e-6):
    """d fn / d arrays[i] by central differences, of shape out.shape + arrays[i].shape."""
    arrays = [np.array(a, dtype=np.float64, order="C") for a in arrays]
    out_shape = value(fn, *arrays).shape
    flat = arrays[i].reshape(-1)
    columns = []
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + eps
        plus = value(fn, *arrays)
        flat[k] = original - eps
        minus = value(fn, *arrays)
        flat[k] = original
        columns.append((plus - minus) / (2 * eps))
    return np.moveaxis(np.array(columns), 0, -1).reshape(out_shape + arrays[i].shape)


def test_vjp_matches_central_differences():
    v = RNG.standard_normal((3, 3))
    out, got = ag.vjp(mixed, X, v)
    np.testing.assert_allclose(out, value(mixed, X))
    work = X.copy()
    expected = numerical_gradient(lambda: float(np.vdot(v, value(mixed, work))), work)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_jvp_by_double_vjp_matches_central_differences():
    v = RNG.standard_normal(X.shape)
    out, got = ag.jvp(mixed, X, v)
    eps = 1e-6
    expected = (value(mixed, X + eps * v) - value(mixed, X - eps * v)) / (2 * eps)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    assert got.shape == out.shape == (3, 3)


def test_jvp_and_vjp_are_adjoint():
    u, v = RNG.standard_normal((3, 3)), RNG.standard_normal(X.shape)
    _, ju = ag.jvp(mixed, X, v)
    _, vj = ag.vjp(mixed, X, u)
    assert np.vdot(u, ju) == pytest.approx(np.vdot(vj, v), rel=1e-10)


def test_jacobian_matches_central_differences():
    got = ag.jacobian(mixed, X)
    assert got.shape == (3, 3, 3, 4)
    np.testing.assert_allclose(got, numeric_jacobian(mixed, [X], 0), rtol=1e-6, atol=1e-8)


def test_jacobian_of_several_inputs_is_one_block_per_input():
    got = ag.jacobian(lambda a, b: (a @ b).tanh(), (X, X.T))
    for i, block in enumerate(got):
        np.testing.assert_allclose(
            block, numeric_jacobian(lambda a, b: (a @ b).tanh(), [X, X.T], i), rtol=1e-6, atol=1e-8
        )


def test_hessian_matches_central_differences_of_the_gradient():
    got = ag.hessian(scalar, X)
    assert got.shape == (3, 4, 3, 4)
    expected = numeric_jacobian(lambda x: _gradient(scalar, x), [X], 0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.reshape(12, 12), got.reshape(12, 12).T, atol=1e-12)  # symmetric


def _gradient(fn, x: Tensor) -> Tensor:
    """fn's gradient as a function of x (for central differences of it)."""
    leaf = Tensor(x.data, requires_grad=True)
    with ag.enable_grad():
        return Tensor(ag.grad(fn(leaf), leaf))


def test_hvp_equals_the_hessian_times_v():
    v = RNG.standard_normal(X.shape)
    out, got = ag.hvp(scalar, X, v)
    hessian = ag.hessian(scalar, X).reshape(12, 12)
    np.testing.assert_allclose(got.ravel(), hessian @ v.ravel(), rtol=1e-10, atol=1e-12)
    assert out == pytest.approx(value(scalar, X).item())


def test_the_tutorial_cost_gradient_hvp_and_hessian_against_central_differences():
    _, grads = ag.vjp(tutorial_cost, PARAMS, 1.0)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, numeric_jacobian(tutorial_cost, PARAMS, i), rtol=1e-6, atol=1e-8)
    v = tuple(RNG.standard_normal(p.shape) for p in PARAMS)
    _, hv = ag.hvp(tutorial_cost, PARAMS, v)
    eps = 1e-5
    plus = ag.vjp(tutorial_cost, tuple(p + eps * d for p, d in zip(PARAMS, v, strict=True)), 1.0)[1]
    minus = ag.vjp(tutorial_cost, tuple(p - eps * d for p, d in zip(PARAMS, v, strict=True)), 1.0)[1]
    for got, a, b in zip(hv, plus, minus, strict=True):
        np.testing.assert_allclose(got, (a - b) / (2 * eps), rtol=1e-5, atol=1e-7)
    H = ag.hessian(tutorial_cost, PARAMS)
    assert H[0][2].shape == (4, 3, 2, 4)
    np.testing.assert_allclose(H[0][2], H[2][0].transpose(2, 3, 0, 1), atol=1e-12)
    _, jv = ag.jvp(tutorial_cost, PARAMS, v)
    assert jv == pytest.approx(sum(np.vdot(g, d) for g, d in zip(grads, v, strict=True)), rel=1e-10)


def test_linear_and_constant_functions_give_zero_second_derivatives():
    np.testing.assert_array_equal(ag.hessian(lambda x: (3 * x).sum(), X), np.zeros((3, 4, 3, 4)))
    np.testing.assert_array_equal(ag.jvp(lambda x: x * 0 + 1, X, X)[1], np.zeros_like(X))
    _, (ga, gb) = ag.vjp(lambda a, b: a.sum(), (X, X), 1.0)
    np.testing.assert_array_equal(ga, np.ones_like(X))
    np.testing.assert_array_equal(gb, np.zeros_like(X))


def test_the_callers_tensors_are_not_touched():
    x = Tensor(X, requires_grad=True)
    ag.hessian(scalar, x)
    assert x.grad is None


def test_bad_shapes_are_errors_naming_them():
    with pytest.raises(ag.ShapeError, match=r"v has shape \(2,\) but the output has shape \(3, 3\)"):
        ag.vjp(mixed, X, np.ones(2))
    with pytest.raises(ag.ShapeError, match="single value"):
        ag.hessian(mixed, X)
    with pytest.raises(ValueError, match="one v per input"):
        ag.jvp(lambda a, b: a * b, (X, X), X)
