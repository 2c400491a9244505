"""Tensor semantics: comparisons, copies, gradient dtypes, tensor exponents and the checks on .grad and requires_grad."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import AutogradError, ShapeError, Tensor

# ---------------------------------------------------------------- comparisons

COMPARISONS = {
    "<": (lambda a, b: a < b, np.less),
    "<=": (lambda a, b: a <= b, np.less_equal),
    ">": (lambda a, b: a > b, np.greater),
    ">=": (lambda a, b: a >= b, np.greater_equal),
    "==": (lambda a, b: a == b, np.equal),
    "!=": (lambda a, b: a != b, np.not_equal),
}


@pytest.mark.parametrize("symbol", list(COMPARISONS))
@pytest.mark.parametrize("other", ["tensor", "array", "number", "array on the left", "number on the left"])
def test_comparisons_are_elementwise_and_give_boolean_ndarrays(symbol, other):
    compare, ufunc = COMPARISONS[symbol]
    a = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, -1.0]])
    b = np.array([1.0, 1.0, 0.0])
    t = Tensor(a, requires_grad=True)
    if other == "tensor":
        got, expected = compare(t, Tensor(b)), ufunc(a, b)
    elif other == "array":
        got, expected = compare(t, b), ufunc(a, b)
    elif other == "number":
        got, expected = compare(t, 1.0), ufunc(a, 1.0)
    elif other == "array on the left":
        got, expected = compare(b, t), ufunc(b, a)
    else:
        got, expected = compare(1.0, t), ufunc(1.0, a)
    assert type(got) is np.ndarray and got.dtype == bool
    np.testing.assert_array_equal(got, expected)


def test_a_0d_comparison_is_a_0d_boolean_array_usable_in_if():
    result = Tensor(0.0) == 0.0
    assert type(result) is np.ndarray and result.shape == () and bool(result)
    assert not (Tensor(0.0) < 0.0)


def test_a_comparison_mask_indexes_the_tensor():
    x = Tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    x[x > 0].sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0, 1.0])


def test_tensors_still_hash_by_identity_so_sets_and_dicts_work():
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 2.0])
    assert len({a, b}) == 2 and {a: 1, b: 2}[a] == 1
    assert a in {a} and b not in {a}
    assert (a == None) is False and (a != None) is True  # noqa: E711 (not a comparison of values)
    assert a != "text"


def test_membership_in_a_list_compares_elementwise_as_in_pytorch():
    a, b = Tensor([1.0, 2.0]), Tensor([5.0, 6.0])
    assert a in [a]  # identity is checked first
    with pytest.raises(ValueError, match="ambiguous"):
        b in [a]  # noqa: B015 (evaluating the membership is the point)
    assert Tensor(3.0) in [Tensor(1.0), Tensor(3.0)]  # one element: compares the values


def test_the_engine_bookkeeping_is_unaffected_by_elementwise_equality():
    x = Tensor([1.0, 1.0], requires_grad=True)
    y = Tensor([1.0, 1.0], requires_grad=True)  # equal values, different leaves
    (x * y + x + y).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    gx, gy = ag.grad((x * y).sum(), [x, y])
    np.testing.assert_array_equal(gx, [1.0, 1.0])
    np.testing.assert_array_equal(gy, [1.0, 1.0])


# ---------------------------------------------------------------- copies


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copying_a_leaf_copies_data_grad_name_and_requires_grad(how):
    w = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True, name="w")
    (w * w).sum().backward()
    c = copy.deepcopy(w) if how == "deepcopy" else pickle.loads(pickle.dumps(w))
    assert c is not w and c.data is not w.data and c.grad is not w.grad
    np.testing.assert_array_equal(c.data, w.data)
    np.testing.assert_array_equal(c.grad, w.grad)
    assert (c.name, c.requires_grad, c.dtype, c.is_leaf) == ("w", True, np.float32, True)
    c.data[0] = 9.0
    assert w.data[0] == 1.0
    (c * 3).sum().backward()  # the copy is a working leaf of its own
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])


def test_deepcopy_keeps_shared_tensors_shared():
    w = Tensor([1.0], requires_grad=True)
    pair = copy.deepcopy([w, w])
    assert pair[0] is pair[1] and pair[0] is not w


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copying_a_non_leaf_is_a_clear_error_even_for_a_long_graph(how):
    x = Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(500):
        y = y * 1.0
    y.name = "y"
    with pytest.raises(AutogradError, match=r"'y' was computed by mul; only leaves can be copied.*detach"):
        copy.deepcopy(y) if how == "deepcopy" else pickle.dumps(y)
    c = copy.deepcopy(y.detach())  # the way out the message names
    assert c.is_leaf and not c.requires_grad


def test_a_leaf_with_a_recorded_gradient_copies_the_gradients_values():
    x = Tensor([2.0], requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor)
    c = pickle.loads(pickle.dumps(x))
    assert type(c.grad) is np.ndarray
    np.testing.assert_array_equal(c.grad, [12.0])


# ---------------------------------------------------------------- a leaf's gradient has the leaf's dtype


def float32_leaf():
    return Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_float32_leaf_mixed_with_float64_arrays_gets_a_float32_gradient(create_graph):
    x = float32_leaf()
    (x * np.array([3.0, 4.0]) + (x * x) * np.array([0.5, 0.5])).sum().backward(create_graph=create_graph)
    grad = x.grad.data if create_graph else x.grad
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, [4.0, 6.0])


def test_second_order_through_a_float32_leaf_keeps_float32():
    x = float32_leaf()
    ((x * x * x) * np.array([1.0, 1.0])).sum().backward(create_graph=True)
    g = x.grad
    assert g.dtype == np.float32 and g.requires_grad
    x.grad = None
    g.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [6.0, 12.0])


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_float64_seed_on_a_float32_leaf_root_keeps_float32(create_graph):
    x = float32_leaf()
    x.backward(grad=Tensor(np.array([0.5, 0.25])), create_graph=create_graph)
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(x.grad.data if create_graph else x.grad), [0.5, 0.25])


@pytest.mark.parametrize("create_graph", [False, True])
def test_grad_with_a_float64_grad_output_keeps_the_inputs_dtype(create_graph):
    x = float32_leaf()
    y = x * np.array([2.0, 2.0])  # float64
    (g,) = ag.grad(y, [x], grad_output=Tensor(np.array([1.0, 3.0])), create_graph=create_graph)
    assert g.dtype == np.float32
    (h,) = ag.grad(x, [x], grad_output=np.array([1.0, 3.0]), create_graph=create_graph)
    assert h.dtype == np.float32


def test_a_user_set_float64_grad_stays_float32_after_accumulation():
    x = float32_leaf()
    x.grad = np.array([1.0, 1.0])
    (x * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


# ---------------------------------------------------------------- .grad and requires_grad are checked


def test_a_grad_of_the_wrong_shape_is_refused_when_set():
    x = Tensor(np.zeros((2, 3)), requires_grad=True, name="w")
    with pytest.raises(ShapeError, match=r"shape \(3,\).*'w'.*\(2, 3\)"):
        x.grad = np.ones(3)
    with pytest.raises(TypeError, match="list"):
        x.grad = [1.0, 2.0]
    x.grad = np.ones((2, 3))
    x.grad = None


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    x = Tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.raises(AutogradError, match=r"computed by mul.*not a leaf.*detach"):
        y.requires_grad = False
    assert y.requires_grad
    y.requires_grad = True  # already so: fine
    x.requires_grad = False  # a leaf may
    assert not x.requires_grad


# ---------------------------------------------------------------- axes of a 0-d tensor, extreme softmax inputs


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.sum(axis=0),
        lambda t: t.mean(axis=0),
        lambda t: t.max(axis=0),
        lambda t: t.logsumexp(axis=0),
        lambda t: ag.softmax(t, axis=0),
        lambda t: ag.log_softmax(t),
        lambda t: t.sum(axis=-1),
    ],
)
def test_an_axis_on_a_0d_tensor_is_out_of_range_and_says_so(call):
    with pytest.raises(ShapeError, match=r"axis -?[01] is out of range for a 0-d tensor"):
        call(Tensor(2.0))


def test_reducing_a_0d_tensor_over_all_axes_still_works():
    t = Tensor(2.0, requires_grad=True)
    (t.sum() + t.max() + t.logsumexp() + t.sum(axis=())).backward()
    assert t.grad == 4.0


@pytest.mark.parametrize("values", [[1e308, -1e308], [-1e308, 1e308, 0.0], [1.7e308, -1.7e308]], ids=str)
def test_softmax_family_is_warning_free_at_extreme_finite_inputs(values):
    x = Tensor([values], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = ag.softmax(x)
        lp = ag.log_softmax(x)
        lse = ag.logsumexp(x, axis=1)
        (lp[0, 0] + lse.sum() + p[0, 0]).backward()
    top = int(np.argmax(values))
    expected = np.zeros(len(values))
    expected[top] = 1.0
    np.testing.assert_array_equal(p.data[0], expected)
    assert lp.data[0, top] == 0.0 and lse.item() == max(values)
    assert np.isfinite(x.grad).all()


# ---------------------------------------------------------------- a tensor exponent


def test_a_number_to_a_tensor_power_and_its_gradient():
    t = Tensor([0.5, 2.0, -1.0], requires_grad=True)
    y = 2**t
    np.testing.assert_allclose(y.data, 2.0 ** np.array([0.5, 2.0, -1.0]))
    y.sum().backward()
    np.testing.assert_allclose(t.grad, 2.0**t.data * np.log(2.0))


def test_a_tensor_to_a_tensor_power_and_both_gradients():
    x = Tensor([0.5, 2.0, 3.0], requires_grad=True)
    y = Tensor([2.0, -1.0, 0.5], requires_grad=True)
    (x**y).sum().backward()
    np.testing.assert_allclose(x.grad, y.data * x.data ** (y.data - 1))
    np.testing.assert_allclose(y.grad, x.data**y.data * np.log(x.data))


def test_tensor_powers_at_a_zero_base_and_a_zero_exponent_have_the_limiting_gradients():
    x = Tensor([0.0, 0.0, 2.0, 0.0], requires_grad=True)
    y = Tensor([2.0, 0.0, 0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x**y).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0, 1.0])  # d/dx x^0 = 0, d/dx x^1 = 1 at x = 0
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, np.log(2.0), 0.0])  # d/dy 0^y = 0 for y >= 0


def test_a_zero_base_gives_pytorchs_gradients_for_negative_zero_and_positive_exponents():
    # PyTorch's pow backward for the exponent is grad * where(base == 0 and exponent >= 0, 0,
    # result * log(base)); at base 0 with exponent -1 that is 0^-1 * log(0) = inf * -inf = -inf.
    # For the base it is where(exponent == 0, 0, grad * exponent * base^(exponent - 1)): -1 * 0^-2 = -inf
    # at exponent -1, 0 at exponent 0 and 2 * 0^1 = 0 at exponent 2.
    x = Tensor([0.0, 0.0, 0.0], requires_grad=True)
    y = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    with np.errstate(divide="ignore"):  # 0^-1 = inf in the forward pass
        out = x**y
    np.testing.assert_array_equal(out.data, [np.inf, 1.0, 0.0])
    with np.errstate(divide="ignore"):  # 0^-2 in the base's gradient
        out.backward(np.array([2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(y.grad, [-np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad, [-np.inf, 0.0, 0.0])
    with np.errstate(divide="ignore"):
        gy = ag.grad((0.0**y).sum(), y, create_graph=True)  # recorded too: the same values
    np.testing.assert_array_equal(gy.data, [-np.inf, 0.0, 0.0])


def test_a_tensor_exponent_second_derivatives():
    x = Tensor([1.5, 2.0], requires_grad=True)
    y = Tensor([0.5, 3.0], requires_grad=True)
    gx, gy = ag.grad((x**y).sum(), [x, y], create_graph=True)
    hxx, hxy = ag.grad(gx.sum(), [x, y])
    a, b = x.data, y.data
    np.testing.assert_allclose(hxx, b * (b - 1) * a ** (b - 2))
    np.testing.assert_allclose(hxy, a ** (b - 1) * (1 + b * np.log(a)))
    (hyy,) = ag.grad(gy.sum(), [y])
    np.testing.assert_allclose(hyy, a**b * np.log(a) ** 2)


def test_an_array_exponent_is_accepted_too():
    x = Tensor([2.0, 3.0], requires_grad=True)
    (x ** np.array([2, 3])).sum().backward()
    np.testing.assert_allclose(x.grad, [4.0, 27.0])


class Parameter(Tensor):
    """A subclass with an attribute of its own, as a layer library might define."""

    def __init__(self, data, name=None):
        super().__init__(data, requires_grad=True, name=name)
        self.note = {"init": "uniform"}


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copying_a_subclassed_leaf_keeps_its_class_and_attributes(how):
    p = Parameter([1.0, 2.0], name="theta")
    c = copy.deepcopy(p) if how == "deepcopy" else pickle.loads(pickle.dumps(p))
    assert type(c) is Parameter and c.name == "theta" and c.requires_grad
    assert c.note == {"init": "uniform"} and c.note is not p.note
    np.testing.assert_array_equal(c.data, p.data)
