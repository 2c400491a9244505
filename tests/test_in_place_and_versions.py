"""In-place operators (+= -= *= /=) and the version counter that keeps backward from using changed values."""

from __future__ import annotations

import re

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import AutogradError, ShapeError, Tensor, no_grad

IN_PLACE = {
    "+=": (lambda t, v: t.__iadd__(v), np.add),
    "-=": (lambda t, v: t.__isub__(v), np.subtract),
    "*=": (lambda t, v: t.__imul__(v), np.multiply),
    "/=": (lambda t, v: t.__itruediv__(v), np.true_divide),
}


# ---------------------------------------------------------------- in-place operators


@pytest.mark.parametrize("symbol", list(IN_PLACE))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("operand", ["number", "array", "tensor"])
def test_an_in_place_operator_updates_the_same_tensor_keeping_dtype_and_leaf_status(symbol, dtype, operand):
    update, ufunc = IN_PLACE[symbol]
    start = np.array([1.0, -2.0, 4.0], dtype)
    value = {"number": 2.0, "array": np.array([2.0, 0.5, -4.0]), "tensor": Tensor([2.0, 0.5, -4.0])}[operand]
    w = Tensor(start.copy(), requires_grad=True, name="w")
    array = w.data
    with no_grad():
        result = update(w, value)
    assert result is w and w.data is array  # identity and storage kept
    assert w.dtype == dtype and w.is_leaf and w.requires_grad and w.name == "w"
    plain = value.data if isinstance(value, Tensor) else value
    np.testing.assert_allclose(w.data, ufunc(start, plain).astype(dtype), rtol=1e-6)
    assert w._version == 1


def test_the_pytorch_idiom_for_a_parameter_update_changes_every_parameter():
    params = [Tensor([1.0, 2.0], requires_grad=True), Tensor([[3.0]], requires_grad=True)]
    ((params[0] * params[0]).sum() + params[1].sum()).backward()
    with no_grad():
        for p in params:
            p -= 0.5 * p.grad
    np.testing.assert_allclose(params[0].data, [0.0, 0.0])
    np.testing.assert_allclose(params[1].data, [[2.5]])
    assert [p._version for p in params] == [1, 1]


def test_python_rebinding_keeps_the_name_on_the_same_tensor():
    w = Tensor([1.0], requires_grad=True)
    same = w
    with no_grad():
        w += 1
        w *= 3
    assert w is same
    np.testing.assert_array_equal(same.data, [6.0])
    assert same._version == 2


def test_a_tensor_that_does_not_require_grad_can_change_in_place_while_recording():
    t = Tensor([1.0, 2.0])
    t += np.array([1.0, 1.0])
    t /= 4
    np.testing.assert_array_equal(t.data, [0.5, 0.75])
    assert not t.requires_grad and t._version == 2


@pytest.mark.parametrize("symbol", list(IN_PLACE))
def test_a_leaf_that_requires_grad_refuses_in_place_changes_while_recording(symbol):
    update, _ = IN_PLACE[symbol]
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    with pytest.raises(AutogradError, match=rf"{re.escape(symbol)}.*'w'.*leaf that requires grad.*no_grad"):
        update(w, 1.0)
    np.testing.assert_array_equal(w.data, [1.0, 2.0])
    assert w._version == 0


def test_a_recorded_intermediate_refuses_in_place_changes_rather_than_detaching():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(AutogradError, match=r"\+=.*computed by mul.*y = y \+ x"):
        y += 1
    assert y.op is not None and y.requires_grad
    np.testing.assert_array_equal(y.data, [2.0, 4.0])
    y.sum().backward()  # still connected and unchanged
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_adding_a_tensor_that_requires_grad_in_place_is_refused_instead_of_dropping_its_gradient():
    total = Tensor([0.0, 0.0])
    w = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(AutogradError, match="right-hand side requires grad"):
        total += w
    np.testing.assert_array_equal(total.data, [0.0, 0.0])


def test_an_in_place_result_that_would_change_the_shape_is_a_shape_error():
    t = Tensor([1.0, 2.0])
    with pytest.raises(ShapeError, match=r"\+=.*\(2, 2\).*shape \(2,\)"):
        t += np.ones((2, 2))
    assert t._version == 0


def test_an_in_place_change_of_a_read_only_array_says_so():
    t = Tensor(np.broadcast_to(np.array([1.0]), (3,)))
    with pytest.raises(ValueError, match="read-only"):
        t += 1


# ---------------------------------------------------------------- the version counter


def test_every_tensor_starts_at_version_zero():
    x = Tensor([1.0], requires_grad=True)
    assert x._version == 0 and (x * 2)._version == 0


def test_changing_a_saved_input_between_forward_and_backward_raises_naming_the_op_and_tensor():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    x = Tensor([3.0, 4.0], requires_grad=True)
    loss = (w * x).sum()  # mul saves w and x
    with no_grad():
        w -= 0.1 * np.ones(2)
    with pytest.raises(
        AutogradError, match=r"mul.*'w'.*shape \(2,\).*version 1, saved at version 0.*in-place"
    ):
        loss.backward()


def test_an_optimizer_style_version_bump_is_detected_too():
    w = Tensor([1.0, 2.0], requires_grad=True, name="theta1")
    loss = (w * w).sum()
    w.data -= 0.1  # what an optimizer does, followed by the bump the contract asks of it
    w._version += 1
    with pytest.raises(AutogradError, match="theta1"):
        loss.backward()


@pytest.mark.parametrize("mode", ["backward", "create_graph", "grad"])
def test_every_backward_mode_checks_versions(mode):
    w = Tensor([1.0, 2.0], requires_grad=True)
    loss = (w.exp() * w).sum()
    with no_grad():
        w *= 2
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        if mode == "grad":
            ag.grad(loss, [w])
        else:
            loss.backward(create_graph=mode == "create_graph")


def test_changing_a_saved_output_in_place_is_detected():
    x = Tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()  # exp saves its output
    with no_grad():
        y += 1
    with pytest.raises(AutogradError, match=r"exp.*its output.*modified by an in-place operation"):
        y.sum().backward()


def test_a_change_to_an_input_whose_values_are_not_saved_is_harmless():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x + 3.0).sum()  # add's gradient does not read x
    with no_grad():
        x += 10
    loss.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_recomputing_the_forward_pass_after_the_change_works():
    w = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        w += 1
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad, [4.0, 6.0])


def test_the_version_check_costs_nothing_on_an_unchanged_graph_used_twice():
    w = Tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    loss.backward()
    np.testing.assert_array_equal(w.grad, [4.0, 8.0])


# ---------------------------------------------------------------- views share their base's version


def test_a_weight_used_through_its_transpose_is_still_checked_after_an_optimizer_step():
    w = Tensor(np.ones((2, 3)), requires_grad=True, name="W")
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    loss = (x @ w.T).sum()  # matmul saves the view w.T, whose array is w's
    w.data -= 0.1  # an optimizer's step, and its bump
    w._version += 1
    with pytest.raises(AutogradError, match=r"matmul.*a view of tensor 'W'.*version 1, saved at version 0"):
        loss.backward()


@pytest.mark.parametrize(
    "make_view",
    [lambda t: t.detach(), lambda t: t.reshape(6), lambda t: t[0], lambda t: t.T, lambda t: t[..., 1:]],
    ids=["detach", "reshape", "int index", "transpose", "slice"],
)
def test_an_in_place_change_through_a_view_counts_as_a_change_of_its_base(make_view):
    x = Tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    loss = (x * x).sum()
    with no_grad():
        view = make_view(x)
        view += 1
    assert x._version == 1 and view._version == 1
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        loss.backward()


def test_a_change_through_a_view_of_a_saved_output_is_detected():
    x = Tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()
    with no_grad():
        row = y.reshape(2, 1)[0]  # a view of a view of y's array
        row *= 2
    with pytest.raises(AutogradError, match="exp needs its output"):
        y.sum().backward()


def test_a_copy_made_by_fancy_indexing_is_not_a_view():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (x * x).sum()
    with no_grad():
        picked = x[[0, 2]]
        picked += 1
    assert x._version == 0 and picked._base is None
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_a_tensor_made_from_another_tensor_shares_its_array_and_its_version():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    alias = Tensor(x)
    assert alias.data is x.data
    alias += 1
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        loss.backward()


@pytest.mark.parametrize("symbol", list(IN_PLACE))
@pytest.mark.parametrize(
    "make_view",
    [lambda t: t[:], lambda t: t.reshape(6), lambda t: t[0], lambda t: t.T],
    ids=["slice", "reshape", "int index", "transpose"],
)
def test_a_view_made_before_its_leaf_required_grad_refuses_in_place_changes_as_the_leaf_does(
    symbol, make_view
):
    update, _ = IN_PLACE[symbol]
    a = Tensor(np.arange(1.0, 7.0).reshape(2, 3), name="a")
    b = make_view(a)
    a.requires_grad = True
    with pytest.raises(
        AutogradError, match=rf"{re.escape(symbol)}: .*view of tensor 'a'.*leaf that requires grad"
    ):
        update(b, 5.0)
    np.testing.assert_array_equal(a.data, np.arange(1.0, 7.0).reshape(2, 3))
    assert a._version == 0
    with no_grad():  # where a parameter update belongs
        update(b, 5.0)
    assert a._version == 1


def test_a_view_of_an_intermediate_made_under_no_grad_refuses_in_place_changes_outside_it():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with no_grad():
        view = y[:]
    with pytest.raises(AutogradError, match=r"\+=: .*view of a tensor, which is computed by mul"):
        view += 1
    np.testing.assert_array_equal(y.data, [2.0, 4.0])


def test_detach_shares_the_array_and_may_still_change_in_place_with_the_version_checked():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    d = x.detach()
    d += 1  # allowed, as PyTorch's detach; backward then sees the change
    np.testing.assert_array_equal(x.data, [2.0, 3.0])
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        loss.backward()
