"""The Tensor itself: construction and dtype rules, attributes, conversions, repr and operators."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor

# ---------------------------------------------------------------- construction and dtype rules


@pytest.mark.parametrize(
    "data",
    [
        3,
        2.5,
        True,
        [1, 2, 3],
        [[1.0, 2.0], [3.0, 4.0]],
        (1, 2),
        np.arange(6).reshape(2, 3),
        np.array([1, 0], dtype=np.int8),
        np.array([True, False]),
        np.array([1.0, 2.0], dtype=np.float16),
        np.array([1.0, 2.0]),
    ],
)
def test_construction_gives_float64_unless_a_float32_array_is_given(data):
    t = Tensor(data)
    assert t.dtype == np.float64
    assert isinstance(t.data, np.ndarray)
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float64))


def test_a_float32_array_stays_float32():
    t = Tensor(np.array([1.5, 2.5], dtype=np.float32))
    assert t.dtype == np.float32
    assert t.data.dtype == np.float32


def test_a_float_ndarray_is_used_without_copying():
    array = np.array([1.0, 2.0])
    assert Tensor(array).data is array
    array32 = np.array([1.0, 2.0], dtype=np.float32)
    assert Tensor(array32).data is array32


def test_a_tensor_built_from_a_tensor_is_a_new_leaf_with_the_same_values():
    x = Tensor([1.0, 2.0], requires_grad=True)
    t = Tensor(x * 3)
    assert t.is_leaf and t.op is None and not t.requires_grad
    np.testing.assert_array_equal(t.data, [3.0, 6.0])


def test_defaults_are_no_grad_no_name_and_no_gradient():
    t = Tensor([1.0])
    assert t.requires_grad is False
    assert t.name is None
    assert t.grad is None
    assert t.op is None
    assert t.is_leaf


def test_requires_grad_and_name_are_stored():
    t = Tensor([1.0, 2.0], requires_grad=True, name="theta1")
    assert t.requires_grad is True
    assert t.name == "theta1"


@pytest.mark.parametrize(
    "bad", ["abc", ["a", "b"], [1, "a"], None, {"a": 1}, 1 + 2j, np.array([1 + 1j]), object()]
)
def test_non_numeric_data_raises_type_error_naming_its_type(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Tensor(bad)


def test_ragged_data_raises_value_error():
    with pytest.raises(ValueError):
        Tensor([[1.0, 2.0], [3.0]])


def test_a_non_string_name_raises_type_error():
    with pytest.raises(TypeError, match="name"):
        Tensor([1.0], name=3)


# ---------------------------------------------------------------- attributes and conversions


def test_shape_ndim_size_dtype_describe_the_array():
    t = Tensor(np.zeros((2, 3, 4)))
    assert t.shape == (2, 3, 4)
    assert t.ndim == 3
    assert t.size == 24
    assert t.dtype == np.float64
    s = Tensor(5.0)
    assert (s.shape, s.ndim, s.size) == ((), 0, 1)


@pytest.mark.parametrize("data", [4.5, [4.5], [[4.5]]])
def test_item_returns_the_single_value_as_a_python_float(data):
    value = Tensor(data).item()
    assert value == 4.5
    assert type(value) is float


def test_item_of_several_values_raises_naming_the_shape():
    with pytest.raises(ValueError, match=r"\(2,\)"):
        Tensor([1.0, 2.0]).item()


def test_float_of_a_single_value_tensor():
    assert float(Tensor([[2.5]])) == 2.5


def test_numpy_returns_the_underlying_array():
    t = Tensor([1.0, 2.0])
    assert t.numpy() is t.data


def test_detach_shares_data_but_leaves_the_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.requires_grad is False
    assert d.op is None
    assert d.data is y.data
    assert y.op is not None  # the original is untouched


def test_detached_values_are_constants_for_backward():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x.detach()).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])  # not 2x


def test_np_asarray_of_a_tensor_gives_its_values():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(np.asarray(t), t.data)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32


def test_np_array_of_a_tensor_is_a_copy():
    t = Tensor([1.0, 2.0])
    copy = np.array(t)
    copy[0] = 99.0
    assert t.data[0] == 1.0


def test_len_and_iteration_follow_the_first_axis():
    t = Tensor(np.arange(6.0).reshape(3, 2))
    assert len(t) == 3
    rows = list(t)
    assert len(rows) == 3
    np.testing.assert_array_equal(rows[2].data, [4.0, 5.0])
    with pytest.raises(TypeError):
        len(Tensor(1.0))


# ---------------------------------------------------------------- repr


def test_repr_shows_values():
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.])"


def test_repr_shows_requires_grad_name_and_float32():
    text = repr(Tensor(np.array([1.0], dtype=np.float32), requires_grad=True, name="w"))
    assert text.startswith("Tensor([1.]")
    assert "requires_grad=True" in text
    assert "name='w'" in text
    assert "dtype=float32" in text


def test_repr_of_a_result_names_its_op():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert "op=mul" in repr(x * 2)
    assert "op=sum(axis=0)" in repr((x * 2).sum(axis=0))


# ---------------------------------------------------------------- operators

A = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])
B = np.array([2.0, -1.0, 0.5])


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
    ],
)
@pytest.mark.parametrize("other_kind", ["tensor", "ndarray", "scalar", "numpy scalar", "list"])
def test_binary_operators_match_numpy_with_the_other_operand_on_either_side(name, op, other_kind):
    other = {
        "tensor": Tensor(B),
        "ndarray": B,
        "scalar": 2.5,
        "numpy scalar": np.float64(2.5),
        "list": B.tolist(),
    }[other_kind]
    plain_other = np.asarray(other.data if isinstance(other, Tensor) else other)
    left = op(Tensor(A), other)
    right = op(other, Tensor(A))
    assert isinstance(left, Tensor), name
    assert isinstance(right, Tensor), name
    np.testing.assert_allclose(left.data, op(A, plain_other))
    np.testing.assert_allclose(right.data, op(plain_other, A))


def test_int_scalars_and_int_arrays_work_as_operands():
    t = Tensor([1.0, 2.0])
    np.testing.assert_array_equal((t + 1).data, [2.0, 3.0])
    np.testing.assert_array_equal((np.array([1, 2]) * t).data, [1.0, 4.0])
    assert (np.array([1, 2]) * t).dtype == np.float64


def test_unary_minus():
    np.testing.assert_array_equal((-Tensor(A)).data, -A)


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, 0, 1.5, np.float64(2.0), np.int64(3)])
def test_pow_with_a_number_exponent_matches_numpy(exponent):
    x = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose((Tensor(x) ** exponent).data, x**exponent)


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((3,), (3,)),
        ((3,), (3, 4)),
        ((2, 3), (3,)),
        ((2, 3), (3, 4)),
        ((2, 3, 4), (4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
    ],
)
def test_matmul_matches_np_matmul(a_shape, b_shape):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    result = Tensor(a) @ Tensor(b)
    assert result.shape == np.matmul(a, b).shape
    np.testing.assert_allclose(result.data, a @ b)
    np.testing.assert_allclose((a @ Tensor(b)).data, a @ b)
    np.testing.assert_allclose((Tensor(a) @ b).data, a @ b)


def test_shape_methods_match_numpy():
    x = np.arange(24.0).reshape(2, 3, 4)
    t = Tensor(x)
    np.testing.assert_array_equal(t.T.data, x.T)
    np.testing.assert_array_equal(t.transpose().data, x.transpose())
    np.testing.assert_array_equal(t.transpose(1, 0, 2).data, x.transpose(1, 0, 2))
    np.testing.assert_array_equal(t.transpose((2, 0, 1)).data, x.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.reshape(4, 6).data, x.reshape(4, 6))
    np.testing.assert_array_equal(t.reshape((6, -1)).data, x.reshape(6, -1))
    np.testing.assert_array_equal(t[1, :, ::2].data, x[1, :, ::2])
    np.testing.assert_array_equal(t[[0, 0, 1]].data, x[[0, 0, 1]])
    np.testing.assert_array_equal(t[x > 10].data, x[x > 10])


def test_reductions_match_numpy():
    x = np.arange(6.0).reshape(2, 3)
    t = Tensor(x)
    for axis in (None, 0, 1, -1, (0, 1)):
        for keepdims in (False, True):
            np.testing.assert_allclose(
                t.sum(axis, keepdims=keepdims).data, x.sum(axis=axis, keepdims=keepdims)
            )
            np.testing.assert_allclose(
                t.mean(axis, keepdims=keepdims).data, x.mean(axis=axis, keepdims=keepdims)
            )
            np.testing.assert_allclose(
                t.max(axis, keepdims=keepdims).data, x.max(axis=axis, keepdims=keepdims)
            )


def test_operations_on_constants_record_nothing():
    result = (Tensor([1.0, 2.0]) * 3).exp().sum()
    assert result.requires_grad is False
    assert result.op is None


def test_operations_on_a_tensor_requiring_grad_record_their_op():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    assert y.requires_grad is True
    assert y.op is not None and y.op.name == "mul"
    assert y.grad is None


# ---------------------------------------------------------------- float32 is preserved

F32 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t + 1,
        lambda t: 1 + t,
        lambda t: t - 2.5,
        lambda t: 2.5 - t,
        lambda t: t * 3,
        lambda t: 3.0 * t,
        lambda t: t / 2,
        lambda t: 2.0 / t,
        lambda t: t * np.float64(2.0),
        lambda t: np.float64(2.0) * t,
        lambda t: t + np.array([1, 2, 3]),
        lambda t: -t,
        lambda t: t**2,
        lambda t: (t * t + 1) ** 2.5,
        lambda t: t ** np.float64(2.0),
        lambda t: t @ t.T,
        lambda t: t.T,
        lambda t: t.reshape(6),
        lambda t: t[0, [1, 1]],
        lambda t: t.sum(),
        lambda t: t.mean(axis=0),
        lambda t: t.max(axis=1),
        lambda t: t.exp(),
        lambda t: (t * t + 1).log(),
        lambda t: t.sigmoid(),
        lambda t: t.tanh(),
        lambda t: t.relu(),
        lambda t: ag.softmax(t),
        lambda t: ag.log_softmax(t, axis=0),
        lambda t: ag.logsumexp(t, axis=1),
        lambda t: ag.binary_cross_entropy_with_logits(t, np.ones((2, 3), dtype=np.float32)),
        lambda t: ag.binary_cross_entropy_with_logits(t, np.array([1, 0, 1]), reduction="sum"),
    ],
)
def test_float32_in_gives_float32_out_and_float32_gradients(fn):
    x = Tensor(F32.copy(), requires_grad=True)
    out = fn(x)
    assert out.dtype == np.float32
    (out * out).sum().backward()
    assert x.grad.dtype == np.float32
    assert x.grad.shape == x.shape


def test_float32_leaf_combined_with_float64_keeps_a_float32_gradient():
    x = Tensor(F32.copy(), requires_grad=True)
    (x * np.ones((2, 3))).sum().backward()  # a float64 array upcasts the result, as in NumPy
    assert x.grad.dtype == np.float32


# ---------------------------------------------------------------- errors for bad operands


@pytest.mark.parametrize("bad", ["abc", {"a": 1}, None, object(), 1 + 2j, ["a"]])
@pytest.mark.parametrize(
    "op", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b, lambda a, b: a @ b]
)
def test_an_unsupported_operand_raises_type_error_naming_its_type(bad, op):
    t = Tensor([1.0, 2.0])
    expected = "list" if isinstance(bad, list) else type(bad).__name__
    with pytest.raises(TypeError, match=expected):
        op(t, bad)
    with pytest.raises(TypeError, match=expected):
        op(bad, t)


@pytest.mark.parametrize("exponent", ["2", None, {"p": 2}])
def test_a_non_numeric_exponent_raises_type_error_naming_its_type(exponent):
    with pytest.raises(TypeError, match=rf"pow: .*{type(exponent).__name__}"):
        Tensor([1.0, 2.0]) ** exponent


def test_no_warnings_for_ordinary_operations():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = Tensor(np.linspace(0.1, 2.0, 6).reshape(2, 3), requires_grad=True)
        loss = (ag.softmax(x @ x.T) * x.sum(axis=1, keepdims=True).log()).mean()
        loss.backward()
    assert np.isfinite(x.grad).all()
