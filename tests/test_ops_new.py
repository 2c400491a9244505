"""The round-two ops (abs, sqrt, softplus, leaky_relu, clip, dropout, maximum, minimum, where, min, var,
std, argmax, concatenate, stack): forward against NumPy, gradients against central differences over a
shape/broadcast/axis grid, second order by double backward, and each op's documented conventions."""

from __future__ import annotations

import numpy as np
import pytest
from hvp_check import check_hvp, weighted_square
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes
from test_ops_gradients import AXES, GRID, PAIRS, check_gradients, check_reduction_over_drawn_axes, make

import autograd_nn as ag
from autograd_nn import ShapeError, Tensor

# ---------------------------------------------------------------- elementwise


def np_softplus(a):
    return np.log1p(np.exp(a))


def np_leaky(a, slope=0.01):
    return np.where(a > 0, a, slope * a)


def np_dropout(a, p, seed):
    keep = np.random.default_rng(seed).random(a.shape) >= p
    return a * keep / (1 - p)


UNARY = {
    "abs": (ag.abs, np.abs, "nonzero"),
    "abs method": (lambda t: t.abs(), np.abs, "nonzero"),
    "sqrt": (ag.sqrt, np.sqrt, "positive"),
    "sqrt method": (lambda t: t.sqrt(), np.sqrt, "positive"),
    "softplus": (ag.softplus, np_softplus, "any"),
    "leaky_relu": (ag.leaky_relu, np_leaky, "nonzero"),
    "leaky_relu 0.2": (lambda t: ag.leaky_relu(t, slope=0.2), lambda a: np_leaky(a, 0.2), "nonzero"),
    "clip": (lambda t: ag.clip(t, -0.5, 0.8), lambda a: np.clip(a, -0.5, 0.8), "any"),
    "clip method": (lambda t: t.clip(-0.5, 0.8), lambda a: np.clip(a, -0.5, 0.8), "any"),
    "clip lo only": (lambda t: ag.clip(t, 0.1, None), lambda a: np.clip(a, 0.1, None), "any"),
    "clip hi only": (lambda t: t.clip(None, -0.1), lambda a: np.clip(a, None, -0.1), "any"),
    "dropout": (
        lambda t: ag.dropout(t, 0.4, rng=np.random.default_rng(3)),
        lambda a: np_dropout(a, 0.4, 3),
        "any",
    ),
    "composite": (
        lambda t: ag.softplus(t.abs().sqrt()) * ag.leaky_relu(t, 0.1),
        lambda a: np_softplus(np.sqrt(np.abs(a))) * np_leaky(a, 0.1),
        "nonzero",
    ),
}


@pytest.mark.parametrize("shape", GRID, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_new_unary_op_gradients_match_central_differences(name, shape):
    engine_fn, numpy_fn, domain = UNARY[name]
    check_gradients(engine_fn, numpy_fn, make(shape, domain))


@pytest.mark.parametrize("name", list(UNARY))
def test_new_unary_op_second_order(name):
    engine_fn, _, domain = UNARY[name]
    check_hvp(lambda t: weighted_square(engine_fn(t)), make((2, 3), domain))


def test_abs_gradient_is_the_sign_and_zero_at_zero():
    x = Tensor([-2.0, 0.0, 3.0], requires_grad=True)
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])


def test_sqrt_gradient_at_zero_is_infinite_as_in_numpy():
    x = Tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        ag.sqrt(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [np.inf, 0.25])


def test_leaky_relu_gradient_at_zero_is_the_slope():
    x = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    ag.leaky_relu(x, slope=0.1).sum().backward()
    np.testing.assert_allclose(x.grad, [0.1, 0.1, 1.0])


def test_softplus_is_finite_and_exact_at_extremes():
    x = Tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    y = ag.softplus(x)
    np.testing.assert_allclose(y.data, [0.0, np.log(2.0), 1000.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 1.0])


def test_clip_passes_the_gradient_at_its_bounds_and_blocks_it_outside():
    x = Tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    y = ag.clip(x, -1.0, 1.0)
    np.testing.assert_array_equal(y.data, [-1.0, -1.0, 0.0, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize(
    ("lo", "hi", "error", "match"),
    [
        (None, None, ValueError, "give lo, hi or both"),
        (2.0, 1.0, ValueError, "lo must not exceed hi"),
        (Tensor(0.0), 1.0, TypeError, "not differentiable in its bounds"),
        ("a", 1.0, TypeError, "numeric"),
    ],
)
def test_clip_rejects_bad_bounds(lo, hi, error, match):
    with pytest.raises(error, match=match):
        ag.clip(Tensor([1.0]), lo, hi)


# ---------------------------------------------------------------- dropout


def test_dropout_scales_kept_entries_by_one_over_keep_probability_and_keeps_the_mask_for_backward():
    x = Tensor(np.ones((200, 50)), requires_grad=True)
    y = ag.dropout(x, 0.25, rng=np.random.default_rng(0))
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.01  # 10,000 draws: the standard error is 0.0043
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # d(x * mask)/dx = mask, the same mask


def test_dropout_with_the_same_seed_repeats_and_without_a_seed_differs():
    x = Tensor(np.ones(1000))
    a = ag.dropout(x, 0.5, rng=np.random.default_rng(7)).data
    b = ag.dropout(x, 0.5, rng=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(ag.dropout(x, 0.5).data, ag.dropout(x, 0.5).data)


@pytest.mark.parametrize(("p", "training"), [(0.5, False), (0.0, True), (0, True)])
def test_dropout_is_the_identity_in_eval_mode_or_at_p_zero(p, training):
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert ag.dropout(x, p, training=training) is x


def test_dropout_of_float32_stays_float32():
    x = Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    y = ag.dropout(x, 0.5, rng=np.random.default_rng(1))
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, True, "0.5", None])
def test_dropout_rejects_p_outside_zero_to_one(p):
    with pytest.raises(ValueError, match=r"dropout: p must be a number in \[0, 1\)"):
        ag.dropout(Tensor([1.0]), p)


def test_dropout_rejects_a_seed_where_a_generator_belongs():
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        ag.dropout(Tensor([1.0]), 0.5, rng=42)


# ---------------------------------------------------------------- maximum, minimum, where


def np_where_first(cond):
    return lambda a, b: np.where(cond, a, b)


BINARY = {
    "maximum": (ag.maximum, np.maximum),
    "minimum": (ag.minimum, np.minimum),
}


@pytest.mark.parametrize(("a_shape", "b_shape"), PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_maximum_and_minimum_gradients_with_broadcasting(name, a_shape, b_shape):
    engine_fn, numpy_fn = BINARY[name]
    check_gradients(engine_fn, numpy_fn, make(a_shape), make(b_shape, seed=1))


@pytest.mark.parametrize("name", list(BINARY))
def test_maximum_and_minimum_with_a_constant(name):
    engine_fn, numpy_fn = BINARY[name]
    check_gradients(lambda t: engine_fn(t, 0.2), lambda a: numpy_fn(a, 0.2), make((2, 3)))
    check_gradients(lambda t: engine_fn(-0.3, t), lambda a: numpy_fn(-0.3, a), make((2, 3)))


@pytest.mark.parametrize("name", list(BINARY))
def test_maximum_and_minimum_second_order(name):
    engine_fn, _ = BINARY[name]
    check_hvp(lambda a, b: weighted_square(engine_fn(a, b) * a), make((2, 3)), make((3,), seed=1))


@pytest.mark.parametrize("fn", [ag.maximum, ag.minimum])
def test_maximum_and_minimum_split_the_gradient_equally_at_ties(fn):
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = Tensor([2.0, 2.0, 2.0], requires_grad=True)
    fn(a, b).sum().backward()
    picks_a = [0.0, 0.5, 1.0] if fn is ag.maximum else [1.0, 0.5, 0.0]
    np.testing.assert_array_equal(a.grad, picks_a)
    np.testing.assert_array_equal(b.grad, 1 - np.array(picks_a))


def test_maximum_of_a_tensor_with_itself_has_gradient_one():
    x = Tensor([1.0, -2.0], requires_grad=True)
    ag.maximum(x, x).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])  # two halves meet again


WHERE_SHAPES = [
    ((2, 3), (2, 3), (2, 3)),
    ((2, 3), (3,), ()),
    ((2, 1), (3,), (2, 3)),
    ((3,), (2, 3), (2, 1)),
    ((2, 3), (), (1, 3)),
    ((4, 1, 3), (2, 3), (1, 2, 1)),
]


@pytest.mark.parametrize(("cond_shape", "a_shape", "b_shape"), WHERE_SHAPES, ids=str)
def test_where_gradients_with_broadcasting(cond_shape, a_shape, b_shape):
    cond = np.random.default_rng(5).random(cond_shape) > 0.4
    check_gradients(
        lambda a, b: ag.where(cond, a, b), np_where_first(cond), make(a_shape), make(b_shape, seed=1)
    )
    check_hvp(lambda a, b: weighted_square(ag.where(cond, a * b, b)), make(a_shape), make(b_shape, seed=1))


def test_where_gradient_goes_to_the_picked_operand_only():
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = Tensor([10.0, 20.0, 30.0], requires_grad=True)
    y = ag.where(np.array([True, False, True]), a, b)
    np.testing.assert_array_equal(y.data, [1.0, 20.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad, [0.0, 1.0, 0.0])


def test_where_takes_a_tensor_condition_and_a_constant():
    x = Tensor([-1.0, 2.0, -3.0], requires_grad=True)
    y = ag.where(Tensor([0.0, 1.0, 1.0]), x, 0.0)
    np.testing.assert_array_equal(y.data, [0.0, 2.0, -3.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0])


def test_where_names_all_three_shapes_when_they_do_not_broadcast():
    with pytest.raises(ShapeError, match=r"condition of shape \(4,\).*\(3,\) and \(2, 3\)"):
        ag.where(np.ones(4, dtype=bool), Tensor(np.ones(3)), Tensor(np.ones((2, 3))))


# ---------------------------------------------------------------- min, var, std, argmax

REDUCTIONS = {
    "min": (
        lambda t, axis, k: t.min(axis=axis, keepdims=k),
        lambda a, axis, k: a.min(axis, keepdims=k),
        "distinct",
    ),
    "var": (
        lambda t, axis, k: t.var(axis=axis, keepdims=k),
        lambda a, axis, k: a.var(axis, keepdims=k),
        "any",
    ),
    "var ddof=1": (
        lambda t, axis, k: t.var(axis, keepdims=k, ddof=1),
        lambda a, axis, k: a.var(axis, keepdims=k, ddof=1),
        "any",
    ),
    "std": (
        lambda t, axis, k: t.std(axis=axis, keepdims=k),
        lambda a, axis, k: a.std(axis, keepdims=k),
        "any",
    ),
    "std ddof=1": (
        lambda t, axis, k: t.std(axis, keepdims=k, ddof=1),
        lambda a, axis, k: a.std(axis, keepdims=k, ddof=1),
        "any",
    ),
}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_min_var_std_gradients_for_every_axis_and_keepdims(name, axis, keepdims):
    engine_fn, numpy_fn, domain = REDUCTIONS[name]
    check_gradients(
        lambda t: engine_fn(t, axis, keepdims), lambda a: numpy_fn(a, axis, keepdims), make((2, 3), domain)
    )


@pytest.mark.parametrize(
    ("shape", "axis"), [((2, 3, 4), (0, 2)), ((2, 3, 4), -2), ((3,), 0), ((4,), None)], ids=str
)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_min_var_std_gradients_on_other_ranks(name, shape, axis):
    engine_fn, numpy_fn, domain = REDUCTIONS[name]
    check_gradients(
        lambda t: engine_fn(t, axis, False), lambda a: numpy_fn(a, axis, False), make(shape, domain)
    )


@pytest.mark.parametrize("axis", [None, 0, 1], ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_min_var_std_second_order(name, axis):
    engine_fn, _, domain = REDUCTIONS[name]
    check_hvp(lambda t: weighted_square(engine_fn(t * t, axis, False)), make((3, 4), domain))


def test_min_with_ties_shares_the_gradient_equally():
    x = Tensor([[1.0, 1.0, 4.0], [0.0, 2.0, 0.0]], requires_grad=True)
    x.min(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]])


def test_std_of_constant_values_is_zero_with_a_zero_gradient():
    x = Tensor(np.full((2, 4), 3.0), requires_grad=True)
    y = x.std(axis=1)
    np.testing.assert_array_equal(y.data, [0.0, 0.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((2, 4)))


def test_var_with_no_degrees_of_freedom_is_an_error_naming_the_shape():
    with pytest.raises(ShapeError, match=r"var: ddof=1 needs more than 1 values.*shape \(3, 1\) has 1"):
        Tensor(np.ones((3, 1))).var(axis=1, ddof=1)


def test_var_and_std_match_numpy_on_float32():
    a = np.random.default_rng(2).standard_normal((5, 7)).astype(np.float32)
    x = Tensor(a, requires_grad=True)
    np.testing.assert_allclose(x.var(axis=0, ddof=1).data, a.var(axis=0, ddof=1), rtol=1e-6)
    y = x.std(axis=1)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, a.std(axis=1), rtol=1e-6)
    y.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_argmax_is_numpys_integer_index_and_not_a_tensor(axis):
    a = make((3, 4), "distinct")
    result = Tensor(a, requires_grad=True).argmax(axis)
    assert isinstance(result, np.ndarray) and result.dtype.kind == "i"
    np.testing.assert_array_equal(result, np.argmax(a, axis=axis))


# ---------------------------------------------------------------- concatenate, stack

JOINS = [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 1), (2, 2)], 1),
    ([(2, 3), (2, 1), (2, 2)], -1),
    ([(3,), (1,)], 0),
    ([(2, 1, 3), (2, 2, 3)], 1),
    ([(2, 3)], 0),
]


@pytest.mark.parametrize(("shapes", "axis"), JOINS, ids=str)
def test_concatenate_gradients(shapes, axis):
    arrays = [make(s, seed=i) for i, s in enumerate(shapes)]
    check_gradients(
        lambda *ts: ag.concatenate(ts, axis=axis), lambda *xs: np.concatenate(xs, axis=axis), *arrays
    )
    check_hvp(lambda *ts: weighted_square(ag.concatenate([t * t for t in ts], axis=axis)), *arrays)


@pytest.mark.parametrize(
    ("shape", "axis"), [((2, 3), 0), ((2, 3), 1), ((2, 3), 2), ((2, 3), -1), ((), 0)], ids=str
)
def test_stack_gradients(shape, axis):
    arrays = [make(shape, seed=i) for i in range(3)]
    check_gradients(lambda *ts: ag.stack(ts, axis=axis), lambda *xs: np.stack(xs, axis=axis), *arrays)
    check_hvp(lambda *ts: weighted_square(ag.stack([t * t for t in ts], axis=axis)), *arrays)


def test_concatenate_and_stack_mix_tensors_and_arrays_and_reuse_a_tensor():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = ag.concatenate([x, np.array([5.0]), x])
    np.testing.assert_array_equal(y.data, [1.0, 2.0, 5.0, 1.0, 2.0])
    (y * np.arange(5.0)).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0 + 3.0, 1.0 + 4.0])  # both uses summed
    x.zero_grad()
    ag.stack([x, [3.0, 4.0]], axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (
            lambda: ag.concatenate([np.ones((2, 3)), np.ones((3, 2))]),
            r"\(2, 3\), \(3, 2\) must match except along axis 0",
        ),
        (lambda: ag.concatenate([np.ones((2, 3)), np.ones(3)]), r"\(2, 3\), \(3,\) must match"),
        (lambda: ag.concatenate([np.ones(3)], axis=1), "axis 1 is out of range"),
        (lambda: ag.concatenate([np.ones(()), np.ones(())]), "0-d tensors cannot be concatenated"),
        (lambda: ag.stack([np.ones((2, 3)), np.ones((3, 2))]), r"same shape, got shapes \(2, 3\), \(3, 2\)"),
        (lambda: ag.stack([np.ones(3)], axis=2), "axis 2 is out of range"),
    ],
)
def test_concatenate_and_stack_name_the_shapes_that_do_not_fit(fn, match):
    with pytest.raises(ShapeError, match=match):
        fn()


@pytest.mark.parametrize("fn", [ag.concatenate, ag.stack])
def test_concatenate_and_stack_of_nothing_is_an_error(fn):
    with pytest.raises(ValueError, match="needs at least one tensor"):
        fn([])


# ---------------------------------------------------------------- float32 under create_graph


@pytest.mark.parametrize(
    "fn",
    [
        ag.abs,
        lambda t: (t * t + 1).sqrt(),
        ag.softplus,
        ag.leaky_relu,
        lambda t: t.clip(-0.5, 1.0),
        lambda t: ag.dropout(t, 0.5, rng=np.random.default_rng(0)),
        lambda t: ag.maximum(t, t.T.sum(axis=1)),
        lambda t: ag.minimum(t, 0.3),
        lambda t: ag.where(t.data > 0, t, t * t),
        lambda t: t.min(axis=0),
        lambda t: t.var(axis=1, ddof=1),
        lambda t: t.std(),
        lambda t: ag.concatenate([t, t * 2], axis=1),
        lambda t: ag.stack([t, t], axis=0),
    ],
)
def test_create_graph_gradients_of_float32_are_float32(fn):
    x = Tensor(
        np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75], [0.1, 0.2, 0.3]], dtype=np.float32),
        requires_grad=True,
    )
    out = fn(x)
    assert out.dtype == np.float32
    (out * out).sum().backward(create_graph=True)
    g = x.grad
    assert g.dtype == np.float32
    x.zero_grad()
    g.sum().backward()
    assert x.grad.dtype == np.float32


# ---------------------------------------------------------------- property-based checks

PROPERTY = settings(max_examples=20, deadline=None, derandomize=True)


@PROPERTY
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_property_maximum_minimum_where_under_any_broadcast(shapes, seed):
    cond_shape, a_shape, b_shape = shapes.input_shapes
    a, b = make(a_shape, seed=seed), make(b_shape, seed=seed + 1)
    cond = np.random.default_rng(seed).random(cond_shape) > 0.5
    check_gradients(ag.maximum, np.maximum, a, b, use_gradcheck=False)
    check_gradients(ag.minimum, np.minimum, a, b, use_gradcheck=False)
    check_gradients(lambda x, y: ag.where(cond, x, y), np_where_first(cond), a, b, use_gradcheck=False)


@PROPERTY
@given(
    data=st.data(),
    shape=array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3),
    name=st.sampled_from(list(REDUCTIONS)),
    keepdims=st.booleans(),
)
def test_property_min_var_std_over_any_axes(data, shape, name, keepdims):
    check_reduction_over_drawn_axes(data, shape, REDUCTIONS[name], keepdims)


@PROPERTY
@given(
    data=st.data(),
    shape=array_shapes(min_dims=1, max_dims=3, max_side=3),
    count=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_property_concatenate_along_any_axis(data, shape, count, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    shapes = [tuple(n if i == axis % len(shape) else s for i, s in enumerate(shape)) for n in sizes]
    arrays = [make(s, seed=seed + i) for i, s in enumerate(shapes)]
    check_gradients(
        lambda *ts: ag.concatenate(ts, axis=axis),
        lambda *xs: np.concatenate(xs, axis=axis),
        *arrays,
        use_gradcheck=False,
    )


# Steps of random programs: (engine, NumPy) pairs that are smooth at the values they meet (no kinks within
# reach of the differences: inputs are drawn away from 0 and from the clip bounds by "nonzero" and offsets).
STEPS = {
    "softplus": (ag.softplus, np_softplus),
    "sqrt(x^2 + 1)": (lambda t: (t * t + 1).sqrt(), lambda a: np.sqrt(a * a + 1)),
    "leaky_relu": (lambda t: ag.leaky_relu(t, 0.3), lambda a: np_leaky(a, 0.3)),
    "maximum with tanh": (lambda t: ag.maximum(t, t.tanh() * 0.5), lambda a: np.maximum(a, np.tanh(a) * 0.5)),
    "where positive": (
        lambda t: ag.where(t.data > 0, t * 2, t.exp()),
        lambda a: np.where(a > 0, a * 2, np.exp(a)),
    ),
    "stack and mean": (lambda t: ag.stack([t, t * t], axis=0).mean(axis=0), lambda a: (a + a * a) / 2),
    "minus std": (lambda t: t - t.std(axis=-1, keepdims=True), lambda a: a - a.std(axis=-1, keepdims=True)),
}


@PROPERTY
@given(
    names=st.lists(st.sampled_from(list(STEPS)), min_size=1, max_size=4),
    shape=array_shapes(min_dims=1, max_dims=2, min_side=2, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_property_random_programs_of_new_ops(names, shape, seed):
    def engine(t):
        for name in names:
            t = STEPS[name][0](t)
        return t

    def reference(a):
        for name in names:
            a = STEPS[name][1](a)
        return a

    check_gradients(engine, reference, make(shape, "nonzero", seed=seed), use_gradcheck=False)
