"""retain_grad and register_hook: seeing and replacing the gradient of any tensor during backward."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.tensor import _HOOKS


def x_leaf():
    return Tensor([0.5, -1.0, 2.0], requires_grad=True, name="x")


# ---------------------------------------------------------------- retain_grad


def test_an_intermediate_keeps_its_gradient_only_when_asked():
    x = x_leaf()
    y, kept = x * x, x * 3
    kept.retain_grad()
    (y.sum() + (kept * kept).sum()).backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        assert y.grad is None
    np.testing.assert_allclose(kept.grad, 2 * kept.data)


def test_retain_grad_sums_fan_out_and_accumulates_across_backward_calls():
    x = x_leaf()
    y = x * x
    y.retain_grad()
    loss = (y * y).sum() + y.sum() + (2 * y).sum()  # y used three times
    loss.backward()
    expected = 2 * y.data + 1 + 2
    np.testing.assert_allclose(y.grad, expected)
    loss.backward()
    np.testing.assert_allclose(y.grad, 2 * expected)  # accumulates, as a leaf's gradient does
    np.testing.assert_allclose(x.grad, 2 * expected * 2 * x.data)


def test_retain_grad_equals_what_grad_returns_for_the_intermediate():
    x = x_leaf()
    h = x.tanh()
    h.retain_grad()
    loss = (h.exp() * x).sum()
    expected = ag.grad(loss, h)
    assert h.grad is None  # grad() touches no .grad
    loss.backward()
    np.testing.assert_allclose(h.grad, expected)


def test_retain_grad_on_a_leaf_changes_nothing_and_twice_is_once():
    x = x_leaf()
    x.retain_grad()
    y = x * 2
    y.retain_grad()
    y.retain_grad()
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(y.grad, [1.0, 1.0, 1.0])


def test_under_create_graph_the_retained_gradient_is_differentiable():
    x = x_leaf()
    y = x * x
    y.retain_grad()
    (y**3).sum().backward(create_graph=True)
    assert isinstance(y.grad, Tensor) and y.grad.requires_grad
    np.testing.assert_allclose(y.grad.data, 3 * y.data**2)
    x.grad = None
    y.grad.sum().backward()  # d/dx sum(3 x^4) = 12 x^3
    np.testing.assert_allclose(x.grad, 12 * x.data**3)


def test_retain_grad_needs_a_tensor_that_requires_grad():
    with pytest.raises(ag.AutogradError, match="retain_grad: the tensor does not require grad"):
        Tensor([1.0]).retain_grad()


# ---------------------------------------------------------------- register_hook


def test_a_hook_sees_the_complete_gradient_once_despite_fan_out():
    x = x_leaf()
    y = x * x
    seen = []
    y.register_hook(lambda g: seen.append(g.copy()))
    ((y * y).sum() + y.sum()).backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], 2 * y.data + 1)


def test_a_hooks_replacement_is_what_flows_on_and_what_is_retained():
    x = x_leaf()
    y = x * x
    y.register_hook(lambda g: 10 * g)
    y.retain_grad()
    (y.sum() + x.sum()).backward()
    np.testing.assert_allclose(y.grad, [10.0, 10.0, 10.0])
    np.testing.assert_allclose(x.grad, 10 * 2 * x.data + 1)


def test_hooks_run_in_order_each_seeing_the_previous_replacement():
    x = x_leaf()
    y = x * 1
    calls = []
    y.register_hook(lambda g: calls.append(("first", g.copy())) or g + 1)
    y.register_hook(lambda g: calls.append(("second", g.copy())))
    y.sum().backward()
    assert [name for name, _ in calls] == ["first", "second"]
    np.testing.assert_allclose(calls[1][1], [2.0, 2.0, 2.0])
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])


def test_a_hook_on_a_leaf_replaces_what_is_accumulated():
    x = x_leaf()
    x.register_hook(lambda g: -g)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, -2 * x.data)


def test_remove_unregisters_a_hook_and_twice_is_harmless():
    x = x_leaf()
    y = x * x
    calls = []
    handle = y.register_hook(lambda g: calls.append(1))
    y.sum().backward()
    handle.remove()
    handle.remove()
    y.sum().backward()
    assert calls == [1]


def test_hooks_also_run_for_grad_and_its_result_includes_the_replacement():
    x = x_leaf()
    y = x * x
    y.register_hook(lambda g: 0 * g)
    y.retain_grad()
    np.testing.assert_allclose(ag.grad((y + x).sum(), x), [1.0, 1.0, 1.0])
    assert y.grad is None and x.grad is None


def test_under_create_graph_a_hook_gets_and_may_return_tensors():
    x = x_leaf()
    y = x * x
    kinds = []

    def double(g):
        kinds.append(type(g))
        return g * 2

    y.register_hook(double)
    (y * y).sum().backward(create_graph=True)  # d/dx = 2 * (2 y) * 2x, doubled at y
    assert kinds == [Tensor]
    np.testing.assert_allclose(x.grad.data, 8 * x.data**3)
    first = x.grad  # 8 y x, recorded; the hook stays registered for the next pass
    x.grad = None
    first.sum().backward()
    # d/dx of 8 y x: 8 y directly, plus 8 x through y, which the hook doubles to 16 x, times dy/dx = 2x
    np.testing.assert_allclose(x.grad, 8 * x.data**2 + 16 * x.data * 2 * x.data)


def test_a_hook_returning_the_wrong_shape_is_an_error_naming_it():
    x = x_leaf()
    y = x * x

    def wrong(g):
        return g[:2]

    y.register_hook(wrong)
    with pytest.raises(
        ag.ShapeError, match=r"'wrong' returned a gradient of shape \(2,\) for a tensor of shape \(3,\)"
    ):
        y.sum().backward()


def test_register_hook_needs_a_callable_and_a_tensor_requiring_grad():
    with pytest.raises(TypeError, match="callable"):
        x_leaf().register_hook(3)
    with pytest.raises(ag.AutogradError, match="register_hook"):
        Tensor([1.0]).register_hook(print)


def test_a_hook_never_keeps_a_graph_alive():
    x = x_leaf()
    y = x * x
    y.register_hook(lambda g: None)
    y.retain_grad()
    node = weakref.ref(y.op)
    del y
    gc.collect()
    assert node() is None
    assert all(hooks.target() is not None for hooks in _HOOKS.values())


# ---------------------------------------------------------------- ag.grad stops at the inputs it is asked about


def test_grad_of_slices_does_not_run_the_hook_of_the_leaf_they_were_cut_from():
    x = x_leaf()
    fired = []
    x.register_hook(lambda g: fired.append("x"))
    a, b = x[:2], x[1:]
    out = (a * b).sum()
    ga, gb = ag.grad(out, [a, b])
    np.testing.assert_allclose(ga, b.data)
    np.testing.assert_allclose(gb, a.data)
    assert fired == []
    assert x.grad is None


def test_grad_of_an_intermediate_runs_nothing_below_it():
    x = x_leaf()
    fired = []
    x.register_hook(lambda g: fired.append("x"))
    h = x.tanh()
    below = x * 2  # a second path from x, not through h
    h.register_hook(lambda g: fired.append("h"))
    below.register_hook(lambda g: fired.append("below"))
    out = (h.exp() + below).sum()
    np.testing.assert_allclose(ag.grad(out, [h]), [np.exp(h.data)])
    assert fired == ["h"]  # not x's (past h), not below's (it does not lead to h)


def test_grad_of_an_input_and_a_leaf_further_on_gives_both_and_runs_both_hooks():
    x = x_leaf()
    fired = []
    x.register_hook(lambda g: fired.append("x"))
    h = x * x
    h.register_hook(lambda g: fired.append("h"))
    gh, gx = ag.grad((h * 3).sum(), [h, x])
    np.testing.assert_allclose(gh, [3.0, 3.0, 3.0])
    np.testing.assert_allclose(gx, 6 * x.data)
    assert fired == ["h", "x"]


def test_grad_stops_at_its_inputs_so_an_op_past_them_never_runs_its_vjp():
    class Refuses(ag.ops.Op):
        name = "refuses"

        def forward(self, x):
            return x * 1.0

        def vjp(self, g, out, x):
            raise AssertionError("a VJP past the requested input ran")

    x = x_leaf()
    h = ag.tensor.apply(Refuses(), x)
    np.testing.assert_allclose(ag.grad((h * h).sum(), h), 2 * h.data)


def test_grad_with_no_inputs_is_an_error():
    x = x_leaf()
    with pytest.raises(ag.AutogradError, match="grad: no inputs were given"):
        ag.grad((x * x).sum(), [])


# ---------------------------------------------------------------- reading the .grad of a non-leaf


def test_reading_the_grad_of_a_non_leaf_that_did_not_retain_it_warns_and_says_what_to_do():
    x = x_leaf()
    h = x * 2
    (h * h).sum().backward()
    with pytest.warns(
        UserWarning, match=r"\.grad of a tensor computed by mul \(not a leaf\).*retain_grad.*ag\.grad"
    ):
        assert h.grad is None


def test_no_warning_for_a_leaf_or_an_intermediate_that_retains_its_gradient():
    import warnings

    x = x_leaf()
    h = x * 2
    h.retain_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is None and h.grad is None  # before backward: nothing yet, and no warning
        (h * h).sum().backward()
        np.testing.assert_allclose(h.grad, 2 * h.data)
        np.testing.assert_allclose(x.grad, 8 * x.data)
