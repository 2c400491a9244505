"""create_graph=True: gradients that can be differentiated again (second derivatives, Hessian-vector products)."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor

EPS = 1e-5


def first_derivative(fn, x: np.ndarray) -> np.ndarray:
    """The engine's elementwise first derivative of sum(fn(x)) at x, as an array (no graph)."""
    t = Tensor(x.copy(), requires_grad=True)
    fn(t).sum().backward()
    return t.grad


def second_derivative_by_backward(fn, x: np.ndarray) -> np.ndarray:
    """d/dx of the first derivative, by differentiating the recorded backward pass."""
    t = Tensor(x.copy(), requires_grad=True)
    fn(t).sum().backward(create_graph=True)
    g = t.grad
    assert isinstance(g, Tensor) and g.requires_grad
    t.zero_grad()
    g.sum().backward()
    return t.grad


def np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


ELEMENTWISE = {
    # name: (fn, exact second derivative)
    "tanh": (lambda t: t.tanh(), lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    "sigmoid": (
        lambda t: ag.sigmoid(t),
        lambda x: np_sigmoid(x) * (1 - np_sigmoid(x)) * (1 - 2 * np_sigmoid(x)),
    ),
    "x**3": (lambda t: t**3, lambda x: 6 * x),
    "x**0.5": (lambda t: (t * t + 1) ** 0.5, lambda x: (x * x + 1) ** -1.5),
    "exp": (lambda t: t.exp(), np.exp),
    "log": (lambda t: (t * t + 1).log(), lambda x: (2 - 2 * x**2) / (x**2 + 1) ** 2),
    "1/x": (lambda t: 1 / (t * t + 1), lambda x: (6 * x**2 - 2) / (x**2 + 1) ** 3),
    "exp*tanh": (
        lambda t: t.exp() * t.tanh(),
        lambda x: (
            np.exp(x) * (np.tanh(x) + 2 * (1 - np.tanh(x) ** 2) - 2 * np.tanh(x) * (1 - np.tanh(x) ** 2))
        ),
    ),
    "exp(-x^2)": (lambda t: (-(t * t)).exp(), lambda x: (4 * x**2 - 2) * np.exp(-(x**2))),
    "sigmoid(tanh(x))*x": (lambda t: ag.sigmoid(t.tanh()) * t, None),
    "relu(x)**2": (lambda t: t.relu() ** 2, lambda x: 2.0 * (x > 0)),
}

X = np.array([-1.7, -0.6, 0.3, 0.9, 1.8])


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_second_derivative_matches_finite_differences_of_the_first(name):
    fn, exact = ELEMENTWISE[name]
    analytic = second_derivative_by_backward(fn, X)
    numeric = (first_derivative(fn, X + EPS) - first_derivative(fn, X - EPS)) / (2 * EPS)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    if exact is not None:
        np.testing.assert_allclose(analytic, exact(X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "x**3"])
def test_second_derivative_through_the_functional_grad(name):
    fn, exact = ELEMENTWISE[name]
    x = Tensor(X.copy(), requires_grad=True)
    (g,) = ag.grad(fn(x).sum(), [x], create_graph=True)
    (h,) = ag.grad(g.sum(), [x])
    np.testing.assert_allclose(h, exact(X), rtol=1e-10, atol=1e-12)
    assert x.grad is None


def test_third_derivative_of_x_to_the_fourth():
    x = Tensor([0.5, -2.0], requires_grad=True)
    (g1,) = ag.grad((x**4).sum(), [x], create_graph=True)
    (g2,) = ag.grad(g1.sum(), [x], create_graph=True)
    (g3,) = ag.grad(g2.sum(), [x])
    np.testing.assert_allclose(g1.data, 4 * x.data**3)
    np.testing.assert_allclose(g2.data, 12 * x.data**2)
    np.testing.assert_allclose(g3, 24 * x.data)


def test_create_graph_gradient_values_equal_the_ordinary_ones():
    x = Tensor(X.copy(), requires_grad=True)
    (ag.softmax(x) * x.exp()).sum().backward(create_graph=True)
    recorded = x.grad.data.copy()
    x.zero_grad()
    (ag.softmax(x) * x.exp()).sum().backward()
    np.testing.assert_allclose(recorded, x.grad, rtol=1e-12)


# ---------------------------------------------------------------- Hessian-vector products


def hvp(fn, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H v = d/dx (grad f(x) . v), by double backward."""
    t = Tensor(x.copy(), requires_grad=True)
    (g,) = ag.grad(fn(t), [t], create_graph=True)
    (result,) = ag.grad((g * v).sum(), [t])
    return result


def hvp_by_backward(fn, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    t = Tensor(x.copy(), requires_grad=True)
    fn(t).backward(create_graph=True)
    g = t.grad
    t.zero_grad()
    (g * v).sum().backward()
    return t.grad


def gradient(fn, x: np.ndarray) -> np.ndarray:
    t = Tensor(x.copy(), requires_grad=True)
    fn(t).backward()
    return t.grad


def numeric_hvp(fn, x, v, eps=1e-5):
    return (gradient(fn, x + eps * v) - gradient(fn, x - eps * v)) / (2 * eps)


RNG = np.random.default_rng(11)
A = RNG.standard_normal((4, 3))
B = RNG.standard_normal((3, 3))
LABELS = np.eye(3)[[0, 2, 1, 2]]
TARGETS = np.array([1.0, 0.0, 1.0, 1.0])

FUNCTIONS = {
    "sum(sigmoid(A@x)**2)": lambda x: (ag.sigmoid(Tensor(A) @ x) ** 2).sum(),
    "softmax cross-entropy": lambda x: (
        -(ag.log_softmax(Tensor(A) * x + (Tensor(A) @ x).reshape(4, 1), axis=1) * LABELS).sum()
    ),
    "tanh layer": lambda x: ((Tensor(A) @ x).tanh() ** 2).mean() + (x**3).sum(),
    "bce with logits": lambda x: ag.binary_cross_entropy_with_logits(Tensor(A) @ x, TARGETS),
    "logsumexp": lambda x: ag.logsumexp(Tensor(A) @ x * x.sum()),
    "max + exp": lambda x: (Tensor(A) @ x).exp().max() + (x / (x * x + 1)).sum(),
    "division and broadcasting": lambda x: (
        ((Tensor(A) / (x * x + 1)) * (x.reshape(1, 3) - 1)).mean(axis=0).sum()
    ),
    "softmax": lambda x: (ag.softmax(Tensor(A) * x, axis=0) * Tensor(A)).sum(),
    "bce sum, targets broadcast": lambda x: ag.binary_cross_entropy_with_logits(
        x, np.ones((2, 3)) * 0.3, reduction="sum"
    ),
    "matrix": lambda x: (x.reshape(3, 1) @ x.reshape(1, 3) @ Tensor(B)).sum() ** 2,
    "indexing and transpose": lambda x: (
        ((x[[0, 0, 2]] * x[1:].sum()) ** 2).sum() + (x.reshape(1, 3).T ** 3).sum()
    ),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_hessian_vector_product_matches_finite_differences_of_the_gradient(name):
    fn = FUNCTIONS[name]
    x = np.array([0.3, -0.7, 1.1])
    v = np.array([0.5, 1.0, -2.0])
    expected = numeric_hvp(fn, x, v)
    np.testing.assert_allclose(hvp(fn, x, v), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(hvp_by_backward(fn, x, v), expected, rtol=1e-5, atol=1e-7)


def test_hessian_of_a_quadratic_form_is_a_plus_a_transpose():
    M = np.random.default_rng(5).standard_normal((4, 4))
    x0 = np.array([0.2, -1.0, 0.4, 2.0])

    def f(x):
        return x @ Tensor(M) @ x

    H = np.stack([hvp(f, x0, e) for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(H, M + M.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gradient(f, x0), (M + M.T) @ x0, rtol=1e-12)


def test_hessian_of_a_quadratic_form_with_a_matrix_leaf():
    M = np.random.default_rng(6).standard_normal((3, 3))
    x = Tensor(np.array([1.0, 2.0, -1.0]), requires_grad=True)
    m = Tensor(M, requires_grad=True)
    (gx, gm) = ag.grad(x @ m @ x, [x, m], create_graph=True)
    np.testing.assert_allclose(gm.data, np.outer(x.data, x.data))
    v = np.array([0.0, 1.0, 0.0])
    (hx, hm) = ag.grad((gx * v).sum(), [x, m])
    np.testing.assert_allclose(hx, (M + M.T) @ v)
    # d/dM (v . (M + M^T) x) = v x^T + x v^T
    np.testing.assert_allclose(hm, np.outer(v, x.data) + np.outer(x.data, v))


def test_leaf_grad_becomes_a_tensor_under_create_graph_and_accumulates():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x**2).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor)
    (x**2).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.data, 4 * x.data)


def test_create_graph_with_a_user_grad_tensor_leaves_it_unchanged():
    x = Tensor([1.0, 2.0], requires_grad=True)
    seed = Tensor([1.0, -1.0])
    x.backward(seed, create_graph=True)
    assert x.grad is not seed
    x.grad.data[0] = 100.0
    np.testing.assert_array_equal(seed.data, [1.0, -1.0])


def test_second_order_of_float32_stays_float32():
    x = Tensor(np.array([0.5, -1.0], dtype=np.float32), requires_grad=True)
    (x.tanh() * 3.0).sum().backward(create_graph=True)
    g = x.grad
    assert g.dtype == np.float32
    x.zero_grad()
    g.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, 3 * -2 * np.tanh(x.data) * (1 - np.tanh(x.data) ** 2), rtol=1e-5)


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t.max(axis=1),
        lambda t: t.max(),
        lambda t: t.relu() * t,
        lambda t: t**3,
        lambda t: t.mean(axis=0),
        lambda t: t[0, [1, 1]],
        lambda t: t @ t.T,
        lambda t: 2.0 / t,
        lambda t: ag.logsumexp(t, axis=1),
        lambda t: ag.softmax(t),
        lambda t: ag.log_softmax(t, axis=0),
        lambda t: ag.binary_cross_entropy_with_logits(t, np.array([1, 0, 1])),
    ],
)
def test_create_graph_gradients_of_float32_are_float32(fn):
    x = Tensor(np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32), requires_grad=True)
    out = fn(x)
    (out * out).sum().backward(create_graph=True)
    g = x.grad
    assert g.dtype == np.float32
    x.zero_grad()
    g.sum().backward()
    assert x.grad.dtype == np.float32


# ---------------------------------------------------------------- every op's second order, on 0-d tensors too


def hessian_vector_product(fn, arrays: list[np.ndarray], v: list[np.ndarray]) -> list[np.ndarray]:
    """d/dε of the engine's first gradient at arrays + ε v, by differentiating the recorded backward."""
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    grads = ag.grad(fn(*xs).sum(), xs, create_graph=True)
    directional = sum((g * d).sum() for g, d in zip(grads, v, strict=True))
    if not isinstance(directional, Tensor) or not directional.requires_grad:
        return [np.zeros_like(a) for a in arrays]  # the first gradient is constant
    result = ag.grad(directional, xs, allow_unused=True)
    return [np.zeros_like(a) if r is None else r for a, r in zip(arrays, result, strict=True)]


def first_gradients(fn, arrays: list[np.ndarray]) -> list[np.ndarray]:
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    return ag.grad(fn(*xs).sum(), xs, allow_unused=True)


def check_second_order(fn, *arrays) -> None:
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    v = [np.random.default_rng(i).uniform(0.5, 1.5, a.shape) for i, a in enumerate(arrays)]
    analytic = hessian_vector_product(fn, arrays, v)
    plus = first_gradients(fn, [a + EPS * d for a, d in zip(arrays, v, strict=True)])
    minus = first_gradients(fn, [a - EPS * d for a, d in zip(arrays, v, strict=True)])
    for i, (h, p, m) in enumerate(zip(analytic, plus, minus, strict=True)):
        numeric = np.zeros_like(arrays[i]) if p is None else (p - m) / (2 * EPS)
        assert np.shape(h) == arrays[i].shape
        np.testing.assert_allclose(h, numeric, rtol=1e-5, atol=1e-6, err_msg=f"input {i}")


ZERO_D_UNARY = {
    "neg": (lambda t: -t, 0.7),
    "exp": (lambda t: t.exp(), 0.7),
    "log": (lambda t: t.log(), 0.7),
    "sigmoid": (ag.sigmoid, 0.7),
    "tanh": (lambda t: t.tanh(), 0.7),
    "relu": (lambda t: t.relu() ** 2, 2.0),
    "relu below zero": (lambda t: t.relu() * t, -2.0),
    "pow 3": (lambda t: t**3, 0.7),
    "pow -1.5": (lambda t: t**-1.5, 0.7),
    "scalar div": (lambda t: 4.0 / t, 0.7),
    "sum": (lambda t: (t * t).sum(), 0.7),
    "mean": (lambda t: (t * t).mean(), 0.7),
    "max": (lambda t: (t * t).max(), 0.7),
    "logsumexp": (lambda t: (t * t).logsumexp(), 0.7),
    "reshape": (lambda t: (t * t).reshape(1, 1), 0.7),
    "transpose": (lambda t: (t * t).T, 0.7),
    "index": (lambda t: (t * t)[None], 0.7),
    "2 ** t": (lambda t: 2**t, 0.7),
    "t ** t": (lambda t: t**t, 0.7),
    "bce": (lambda t: ag.binary_cross_entropy_with_logits(t * t, 0.3), 0.7),
    "bce none": (lambda t: ag.binary_cross_entropy_with_logits(t, np.float64(1.0), reduction="none"), 0.7),
}


@pytest.mark.parametrize("name", list(ZERO_D_UNARY))
def test_second_order_of_every_op_on_a_0d_tensor(name):
    fn, value = ZERO_D_UNARY[name]
    check_second_order(fn, np.array(value))


def test_the_issues_relu_case_on_a_0d_tensor():
    x = Tensor(2.0, requires_grad=True)
    (x.relu() ** 2).backward(create_graph=True)
    assert x.grad.item() == 4.0 and x.grad.requires_grad


@pytest.mark.parametrize("shapes", [((), ()), ((), (3,)), ((3,), ()), ((2, 1), ())], ids=str)
@pytest.mark.parametrize(
    "name",
    ["add", "sub", "mul", "div", "pow", "bce"],
)
def test_second_order_of_binary_ops_with_0d_operands(name, shapes):
    fn = {
        "add": lambda a, b: (a + b) * (a + b),
        "sub": lambda a, b: (a - b) * a,
        "mul": lambda a, b: a * b * a,
        "div": lambda a, b: a / (b * b + 1),
        "pow": lambda a, b: (a * a + 1) ** b,
        "bce": lambda a, b: ag.binary_cross_entropy_with_logits(a, b.sigmoid(), reduction="none"),
    }[name]
    rng = np.random.default_rng(len(shapes[0]) + 3 * len(shapes[1]))
    check_second_order(fn, rng.uniform(0.3, 1.5, shapes[0]), rng.uniform(-1.2, 1.2, shapes[1]))
