"""The errors users hit, anomaly detection, name scopes, and numerically stable sigmoid / BCE."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor

# ---------------------------------------------------------------- the error classes


def test_error_classes_form_one_family():
    assert issubclass(ag.ShapeError, ag.AutogradError)
    assert issubclass(ag.ShapeError, ValueError)
    assert issubclass(ag.AnomalyError, ag.AutogradError)
    assert issubclass(ag.AnomalyError, FloatingPointError)
    assert issubclass(ag.GradcheckError, ag.AutogradError)


# ---------------------------------------------------------------- shape errors


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)), ((5, 2, 3), (4, 3, 2)), ((2, 3, 4), (5,))],
)
def test_matmul_shape_mismatch_names_the_op_and_both_shapes(a_shape, b_shape):
    a, b = Tensor(np.ones(a_shape), requires_grad=True), Tensor(np.ones(b_shape))
    pattern = rf"matmul.*{re.escape(str(a_shape))}.*{re.escape(str(b_shape))}"
    with pytest.raises(ag.ShapeError, match=pattern):
        a @ b
    with pytest.raises(ValueError, match=pattern):
        a @ np.ones(b_shape)


def test_matmul_of_a_scalar_is_a_shape_error():
    with pytest.raises(ag.ShapeError, match=r"matmul.*\(\).*\(3,\)"):
        Tensor(2.0) @ Tensor(np.ones(3))


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
    ],
)
@pytest.mark.parametrize("other_kind", ["tensor", "ndarray"])
def test_broadcast_mismatch_names_the_op_and_both_shapes(name, op, other_kind):
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones(4)) if other_kind == "tensor" else np.ones(4)
    with pytest.raises(ag.ShapeError, match=rf"{name}.*\(2, 3\).*\(4,\)"):
        op(a, b)
    with pytest.raises(ag.ShapeError, match=rf"{name}.*\(4,\).*\(2, 3\)"):
        op(b, a)


def test_binary_cross_entropy_shape_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ag.ShapeError, match=r"bce_with_logits.*\(3,\).*\(4,\)"):
        ag.binary_cross_entropy_with_logits(Tensor(np.zeros(3)), np.zeros(4))


def test_binary_cross_entropy_rejects_an_unknown_reduction():
    with pytest.raises(ValueError, match=r"reduction.*'avg'"):
        ag.binary_cross_entropy_with_logits(Tensor(np.zeros(3)), np.zeros(3), reduction="avg")


def test_reshape_to_a_wrong_size_names_both_shapes():
    with pytest.raises(ag.ShapeError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        Tensor(np.ones((2, 3))).reshape(4, 2)


def test_transpose_with_wrong_axes_is_a_shape_error():
    with pytest.raises(ag.ShapeError, match=r"transpose.*\(2, 3\)"):
        Tensor(np.ones((2, 3))).transpose(0, 1, 2)


@pytest.mark.parametrize("method", ["sum", "mean", "max", "logsumexp"])
def test_a_reduction_axis_out_of_range_is_a_shape_error(method):
    with pytest.raises(ag.ShapeError, match=rf"{method}: axis 2 is out of range.*2 dimensions"):
        getattr(Tensor(np.ones((2, 3))), method)(axis=2)
    with pytest.raises(ag.ShapeError, match="repeated axis"):
        getattr(Tensor(np.ones((2, 3))), method)(axis=(0, -2))


@pytest.mark.parametrize("fn", [ag.softmax, ag.log_softmax])
def test_a_softmax_axis_out_of_range_is_a_shape_error(fn):
    with pytest.raises(ag.ShapeError, match="axis 3"):
        fn(Tensor(np.ones((2, 3))), axis=3)


def test_max_of_an_empty_tensor_is_a_shape_error():
    with pytest.raises(ag.ShapeError, match="empty"):
        Tensor(np.ones((0, 3))).max()


def test_an_out_of_range_index_names_the_tensor_shape():
    with pytest.raises(IndexError, match=r"getitem.*\(2, 3\)"):
        Tensor(np.ones((2, 3)))[:, 7]


def test_a_float_index_array_is_a_type_error():
    with pytest.raises(TypeError, match="float64"):
        Tensor(np.ones(3))[np.array([0.0, 1.0])]


# ---------------------------------------------------------------- type errors


@pytest.mark.parametrize("bad", ["a string", {"a": 1}, None, object()])
def test_an_unsupported_operand_names_its_type(bad):
    t = Tensor([1.0, 2.0], requires_grad=True)
    name = type(bad).__name__
    for op in (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a / b):
        with pytest.raises(TypeError, match=name):
            op(t, bad)
        with pytest.raises(TypeError, match=name):
            op(bad, t)


def test_an_unsupported_argument_to_a_function_names_its_type():
    with pytest.raises(TypeError, match="str"):
        ag.sigmoid("x")
    with pytest.raises(TypeError, match="dict"):
        ag.binary_cross_entropy_with_logits(Tensor([0.0]), {"y": 1})


def test_an_exponent_that_is_not_numeric_is_a_type_error_naming_its_type():
    with pytest.raises(TypeError, match=r"pow.*str"):
        Tensor([2.0]) ** "2"


# ---------------------------------------------------------------- NaN and Inf, like NumPy, unless detecting anomalies


def test_log_of_non_positive_values_gives_nan_and_minus_inf_like_numpy():
    with np.errstate(divide="ignore", invalid="ignore"):
        out = Tensor([0.0, -1.0, 1.0]).log()
    assert out.data[0] == -np.inf
    assert np.isnan(out.data[1])
    assert out.data[2] == 0.0


def test_detect_anomaly_names_the_op_whose_output_became_non_finite():
    x = Tensor([1.0, 0.0, 2.0], requires_grad=True)
    with ag.detect_anomaly(), np.errstate(divide="ignore"), pytest.raises(ag.AnomalyError) as info:
        x.log()
    message = str(info.value)
    assert message.startswith("log")
    assert "index (1,)" in message
    assert "every input was finite" in message
    assert __file__.rsplit("/", 1)[-1] in message  # where the user created it


def test_detect_anomaly_names_the_op_for_a_nan_from_a_negative_log():
    with ag.detect_anomaly(), np.errstate(invalid="ignore"), pytest.raises(ag.AnomalyError, match=r"^log"):
        ag.log(Tensor([-1.0]))


def test_detect_anomaly_says_when_an_input_was_already_non_finite():
    with np.errstate(invalid="ignore"):
        bad = Tensor([np.nan, 1.0])
    with (
        ag.detect_anomaly(),
        pytest.raises(ag.AnomalyError, match=r"^exp.*input\(s\) \[0\] already held NaN"),
    ):
        bad.exp()


def test_detect_anomaly_names_a_nan_that_first_appears_in_backward():
    x = Tensor([0.0, 4.0], requires_grad=True)
    with ag.detect_anomaly():
        y = (x**0.5).sum()  # sqrt(0) = 0 is fine; its gradient 0.5 / sqrt(0) is not
        with np.errstate(divide="ignore"), pytest.raises(ag.AnomalyError) as info:
            y.backward()
    message = str(info.value)
    assert message.startswith("backward of pow(0.5)")
    assert "input 0" in message
    assert "index (0,)" in message
    assert x.grad is None


def test_without_detect_anomaly_a_bad_gradient_is_just_inf():
    x = Tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        (x**0.5).sum().backward()
    assert x.grad[0] == np.inf
    assert x.grad[1] == 0.25


def test_detect_anomaly_is_silent_for_finite_values():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with ag.detect_anomaly():
        (x.log() * ag.softmax(x)).sum().backward()
    assert np.isfinite(x.grad).all()


def test_detect_anomaly_is_switched_off_afterwards_even_after_an_error():
    with pytest.raises(ag.AnomalyError), ag.detect_anomaly(), np.errstate(divide="ignore"):
        Tensor([0.0]).log()
    with np.errstate(divide="ignore"):
        assert Tensor([0.0]).log().data[0] == -np.inf  # no error now


def test_detect_anomaly_as_a_decorator():
    @ag.detect_anomaly()
    def f(t):
        return t.log()

    with np.errstate(divide="ignore"), pytest.raises(ag.AnomalyError, match=r"^log"):
        f(Tensor([0.0]))
    with np.errstate(divide="ignore"):
        assert np.isinf(Tensor([0.0]).log().data).all()


# ---------------------------------------------------------------- name_scope


def test_name_scope_sets_the_scope_of_tensors_and_ops():
    x = Tensor([1.0], requires_grad=True)
    with ag.name_scope("layer1") as scope:
        w = Tensor([2.0], requires_grad=True)
        h = x * w
    assert scope == "layer1"
    assert w.scope == "layer1"
    assert h.scope == "layer1"
    assert h.op.scope == "layer1"
    assert x.scope is None
    assert (h + 1).scope is None


def test_name_scopes_nest_with_a_slash():
    x = Tensor([1.0], requires_grad=True)
    with ag.name_scope("outer"):
        a = x * 2
        with ag.name_scope("inner") as scope:
            b = a + 1
        c = b * 3
    assert scope == "outer/inner"
    assert a.op.scope == "outer"
    assert b.scope == "outer/inner" and b.op.scope == "outer/inner"
    assert c.op.scope == "outer"


def test_name_scope_is_restored_after_an_exception_and_as_a_decorator():
    with pytest.raises(RuntimeError), ag.name_scope("broken"):
        raise RuntimeError
    assert Tensor([1.0]).scope is None

    @ag.name_scope("block")
    def block(t, depth):
        return t * 2 if depth == 0 else block(t, depth - 1)

    with ag.name_scope("model"):  # restores the scope for later tests even if block leaks one
        y = block(Tensor([1.0], requires_grad=True), 2)
        scope_after = Tensor([1.0]).scope
    assert y.op.scope == "model/block/block/block"
    assert scope_after == "model"
    assert Tensor([1.0]).scope is None


@pytest.mark.parametrize("bad", ["", "a/b", None, 3])
def test_a_bad_name_scope_is_a_value_error(bad):
    with pytest.raises(ValueError, match="name_scope"):
        ag.name_scope(bad)


# ---------------------------------------------------------------- sigmoid and BCE at the extremes


def test_sigmoid_is_finite_and_warning_free_at_plus_minus_1000():
    for dtype in (np.float64, np.float32):
        z = Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype), requires_grad=True)
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            s = ag.sigmoid(z)
            s.sum().backward()
            method = z.sigmoid()
        assert s.dtype == dtype
        assert np.isfinite(s.data).all()
        np.testing.assert_allclose(s.data, [0.0, np.exp(-50.0), 0.5, 1.0, 1.0], rtol=1e-6, atol=0)
        np.testing.assert_array_equal(method.data, s.data)
        assert np.isfinite(z.grad).all()
        np.testing.assert_allclose(z.grad[[0, 2, 4]], [0.0, 0.25, 0.0])


def test_sigmoid_of_the_extremes_of_the_float_range():
    big = np.finfo(np.float64).max
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = ag.sigmoid(Tensor([-big, big, -np.inf, np.inf]))
    np.testing.assert_array_equal(s.data, [0.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize(
    ("dtype", "logits"), [(np.float64, [-708.5, -709.0, -709.7]), (np.float32, [-87.5, -88.0, -88.7])]
)
def test_sigmoid_is_warning_free_where_its_value_is_subnormal(dtype, logits):
    # There e^-z is finite but 1 / (1 + e^-z) is below the smallest normal float: the division
    # underflows, which raised under np.errstate(all="raise") before; the value is about e^z
    z = np.array(logits, dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = ag.sigmoid(Tensor(z)).data
    with np.errstate(under="ignore"):
        expected = np.exp(z.astype(np.float64)).astype(dtype)
    assert (s > 0).all() and (s < np.finfo(dtype).tiny).all()
    np.testing.assert_allclose(s, expected, rtol=0, atol=2 * float(np.finfo(dtype).smallest_subnormal))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits_is_finite_and_warning_free_at_plus_minus_1000(reduction):
    z = Tensor([1000.0, -1000.0, 1000.0, -1000.0], requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        loss = ag.binary_cross_entropy_with_logits(z, y, reduction=reduction)
        loss.backward(None if reduction != "none" else np.ones(4))
    per_element = np.array([0.0, 0.0, 1000.0, 1000.0])
    expected = {"mean": per_element.mean(), "sum": per_element.sum(), "none": per_element}[reduction]
    np.testing.assert_allclose(loss.data, expected)
    scale = 0.25 if reduction == "mean" else 1.0
    np.testing.assert_allclose(z.grad, scale * np.array([0.0, 0.0, 1.0, -1.0]))


def test_binary_cross_entropy_with_logits_in_float32_at_the_extremes():
    z = Tensor(np.array([1000.0, -1000.0, 0.0], dtype=np.float32), requires_grad=True)
    y = np.array([0.0, 1.0, 1.0], dtype=np.float32)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        loss = ag.binary_cross_entropy_with_logits(z, y, reduction="sum")
        loss.backward()
    assert loss.dtype == np.float32 and z.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), 2000.0 + np.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(z.grad, [1.0, -1.0, -0.5])
