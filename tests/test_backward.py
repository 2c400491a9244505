"""backward(): fan-out, accumulation, aliasing, grad modes, deep graphs, memory, and ag.grad."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor, no_grad, ops
from autograd_nn.tensor import apply

# ---------------------------------------------------------------- fan-out is summed


def test_fan_out_of_one_tensor_into_one_op_is_summed():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    ((x + x) * x).sum().backward()  # 2x^2 -> 4x
    np.testing.assert_array_equal(x.grad, 4 * x.data)


def test_chained_doubling_is_summed():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = a + a
    c = b + b
    c.sum().backward()
    np.testing.assert_array_equal(a.grad, [4.0, 4.0])
    with pytest.warns(UserWarning, match="retain_grad"):  # intermediates keep no gradient
        assert b.grad is None and c.grad is None


def test_diamond_sums_both_paths():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    c = a * 3
    (b * c).sum().backward()  # 6a^2 -> 12a
    np.testing.assert_array_equal(a.grad, [12.0, 24.0])


def test_wide_fan_out_is_summed():
    x = Tensor([1.0, 2.0], requires_grad=True)
    total = x * 0
    for k in range(1, 11):
        total = total + x * k
    total.sum().backward()
    np.testing.assert_array_equal(x.grad, [55.0, 55.0])


def test_one_tensor_used_through_different_ops_gets_every_contribution():
    x = Tensor([0.5, 1.5], requires_grad=True)
    y = x.exp() + x**2 + x.reshape(2, 1).sum(axis=1) + x[[0, 0]].sum()
    y.sum().backward()
    np.testing.assert_allclose(
        x.grad, np.exp(x.data) + 2 * x.data + 1 + np.array([4.0, 0.0])
    )  # the scalar is broadcast twice


# ---------------------------------------------------------------- accumulation and aliasing


def test_backward_twice_doubles_leaf_gradients_and_leaves_intermediates_without_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    loss = h.sum()
    loss.backward()
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_array_equal(x.grad, 2 * first)
    with pytest.warns(UserWarning, match="retain_grad"):
        assert h.grad is None
    with pytest.warns(UserWarning, match="retain_grad"):
        assert loss.grad is None


def test_gradients_accumulate_across_different_losses():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 3 + 2 * x.data)


def test_the_gradient_of_a_0d_leaf_stays_a_0d_ndarray_when_accumulated():
    b = Tensor(0.5, requires_grad=True)
    for expected in (2.0, 4.0, 6.0):
        (b * 2).backward()
        assert isinstance(b.grad, np.ndarray)
        assert b.grad.shape == ()
        assert b.grad == expected


def test_zero_grad_resets_the_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    x.zero_grad()
    assert x.grad is None
    (x * 5).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])


@pytest.mark.parametrize(
    "graph",
    [
        lambda x: x,
        lambda x: x + 0,
        lambda x: x + x,
        lambda x: x.reshape(2, 2),
        lambda x: (x + 1) + (x + 2),
        lambda x: x[[0, 1, 2, 3]],
        lambda x: x.T,
    ],
    ids=["leaf", "add", "x+x", "reshape", "two adds", "index", "transpose"],
)
def test_the_grad_array_passed_to_backward_is_unchanged(graph):
    x = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    out = graph(x)
    seed = np.arange(1.0, out.size + 1).reshape(out.shape)
    kept = seed.copy()
    out.backward(seed)
    out.backward(seed)
    np.testing.assert_array_equal(seed, kept)
    assert not np.shares_memory(x.grad, seed)
    seed[...] = -100.0  # changing the user's array afterwards does not change the gradient
    assert (x.grad > 0).all()


def test_two_leaves_fed_by_one_add_do_not_share_a_grad_buffer():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad, b.grad)
    a.grad[0] = 42.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_two_leaves_fed_by_one_add_with_a_user_grad_do_not_share_buffers():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    seed = np.array([5.0, 6.0])
    (a + b).backward(seed)
    assert not np.shares_memory(a.grad, b.grad)
    assert not np.shares_memory(a.grad, seed) and not np.shares_memory(b.grad, seed)
    a.grad *= 0
    np.testing.assert_array_equal(b.grad, [5.0, 6.0])
    np.testing.assert_array_equal(seed, [5.0, 6.0])


def test_leaves_fed_by_one_add_do_not_share_a_grad_under_create_graph():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward(create_graph=True)
    assert a.grad is not b.grad
    assert not np.shares_memory(a.grad.data, b.grad.data)


@pytest.mark.parametrize(
    "graph",
    [lambda x: x * 2, lambda x: x + x, lambda x: (x + x) + x, lambda x: x, lambda x: x.sum() * x],
    ids=["mul", "x+x", "fan-out", "leaf", "scalar times x"],
)
def test_a_second_backward_accumulates_into_the_grad_array_taken_earlier(graph):
    # As in PyTorch: .grad is one array that backward adds into, so a reference taken after the
    # first backward sees the sum after the second.
    x = Tensor([1.0, 2.0], requires_grad=True)
    graph(x).sum().backward()
    taken = x.grad
    first = taken.copy()
    graph(x).sum().backward()
    assert x.grad is taken
    np.testing.assert_array_equal(taken, 2 * first)


def test_a_retained_gradient_accumulates_in_place_too():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    taken = h.grad
    (h * h).sum().backward()
    assert h.grad is taken
    np.testing.assert_array_equal(taken, 4 * h.data)


def test_accumulating_never_writes_into_an_array_the_caller_gave():
    x = Tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([5.0, 6.0])
    x.backward(seed)  # the first gradient is the caller's array: .grad gets a copy
    x.backward(seed)
    np.testing.assert_array_equal(seed, [5.0, 6.0])
    np.testing.assert_array_equal(x.grad, [10.0, 12.0])


def test_under_create_graph_a_second_backward_makes_a_new_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward(create_graph=True)
    taken = x.grad
    (x * x).sum().backward(create_graph=True)
    assert x.grad is not taken
    np.testing.assert_array_equal(taken.data, 2 * x.data)
    np.testing.assert_array_equal(x.grad.data, 4 * x.data)


def test_a_grad_of_another_dtype_or_read_only_set_by_the_user_is_replaced_not_written_into():
    x = Tensor([1.0, 2.0], requires_grad=True)
    x.grad = np.array([1.0, 1.0], np.float32)
    (x * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    frozen = np.ones(2)
    frozen.flags.writeable = False
    x.grad = frozen
    (x * 2).sum().backward()
    np.testing.assert_array_equal(frozen, [1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_a_leaf_gradient_does_not_alias_any_tensor_data():
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert not np.shares_memory(x.grad, c.data)
    assert not np.shares_memory(x.grad, x.data)


def test_gradient_has_the_leaf_shape_and_dtype():
    x = Tensor(np.ones((2, 1, 3)), requires_grad=True)
    b = Tensor(np.ones(4, dtype=np.float32).reshape(4, 1, 1, 1), requires_grad=True)
    (x * b).sum().backward()
    assert x.grad.shape == (2, 1, 3) and x.grad.dtype == np.float64
    assert b.grad.shape == (4, 1, 1, 1) and b.grad.dtype == np.float32
    np.testing.assert_array_equal(b.grad, np.full((4, 1, 1, 1), 6.0))


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 3), (2, 1)), ((2, 3), ()), ((4, 1, 3), (2, 3))],
)
def test_broadcast_gradients_have_the_operand_shapes(a_shape, b_shape):
    for op in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b):
        a = Tensor(np.ones(a_shape), requires_grad=True)
        b = Tensor(np.full(b_shape, 2.0), requires_grad=True)
        op(a, b).sum().backward()
        assert a.grad.shape == a_shape
        assert b.grad.shape == b_shape
        op(b, a).sum().backward()
        assert a.grad.shape == a_shape
        assert b.grad.shape == b_shape


class Spread(ops.Op):
    """x of shape (1, 3) broadcast to (2, 4, 3); the VJP hands back g unreduced."""

    __slots__ = ("cut",)
    name = "spread"

    def __init__(self, cut: bool = False) -> None:
        self.cut = cut

    def forward(self, x):
        return np.broadcast_to(x, (2, 4, 3)).copy()

    def vjp(self, g, out, x):
        return (g[..., :2] if self.cut else g,)


def test_the_engine_sums_a_broadcast_vjp_result_back_to_the_operand_shape():
    x = Tensor(np.ones((1, 3)), requires_grad=True)
    weights = np.arange(24.0).reshape(2, 4, 3)
    (apply(Spread(), x) * weights).sum().backward()
    assert x.grad.shape == (1, 3)
    np.testing.assert_array_equal(x.grad, weights.sum(axis=(0, 1), keepdims=True)[0])


def test_a_vjp_result_that_cannot_fit_the_operand_is_a_shape_error_naming_the_op():
    x = Tensor(np.ones((1, 3)), requires_grad=True)
    with pytest.raises(ag.ShapeError, match=r"spread.*\(2, 4, 2\).*\(1, 3\)"):
        apply(Spread(cut=True), x).sum().backward()


# ---------------------------------------------------------------- what backward accepts


def test_a_scalar_output_needs_no_grad():
    x = Tensor(3.0, requires_grad=True)
    (x * x).backward()
    assert x.grad == 6.0


def test_a_single_element_non_scalar_output_needs_no_grad():
    x = Tensor([[3.0]], requires_grad=True)
    (x * x).backward()
    np.testing.assert_array_equal(x.grad, [[6.0]])


def test_a_non_scalar_output_without_grad_raises_value_error_naming_the_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(2, 3\)") as info:
        (x * 2).backward()
    assert "grad" in str(info.value)
    assert x.grad is None


def test_a_non_scalar_output_with_grad_gives_the_vector_jacobian_product():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(np.array([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, -6.0])


def test_grad_may_be_a_tensor_or_a_list():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(Tensor([1.0, 2.0]))
    (x * 3).backward([1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [6.0, 9.0])


def test_a_grad_of_the_wrong_shape_raises_shape_error_naming_both_shapes():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ag.ShapeError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(ValueError):
        (x * 2).backward(np.ones((3, 2)))
    assert x.grad is None


def test_backward_on_a_tensor_that_does_not_require_grad_raises_autograd_error():
    with pytest.raises(ag.AutogradError, match="does not require grad"):
        (Tensor([1.0, 2.0]) * 2).sum().backward()


def test_backward_on_a_result_computed_under_no_grad_raises_autograd_error():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = (x * 2).sum()
    with pytest.raises(ag.AutogradError):
        y.backward()


def test_backward_on_a_leaf_gives_the_seed():
    x = Tensor([1.0, 2.0], requires_grad=True)
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


# ---------------------------------------------------------------- what is differentiated


def test_constants_are_never_given_a_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    d = c.exp()
    loss = (x * c + d * x + c).sum()
    loss.backward()
    assert c.grad is None and d.grad is None
    assert d.op is None and not d.requires_grad
    np.testing.assert_allclose(x.grad, c.data + np.exp(c.data))


def test_branches_without_a_leaf_requiring_grad_are_never_differentiated(monkeypatch):
    calls = []
    original = ops.Exp.vjp

    def spy(self, g, out, x):
        calls.append(x.shape)
        return original(self, g, out, x)

    monkeypatch.setattr(ops.Exp, "vjp", spy)
    x = Tensor([1.0, 2.0], requires_grad=True)
    constant_branch = Tensor([[1.0, 2.0, 3.0]]).exp().sum() * Tensor([5.0]).exp()
    loss = (x.exp() * constant_branch).sum()
    loss.backward()
    assert calls == [(2,)]  # only x.exp() was differentiated


def test_the_gradient_of_a_constant_operand_is_not_computed(monkeypatch):
    needs = []
    original = ops.Mul.vjp

    def spy(self, g, out, a, b):
        result = original(self, g, out, a, b)
        needs.append(tuple(r is not None for r in result))
        return result

    monkeypatch.setattr(ops.Mul, "vjp", spy)
    x = Tensor([1.0, 2.0], requires_grad=True)
    (Tensor([3.0, 4.0]) * x).sum().backward()
    assert needs == [(False, True)]


def test_a_leaf_requiring_grad_but_unused_keeps_grad_none():
    x = Tensor([1.0], requires_grad=True)
    unused = Tensor([2.0], requires_grad=True)
    (x * 2).sum().backward()
    assert unused.grad is None


# ---------------------------------------------------------------- grad modes


def test_no_grad_records_nothing():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = (x * 2).exp().sum()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    assert y.requires_grad is False
    assert y.op is None
    np.testing.assert_allclose(y.data, np.exp(2 * x.data).sum())


def test_no_grad_as_a_decorator():
    x = Tensor([1.0, 2.0], requires_grad=True)

    @no_grad()
    def predict(t):
        assert not ag.is_grad_enabled()
        return t * 2

    y = predict(x)
    assert y.requires_grad is False
    assert ag.is_grad_enabled()
    assert (x * 2).requires_grad


def test_a_recursive_no_grad_decorated_function_restores_grad_mode():
    @no_grad()
    def depth(n):
        assert not ag.is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    with ag.enable_grad():  # the outer block restores the mode for later tests even if depth leaks
        assert depth(3) == 3
        enabled_after = ag.is_grad_enabled()
    assert enabled_after


def test_one_no_grad_instance_entered_twice_restores_grad_mode():
    guard = no_grad()
    with ag.enable_grad():
        with guard:
            with guard:
                pass
            disabled_inside = not ag.is_grad_enabled()
        enabled_after = ag.is_grad_enabled()
    assert disabled_inside
    assert enabled_after


def test_no_grad_restores_grad_mode_after_an_exception():
    with pytest.raises(RuntimeError), no_grad():
        raise RuntimeError("boom")
    assert ag.is_grad_enabled()


def test_enable_grad_turns_recording_back_on_inside_no_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        with ag.enable_grad():
            y = x * 2
            assert ag.is_grad_enabled()
        z = x * 2
        assert not ag.is_grad_enabled()
    assert y.requires_grad and not z.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_enable_grad_as_a_decorator():
    @ag.enable_grad()
    def f(t):
        return t * 2

    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        assert f(x).requires_grad
        assert not ag.is_grad_enabled()


def test_a_leaf_created_under_no_grad_still_requires_grad():
    with no_grad():
        w = Tensor([1.0], requires_grad=True)
    assert w.requires_grad
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad, [3.0])


def test_backward_works_inside_no_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    with no_grad():
        loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_an_ordinary_backward_records_no_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert isinstance(x.grad, np.ndarray)


# ---------------------------------------------------------------- deep graphs


def test_a_chain_of_100000_ops_backpropagates_without_recursion_error():
    x = Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for i in range(50_000):
        y = y * 1.0 if i % 2 else y + 0.0
        y = y + 1.0
    assert y.op is not None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0])
    del y  # freeing the chain must not overflow either


def test_a_deep_chain_through_ag_grad():
    x = Tensor(np.array(2.0), requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0
    np.testing.assert_array_equal(ag.grad(y, x), 1.0)


# ---------------------------------------------------------------- memory


def test_dropping_the_loss_frees_the_graph_by_reference_counting():
    x = Tensor(np.ones(3), requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        h = (x * 2).exp()
        loss = (h * x).sum()
        refs = [weakref.ref(loss.op), weakref.ref(h), weakref.ref(h.op)]
        loss.backward()
        del h
        assert all(r() is not None for r in refs)  # the loss still holds them
        del loss
        assert all(r() is None for r in refs), "the graph was not freed by reference counting"
    finally:
        gc.enable()
    assert x.grad is not None


def test_the_graph_is_freed_after_a_backward_with_anomaly_detection_and_fan_out():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        with ag.detect_anomaly(), ag.name_scope("block"):
            a = x @ x
            loss = ag.log_softmax(a + a, axis=0)[0].sum()
        refs = [weakref.ref(loss.op), weakref.ref(a), weakref.ref(a.op)]
        loss.backward()
        del a, loss
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_ag_grad_leaves_no_graph_behind():
    x = Tensor(np.ones(3), requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        y = (x * x).sigmoid().sum()
        ref = weakref.ref(y.op)
        g = ag.grad(y, x)
        del y
        assert ref() is None
    finally:
        gc.enable()
    assert g.shape == (3,)


def _live_tensors() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, Tensor))


def test_memory_stays_flat_over_200_training_steps():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    y = (X @ rng.standard_normal(5) > 0).astype(float)
    w = Tensor(np.zeros(5), requires_grad=True, name="w")
    b = Tensor(0.0, requires_grad=True, name="b")

    def step():
        loss = ag.binary_cross_entropy_with_logits(Tensor(X) @ w + b, y)
        w.zero_grad()
        b.zero_grad()
        loss.backward()
        w.data -= 0.5 * w.grad
        b.data -= 0.5 * b.grad
        return loss.item()

    first_loss = step()
    for _ in range(10):
        step()
    gc.collect()
    before = _live_tensors()
    tracemalloc.start()
    try:
        for _ in range(200):
            last_loss = step()
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            step()
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    after = _live_tensors()
    assert after == before
    assert growth < 20_000, f"memory grew by {growth} bytes over 200 steps"
    assert last_loss < first_loss


def test_memory_stays_flat_without_the_garbage_collector():
    w = Tensor(np.zeros(5), requires_grad=True)
    X = np.ones((8, 5))
    gc.collect()
    gc.disable()
    try:
        before = _live_tensors()
        for _ in range(200):
            loss = ag.sigmoid(Tensor(X) @ w).mean()
            loss.backward()
            w.data -= 0.1 * w.grad
            w.zero_grad()
        del loss
        after = _live_tensors()
    finally:
        gc.enable()
    assert after == before


# ---------------------------------------------------------------- ag.grad


def test_grad_of_leaves_returns_arrays_and_leaves_grad_untouched():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = Tensor([3.0], requires_grad=True)
    out = (x * x * y).sum()
    gx, gy = ag.grad(out, [x, y])
    np.testing.assert_array_equal(gx, 2 * x.data * 3.0)
    np.testing.assert_array_equal(gy, [5.0])
    assert isinstance(gx, np.ndarray)
    assert x.grad is None and y.grad is None


def test_grad_of_a_single_input_returns_one_array():
    x = Tensor([1.0, 2.0], requires_grad=True)
    g = ag.grad((x * 3).sum(), x)
    np.testing.assert_array_equal(g, [3.0, 3.0])


def test_grad_of_an_intermediate_result():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    out = (h * h).sum()
    gh, gx = ag.grad(out, [h, x])
    np.testing.assert_array_equal(gh, 2 * h.data)
    np.testing.assert_array_equal(gx, 2 * h.data * 3)
    assert x.grad is None
    with pytest.warns(UserWarning, match="retain_grad"):
        assert h.grad is None


def test_grad_of_an_intermediate_used_twice_is_complete():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    out = (h * 2 + h.exp()).sum()
    np.testing.assert_allclose(ag.grad(out, h), 2 + np.exp(h.data))


def test_grad_with_grad_output_for_a_non_scalar_output():
    x = Tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([1.0, -1.0])
    g = ag.grad(x * x, x, grad_output=seed)
    np.testing.assert_array_equal(g, [2.0, -4.0])
    np.testing.assert_array_equal(seed, [1.0, -1.0])
    with pytest.raises(ValueError, match=r"\(2,\)"):
        ag.grad(x * x, x)


def test_grad_results_do_not_share_memory_with_the_grad_output():
    x = Tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([1.0, -1.0])
    g = ag.grad(x + 0, x, grad_output=seed)
    assert not np.shares_memory(g, seed)


def test_grad_of_an_unused_input_is_an_error_unless_allow_unused():
    x = Tensor([1.0], requires_grad=True)
    unused = Tensor([2.0], requires_grad=True, name="unused")
    out = (x * 2).sum()
    with pytest.raises(ag.AutogradError, match=r"input 1 \(unused\)"):
        ag.grad(out, [x, unused])
    gx, gu = ag.grad(out, [x, unused], allow_unused=True)
    np.testing.assert_array_equal(gx, [2.0])
    assert gu is None


def test_grad_of_an_input_that_does_not_require_grad_is_an_error():
    x = Tensor([1.0], requires_grad=True)
    with pytest.raises(ag.AutogradError, match="input 1"):
        ag.grad((x * 2).sum(), [x, Tensor([1.0])])


def test_grad_with_create_graph_returns_tensors():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (g,) = ag.grad((x**3).sum(), [x], create_graph=True)
    assert isinstance(g, Tensor)
    assert g.requires_grad
    np.testing.assert_array_equal(g.data, 3 * x.data**2)
    assert x.grad is None


def test_intermediates_no_vjp_reads_are_freed_while_the_loss_is_alive():
    # sigmoid's VJP reads only its output and add's reads nothing, so the graph must not keep the
    # matmul and add results alive: this is what keeps a step's peak memory near hand-written NumPy.
    gc.disable()
    try:
        x = Tensor(np.ones((4, 3)))
        w = Tensor(np.full((3, 2), 0.1), requires_grad=True)
        b = Tensor(np.zeros(2), requires_grad=True)
        product = x @ w
        z = product + b
        a = z.sigmoid()
        loss = (a * a).sum()
        freed_product, freed_z, kept_a = weakref.ref(product), weakref.ref(z), weakref.ref(a)
        del product, z, a
        assert freed_product() is None and freed_z() is None
        assert kept_a() is not None  # mul reads its inputs, so a stays
        loss.backward()
    finally:
        gc.enable()
    expected_a = 1 / (1 + np.exp(-0.3))
    dz = 2 * expected_a * expected_a * (1 - expected_a)
    np.testing.assert_allclose(b.grad, np.full(2, 4 * dz))
    np.testing.assert_allclose(w.grad, np.full((3, 2), 4 * dz))


def test_second_derivatives_work_through_ops_that_keep_only_their_output():
    x = Tensor(0.4, requires_grad=True)
    y = (x * 2.0).sigmoid()  # the mul's output is dropped by sigmoid's node; sigmoid keeps its output
    (first,) = [ag.grad(y, x, create_graph=True)]
    (second,) = [ag.grad(first, x)]
    s = 1 / (1 + np.exp(-0.8))
    assert float(first.data) == pytest.approx(2 * s * (1 - s), rel=1e-12)
    assert float(second) == pytest.approx(4 * s * (1 - s) * (1 - 2 * s), rel=1e-12)


@pytest.mark.parametrize(
    "use",
    [
        lambda y: y * 2,
        lambda y: 2 * y,
        lambda y: y / 2,
        lambda y: y @ np.ones((3, 2)),
        lambda y: np.ones((2, 4)) @ y,
    ],
    ids=["y * 2", "2 * y", "y / 2", "y @ C", "C @ y"],
)
def test_a_node_keeps_only_what_its_vjp_reads_for_the_inputs_needing_a_gradient(use):
    # A product's gradient for y reads only the other operand: the node holds y as the node that
    # computed it, so y's array is freed as soon as the user drops y, while z's graph lives on.
    gc.disable()
    try:
        x = Tensor(np.arange(1.0, 13.0).reshape(4, 3), requires_grad=True)
        y = x * 3
        z = use(y)
        array = weakref.ref(y.data)
        expected = ag.grad(use(x * 3).sum(), x)
        del y
        assert array() is None
        assert z.op is not None
        z.sum().backward()
    finally:
        gc.enable()
    np.testing.assert_allclose(x.grad, expected)


def test_a_product_of_two_tensors_needing_gradients_keeps_both():
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([3.0, 4.0], requires_grad=True)
    y = x * 3
    z = y * w  # w's gradient reads y
    array = weakref.ref(y.data)
    del y
    assert array() is not None
    z.sum().backward()
    np.testing.assert_array_equal(w.grad, [3.0, 6.0])


def test_the_version_check_covers_exactly_the_inputs_a_node_keeps():
    w = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    loss = (w * c).sum()  # keeps c (w's gradient reads it), not w
    with ag.no_grad():
        w += 1  # not read by backward: harmless
    loss.backward()
    np.testing.assert_array_equal(w.grad, [3.0, 4.0])
    loss = (w * c).sum()
    c += 1  # read by backward: an error naming it
    with pytest.raises(ag.AutogradError, match=r"mul.*needs its input 1 .*version 1, saved at version 0"):
        loss.backward()


def test_second_derivatives_through_a_node_that_did_not_keep_its_input():
    x = Tensor([0.5, -1.0], requires_grad=True)
    z = (x * x) * 3  # the outer mul keeps the 3, not x * x
    (first,) = [ag.grad(z.sum(), x, create_graph=True)]
    np.testing.assert_allclose(first.data, 6 * x.data)
    np.testing.assert_allclose(ag.grad(first.sum(), x), [6.0, 6.0])
