"""Every op's forward against NumPy and its gradients against central differences.

Each case gives the op twice: as autograd_nn code and as plain NumPy. The gradient the engine's
backward produces is compared with central differences of the NumPy version (computed by the
helper below, independent of the engine), and ``gradcheck`` is run on the engine version too.
Non-scalar outputs are reduced with fixed random weights, so every element of the incoming
gradient differs (a gradient summed the wrong way cannot pass by symmetry).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes, valid_tuple_axes

import autograd_nn as ag
from autograd_nn import Tensor

ATOL, RTOL = 1e-6, 1e-5


# ---------------------------------------------------------------- the independent reference


def central_difference(f, arrays: list[np.ndarray], index: int, eps: float = 1e-6) -> np.ndarray:
    """d sum(f(*arrays)) / d arrays[index], entry by entry, with NumPy only (float64)."""
    x = arrays[index]
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        original = x[idx]
        x[idx] = original + eps
        plus = float(np.sum(f(*arrays)))
        x[idx] = original - eps
        minus = float(np.sum(f(*arrays)))
        x[idx] = original
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(engine_fn, numpy_fn, *arrays, use_gradcheck: bool = True) -> None:
    """Forward equals NumPy; every input's gradient has its shape and matches central differences."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    inputs = [Tensor(a.copy(), requires_grad=True, name=f"x{i}") for i, a in enumerate(arrays)]
    out = engine_fn(*inputs)
    expected = numpy_fn(*arrays)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)

    weights = np.random.default_rng(out.size).uniform(0.5, 1.5, out.shape) * np.where(
        np.arange(out.size).reshape(out.shape) % 2, -1.0, 1.0
    )
    (out * weights).sum().backward()
    for i, (t, a) in enumerate(zip(inputs, arrays, strict=True)):
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == a.shape, f"input {i}: gradient shape {t.grad.shape} != {a.shape}"
        assert t.grad.dtype == np.float64
        numeric = central_difference(lambda *xs: numpy_fn(*xs) * weights, arrays, i)
        np.testing.assert_allclose(t.grad, numeric, atol=ATOL, rtol=RTOL, err_msg=f"input {i}")
    if use_gradcheck:
        fresh = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        assert ag.gradcheck(lambda *ts: (engine_fn(*ts) * weights).sum(), *fresh)


def test_the_reference_helper_itself_is_right():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(central_difference(lambda a: a**3, [x], 0), 3 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])  # restored


# ---------------------------------------------------------------- inputs


def make(shape, domain: str = "any", seed: int = 0) -> np.ndarray:
    """Test values: "positive" for log/sqrt, "nonzero" away from 0 (relu, 1/x), "distinct" (max)."""
    rng = np.random.default_rng(seed + 7 * len(shape) + int(np.prod(shape)))
    if domain == "any":
        return rng.standard_normal(shape)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "distinct":  # values at least 0.25 apart: no ties within eps
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.25 - n / 8 + rng.uniform(-0.01, 0.01)).reshape(shape)
    raise ValueError(domain)


def np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def np_logsumexp(a, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))


def np_softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(a, axis):
    return a - np_logsumexp(a, axis=axis, keepdims=True)


def np_bce(z, y, reduction):
    loss = np.logaddexp(0, z) - y * z
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


GRID = [(), (3,), (2, 3), (1, 3), (3, 1)]

# ---------------------------------------------------------------- elementwise functions

UNARY = {
    "neg": (lambda t: -t, lambda a: -a, "any"),
    "exp": (lambda t: t.exp(), np.exp, "any"),
    "ag.exp": (ag.exp, np.exp, "any"),
    "log": (lambda t: t.log(), np.log, "positive"),
    "ag.log": (ag.log, np.log, "positive"),
    "sigmoid": (lambda t: t.sigmoid(), np_sigmoid, "any"),
    "ag.sigmoid": (ag.sigmoid, np_sigmoid, "any"),
    "tanh": (lambda t: t.tanh(), np.tanh, "any"),
    "ag.tanh": (ag.tanh, np.tanh, "any"),
    "relu": (lambda t: t.relu(), lambda a: np.maximum(a, 0), "nonzero"),
    "ag.relu": (ag.relu, lambda a: np.maximum(a, 0), "nonzero"),
    "pow 2": (lambda t: t**2, lambda a: a**2, "any"),
    "pow 3": (lambda t: t**3, lambda a: a**3, "any"),
    "pow -1": (lambda t: t**-1, lambda a: a**-1.0, "nonzero"),
    "pow -2.5": (lambda t: t**-2.5, lambda a: a**-2.5, "positive"),
    "pow 0.5": (lambda t: t**0.5, np.sqrt, "positive"),
    "pow 1.5": (lambda t: t**1.5, lambda a: a**1.5, "positive"),
    "pow 0": (lambda t: t**0, lambda a: a**0, "any"),
    "pow 1": (lambda t: t**1, lambda a: a**1, "any"),
    "add scalar": (lambda t: t + 1.5, lambda a: a + 1.5, "any"),
    "scalar add": (lambda t: 1.5 + t, lambda a: 1.5 + a, "any"),
    "sub scalar": (lambda t: t - 2, lambda a: a - 2, "any"),
    "scalar sub": (lambda t: 2 - t, lambda a: 2 - a, "any"),
    "mul scalar": (lambda t: t * 3.0, lambda a: a * 3.0, "any"),
    "scalar mul": (lambda t: -3 * t, lambda a: -3 * a, "any"),
    "div scalar": (lambda t: t / 4.0, lambda a: a / 4.0, "any"),
    "scalar div": (lambda t: 4.0 / t, lambda a: 4.0 / a, "nonzero"),
    "sum": (lambda t: t.sum(), np.sum, "any"),
    "mean": (lambda t: t.mean(), np.mean, "any"),
    "max": (lambda t: t.max(), np.max, "distinct"),
    "logsumexp": (ag.logsumexp, np_logsumexp, "any"),
    "composite": (
        lambda t: (t.relu() * t.exp() + t.tanh() * t.sigmoid()) / (t * t + 1),
        lambda a: (np.maximum(a, 0) * np.exp(a) + np.tanh(a) * np_sigmoid(a)) / (a * a + 1),
        "nonzero",  # relu's kink at 0 stays out of reach of the differences
    ),
}


@pytest.mark.parametrize("shape", GRID, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_op_gradients_match_central_differences(name, shape):
    engine_fn, numpy_fn, domain = UNARY[name]
    check_gradients(engine_fn, numpy_fn, make(shape, domain))


def test_relu_gradient_is_one_above_zero_and_zero_below():
    x = Tensor([-2.0, -0.5, 0.5, 3.0], requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0, 1.0])


def test_pow_zero_has_zero_gradient():
    x = Tensor([-2.0, 0.0, 3.0], requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


# ---------------------------------------------------------------- binary operators and broadcasting

BINARY = {
    "add": (lambda a, b: a + b),
    "sub": (lambda a, b: a - b),
    "mul": (lambda a, b: a * b),
    "div": (lambda a, b: a / b),
}
BROADCAST_PAIRS = [((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 3), (2, 1)), ((2, 3), ()), ((4, 1, 3), (2, 3))]
PAIRS = [(s, s) for s in GRID] + BROADCAST_PAIRS + [(b, a) for a, b in BROADCAST_PAIRS]


@pytest.mark.parametrize(("a_shape", "b_shape"), PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_op_gradients_with_broadcasting(name, a_shape, b_shape):
    fn = BINARY[name]
    check_gradients(fn, fn, make(a_shape, "any"), make(b_shape, "nonzero", seed=1))


@pytest.mark.parametrize(("a_shape", "b_shape"), BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("tensor_side", ["left", "right"])
def test_binary_op_gradients_with_an_ndarray_constant_on_either_side(name, a_shape, b_shape, tensor_side):
    fn = BINARY[name]
    if tensor_side == "left":
        const = make(b_shape, "nonzero", seed=2)
        check_gradients(lambda t: fn(t, const), lambda a: fn(a, const), make(a_shape, "any"))
    else:
        const = make(a_shape, "any", seed=2)
        check_gradients(lambda t: fn(const, t), lambda b: fn(const, b), make(b_shape, "nonzero"))


def test_broadcast_gradient_is_summed_over_the_broadcast_axes():
    a = Tensor(np.ones((4, 1, 3)), requires_grad=True)
    b = Tensor(np.ones((2, 3)), requires_grad=True)
    (a + b).sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((4, 1, 3), 2.0))  # each a element is used twice
    np.testing.assert_array_equal(b.grad, np.full((2, 3), 4.0))  # each b element is used 4 times


# ---------------------------------------------------------------- reductions

AXES = [None, 0, 1, -1, (0, 1)]
REDUCTIONS = {
    "sum": (
        lambda t, axis, k: t.sum(axis=axis, keepdims=k),
        lambda a, axis, k: a.sum(axis, keepdims=k),
        "any",
    ),
    "mean": (
        lambda t, axis, k: t.mean(axis=axis, keepdims=k),
        lambda a, axis, k: a.mean(axis, keepdims=k),
        "any",
    ),
    "max": (
        lambda t, axis, k: t.max(axis=axis, keepdims=k),
        lambda a, axis, k: a.max(axis, keepdims=k),
        "distinct",
    ),
    "logsumexp": (
        lambda t, axis, k: ag.logsumexp(t, axis=axis, keepdims=k),
        lambda a, axis, k: np_logsumexp(a, axis, k),
        "any",
    ),
    "logsumexp method": (
        lambda t, axis, k: t.logsumexp(axis=axis, keepdims=k),
        lambda a, axis, k: np_logsumexp(a, axis, k),
        "any",
    ),
}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_gradients_for_every_axis_and_keepdims(name, axis, keepdims):
    engine_fn, numpy_fn, domain = REDUCTIONS[name]
    check_gradients(
        lambda t: engine_fn(t, axis, keepdims), lambda a: numpy_fn(a, axis, keepdims), make((2, 3), domain)
    )


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, 0)), ((2, 3, 4), 1), ((3,), 0), ((3,), -1), ((), None)],
    ids=str,
)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_gradients_on_other_ranks(name, shape, axis, keepdims):
    engine_fn, numpy_fn, domain = REDUCTIONS[name]
    check_gradients(
        lambda t: engine_fn(t, axis, keepdims), lambda a: numpy_fn(a, axis, keepdims), make(shape, domain)
    )


def test_max_with_ties_shares_the_gradient_equally():
    x = Tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5, 0.0])
    assert x.grad.sum() == 1.0


def test_max_with_ties_along_an_axis_shares_within_each_slice():
    x = Tensor([[2.0, 2.0, 2.0], [5.0, 1.0, 5.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, 0.5]])
    np.testing.assert_allclose(x.grad.sum(axis=1), [1.0, 1.0])


def test_max_of_all_equal_values_gives_each_an_equal_share():
    x = Tensor(np.full((2, 2), 7.0), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 0.25))


def test_mean_gradient_is_one_over_the_count():
    x = Tensor(np.zeros((2, 5)), requires_grad=True)
    x.mean(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, np.full((2, 5), 0.2))


# ---------------------------------------------------------------- softmax family


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((3,), 0), ((3,), -1), ((2, 3), 0), ((2, 3), -1), ((2, 3, 4), 1), ((2, 3, 4), 0)],
    ids=str,
)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmax method", "log_softmax method"])
def test_softmax_and_log_softmax_gradients(name, shape, axis):
    engine_fn = {
        "softmax": lambda t: ag.softmax(t, axis=axis),
        "log_softmax": lambda t: ag.log_softmax(t, axis=axis),
        "softmax method": lambda t: t.softmax(axis=axis),
        "log_softmax method": lambda t: t.log_softmax(axis=axis),
    }[name]
    numpy_fn = np_log_softmax if name.startswith("log") else np_softmax
    check_gradients(engine_fn, lambda a: numpy_fn(a, axis), make(shape))


def test_softmax_default_axis_is_the_last():
    x = make((2, 3))
    np.testing.assert_allclose(ag.softmax(Tensor(x)).data, np_softmax(x, -1))
    np.testing.assert_allclose(ag.log_softmax(Tensor(x)).data, np_log_softmax(x, -1))


def test_softmax_of_large_logits_is_finite():
    x = Tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    p = ag.softmax(x)
    lp = ag.log_softmax(x)
    assert np.isfinite(p.data).all() and np.isfinite(lp.data).all()
    np.testing.assert_allclose(p.data.sum(), 1.0)
    np.testing.assert_allclose(lp.data, [[0.0, -1000.0, -2000.0]])
    np.testing.assert_allclose(ag.logsumexp(Tensor([1000.0, 1000.0])).item(), 1000.0 + np.log(2.0))
    (lp * np.array([[1.0, 0.0, 0.0]])).sum().backward()
    assert np.isfinite(x.grad).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("z_shape", "y_shape"), [((2, 3), (2, 3)), ((3,), (3,)), ((2, 3), (3,)), ((3,), (2, 3))], ids=str
)
def test_binary_cross_entropy_with_logits_gradients_for_logits_and_targets(reduction, z_shape, y_shape):
    z = make(z_shape)
    y = np.random.default_rng(3).uniform(0, 1, y_shape)
    check_gradients(
        lambda zt, yt: ag.binary_cross_entropy_with_logits(zt, yt, reduction=reduction),
        lambda za, ya: np_bce(za, ya, reduction),
        z,
        y,
    )


def test_binary_cross_entropy_default_reduction_is_the_mean():
    z, y = make((4,)), np.array([0.0, 1.0, 1.0, 0.0])
    loss = ag.binary_cross_entropy_with_logits(Tensor(z), y)
    np.testing.assert_allclose(loss.item(), np_bce(z, y, "mean"))


def test_binary_cross_entropy_with_constant_targets_gives_sigmoid_minus_target():
    z = Tensor([0.3, -1.2, 2.0], requires_grad=True)
    y = np.array([1.0, 0.0, 1.0])
    ag.binary_cross_entropy_with_logits(z, y, reduction="sum").backward()
    np.testing.assert_allclose(z.grad, np_sigmoid(z.data) - y)


# ---------------------------------------------------------------- matmul

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES, ids=str)
def test_matmul_gradients(a_shape, b_shape):
    check_gradients(lambda a, b: a @ b, np.matmul, make(a_shape), make(b_shape, seed=1))


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES, ids=str)
def test_matmul_gradients_with_an_ndarray_on_either_side(a_shape, b_shape):
    a_const, b_const = make(a_shape, seed=3), make(b_shape, seed=4)
    check_gradients(lambda b: a_const @ b, lambda b: a_const @ b, make(b_shape))
    check_gradients(lambda a: a @ b_const, lambda a: a @ b_const, make(a_shape))


# ---------------------------------------------------------------- shapes and indexing

TRANSPOSES = {
    ".T 2-D": ((2, 3), lambda t: t.T, lambda a: a.T),
    ".T 3-D": ((2, 3, 4), lambda t: t.T, lambda a: a.T),
    ".T 1-D": ((3,), lambda t: t.T, lambda a: a.T),
    "transpose()": ((2, 3, 4), lambda t: t.transpose(), lambda a: a.transpose()),
    "transpose(1, 0, 2)": ((2, 3, 4), lambda t: t.transpose(1, 0, 2), lambda a: a.transpose(1, 0, 2)),
    "transpose((2, 0, 1))": ((2, 3, 4), lambda t: t.transpose((2, 0, 1)), lambda a: a.transpose(2, 0, 1)),
    "transpose(-1, 0, 1)": ((2, 3, 4), lambda t: t.transpose(-1, 0, 1), lambda a: a.transpose(-1, 0, 1)),
    "transpose(0, -1, -2)": ((2, 3, 4), lambda t: t.transpose(0, -1, -2), lambda a: a.transpose(0, -1, -2)),
    "transpose(1, 0)": ((2, 3), lambda t: t.transpose(1, 0), lambda a: a.transpose(1, 0)),
}


@pytest.mark.parametrize("name", list(TRANSPOSES))
def test_transpose_gradients(name):
    shape, engine_fn, numpy_fn = TRANSPOSES[name]
    check_gradients(engine_fn, numpy_fn, make(shape))


RESHAPES = [
    ((2, 3), (3, 2)),
    ((2, 3), (6,)),
    ((2, 3), (-1,)),
    ((2, 3), (1, 6, 1)),
    ((2, 3), (3, -1)),
    ((), (1, 1)),
    ((1, 1), ()),
    ((2, 3, 4), (4, 6)),
]


@pytest.mark.parametrize(("shape", "new_shape"), RESHAPES, ids=str)
@pytest.mark.parametrize("form", ["varargs", "tuple"])
def test_reshape_gradients(shape, new_shape, form):
    def engine_fn(t):
        return t.reshape(*new_shape) if form == "varargs" else t.reshape(new_shape)

    check_gradients(engine_fn, lambda a: a.reshape(new_shape), make(shape))


MASK = np.array([[True, False, True], [False, False, False], [True, True, False], [False, True, True]])
INDICES = {
    "int": 1,
    "negative int": -1,
    "int pair": (2, 1),
    "slice": slice(1, 3),
    "step slice": (slice(None), slice(None, None, 2)),
    "reversed slice": slice(None, None, -1),
    "int array": np.array([3, 0]),
    "int list": [0, 2],
    "repeated int list": [0, 0, 1],
    "repeated negative": np.array([-1, 3, 3, 0]),
    "2-D int array": np.array([[0, 1], [1, 1]]),
    "int and repeated list": (0, [1, 1, 2]),
    "slice and repeated list": (slice(1, None), [0, 0]),
    "two arrays": ([0, 1, 1], [2, 2, 0]),
    "boolean mask": MASK,
    "boolean row mask": np.array([True, False, True, True]),
    "boolean mask as list": [True, False, False, True],
    "ellipsis": (Ellipsis, 1),
    "new axis": (None, slice(None), 0),
}


@pytest.mark.parametrize("name", list(INDICES))
def test_indexing_gradients(name):
    index = INDICES[name]
    check_gradients(lambda t: t[index], lambda a: a[index], make((4, 3)))


def test_repeated_indices_accumulate_their_gradients():
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[[0, 0, 1]].sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 1.0, 0.0, 0.0])


def test_repeated_rows_accumulate_their_gradients():
    x = Tensor(np.zeros((3, 2)), requires_grad=True)
    (x[np.array([2, 2, 2, 0])] * np.array([1.0, 10.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 10.0], [0.0, 0.0], [3.0, 30.0]])


def test_gradient_of_a_boolean_mask_is_zero_outside_the_mask():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    mask = x.data > 2.5
    x[mask].sum().backward()
    np.testing.assert_array_equal(x.grad, mask.astype(float))


@pytest.mark.parametrize(
    "empty", [[], np.array([], dtype=int), np.zeros(4, dtype=bool)], ids=["list", "array", "mask"]
)
def test_an_empty_selection_gives_an_empty_result_and_a_zero_gradient(empty):
    x = Tensor(np.arange(4.0), requires_grad=True)
    y = x[empty]
    assert y.shape == np.arange(4.0)[empty].shape == (0,)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(4))


def test_out_of_range_index_raises_index_error_naming_the_shape():
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        x[5]


# ---------------------------------------------------------------- property-based checks

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)


@PROPERTY
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    name=st.sampled_from(list(BINARY)),
    seed=st.integers(0, 2**16),
)
def test_property_binary_ops_under_any_broadcast(shapes, name, seed):
    a_shape, b_shape = shapes.input_shapes
    fn = BINARY[name]
    check_gradients(
        fn, fn, make(a_shape, seed=seed), make(b_shape, "nonzero", seed=seed + 1), use_gradcheck=False
    )


@PROPERTY
@given(
    shape=array_shapes(min_dims=0, max_dims=3, max_side=3),
    name=st.sampled_from(
        ["exp", "log", "sigmoid", "tanh", "relu", "pow 3", "pow 0.5", "scalar div", "composite"]
    ),
    seed=st.integers(0, 2**16),
)
def test_property_elementwise_ops_on_any_shape(shape, name, seed):
    engine_fn, numpy_fn, domain = UNARY[name]
    check_gradients(engine_fn, numpy_fn, make(shape, domain, seed=seed), use_gradcheck=False)


@PROPERTY
@given(
    data=st.data(),
    shape=array_shapes(min_dims=1, max_dims=3, max_side=3),
    name=st.sampled_from(list(REDUCTIONS)),
    keepdims=st.booleans(),
)
def test_property_reductions_over_any_axes(data, shape, name, keepdims):
    check_reduction_over_drawn_axes(data, shape, REDUCTIONS[name], keepdims)


def check_reduction_over_drawn_axes(data, shape, reduction, keepdims: bool) -> None:
    """``reduction`` = (engine, NumPy, domain) checked over axes drawn from ``data``: all of them (None),
    a tuple of them, or one, negative or not."""
    axis = data.draw(
        st.none() | valid_tuple_axes(len(shape), min_size=1) | st.integers(-len(shape), len(shape) - 1)
    )
    engine_fn, numpy_fn, domain = reduction
    check_gradients(
        lambda t: engine_fn(t, axis, keepdims),
        lambda a: numpy_fn(a, axis, keepdims),
        make(shape, domain),
        use_gradcheck=False,
    )


@PROPERTY
@given(
    shapes=mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_property_matmul_with_any_batch_broadcast(shapes, seed):
    a_shape, b_shape = shapes.input_shapes
    check_gradients(
        lambda a, b: a @ b,
        np.matmul,
        make(a_shape, seed=seed),
        make(b_shape, seed=seed + 1),
        use_gradcheck=False,
    )


@PROPERTY
@given(data=st.data(), shape=array_shapes(min_dims=1, max_dims=3, max_side=3))
def test_property_softmax_and_log_softmax_on_any_axis(data, shape):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_gradients(
        lambda t: ag.softmax(t, axis=axis), lambda a: np_softmax(a, axis), make(shape), use_gradcheck=False
    )
    check_gradients(
        lambda t: ag.log_softmax(t, axis=axis),
        lambda a: np_log_softmax(a, axis),
        make(shape),
        use_gradcheck=False,
    )


@PROPERTY
@given(data=st.data(), shape=array_shapes(min_dims=1, max_dims=3, max_side=3))
def test_property_transpose_with_any_permutation(data, shape):
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    negative = tuple(a - len(shape) if data.draw(st.booleans()) else a for a in axes)
    check_gradients(
        lambda t: t.transpose(*negative), lambda a: a.transpose(axes), make(shape), use_gradcheck=False
    )


@PROPERTY
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
def test_property_broadcast_gradient_has_the_operand_shape(shapes):
    a_shape, b_shape = shapes.input_shapes
    a = Tensor(np.ones(a_shape), requires_grad=True)
    b = Tensor(np.ones(b_shape), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == a_shape
    assert b.grad.shape == b_shape
    out_size = int(np.prod(shapes.result_shape))
    np.testing.assert_array_equal(a.grad, np.full(a_shape, out_size / max(a.size, 1)))
    np.testing.assert_array_equal(b.grad, np.full(b_shape, out_size / max(b.size, 1)))
