"""gradcheck: passes on right gradients, names the input and index of a wrong one, and guards its inputs."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor, gradcheck, ops
from autograd_nn.tensor import apply


class BadSquare(ops.Op):
    """x**2 with a wrong VJP: g * x instead of 2 g x."""

    __slots__ = ()
    name = "bad_square"

    def forward(self, x):
        return x**2

    def vjp(self, g, out, x):
        return (g * x,)


class BadSecondInput(ops.Op):
    """a * b whose VJP for b is wrong at one index only (the last entry is doubled)."""

    __slots__ = ()
    name = "bad_mul"

    def forward(self, a, b):
        return a * b

    def vjp(self, g, out, a, b):
        gb = g * a
        gb = gb * np.where(np.arange(gb.size).reshape(gb.shape) == gb.size - 1, 2.0, 1.0)
        return g * b, gb


def bad_square(x):
    return apply(BadSquare(), x)


# ---------------------------------------------------------------- right gradients pass


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: (x * x).sum(),
        lambda x: ag.softmax(x, axis=0)[0].sum(),
        lambda x: ag.logsumexp(x.tanh() @ x.T),
        lambda x: (x.sigmoid() / (x.exp() + 1)).mean(),
    ],
)
@pytest.mark.parametrize("mode", ["full", "direction", "auto"])
def test_passes_on_right_gradients_in_every_mode(fn, mode):
    x = Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True, name="x")
    assert gradcheck(fn, x, mode=mode) is True


def test_passes_with_several_inputs_and_non_tensor_arguments():
    a = Tensor(np.random.default_rng(1).standard_normal((2, 3)), requires_grad=True)
    b = Tensor(np.random.default_rng(2).standard_normal(3), requires_grad=True)
    const = np.array([1.0, 2.0, 3.0])
    assert gradcheck(lambda a, b, c, k: ((a * b + c) ** 2).sum() * k, a, b, const, 0.5)


def test_inputs_without_requires_grad_are_not_checked():
    x = Tensor([1.0, 2.0], requires_grad=True)
    frozen = Tensor([3.0, 4.0])  # a wrong gradient for it would never be looked at
    assert gradcheck(lambda x, f: bad_square(f).sum() + (x * x).sum(), x, frozen)


def test_passes_for_a_single_element_non_scalar_output():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    assert gradcheck(lambda x: (x * x).sum(keepdims=True), x)
    assert gradcheck(lambda x: (x * x).sum(axis=0)[:1], Tensor([[1.0, 2.0]], requires_grad=True))


def test_a_large_input_passes_in_direction_mode():
    x = Tensor(np.random.default_rng(3).standard_normal(5000), requires_grad=True)
    assert gradcheck(lambda x: (x.tanh() * x).sum(), x)


def test_does_not_touch_the_callers_tensors():
    data = np.array([1.0, -2.0, 0.5])
    x = Tensor(data, requires_grad=True)
    kept = data.copy()
    gradcheck(lambda x: (x**3).sum(), x)
    assert x.grad is None
    assert x.data is data
    np.testing.assert_array_equal(data, kept)


# ---------------------------------------------------------------- wrong gradients are caught


def test_catches_a_wrong_gradient_and_names_the_input_index_and_values():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True, name="theta1")
    with pytest.raises(ag.GradcheckError) as info:
        gradcheck(lambda x: bad_square(x).sum(), x)
    message = str(info.value)
    assert "input 0" in message
    assert "theta1" in message
    assert "(3,)" in message  # the input's shape
    assert "analytic" in message and "numeric" in message
    match = re.search(r"at index \((\d+),\)", message)
    assert match, message
    worst = int(match.group(1))
    assert worst == 2  # |g x - 2 g x| is largest where |x| is
    assert re.search(r"analytic 3\b.*numeric (6|5\.9999)", message), message
    assert "absolute error" in message and "relative error" in message


def test_names_the_second_input_and_the_exact_wrong_index():
    a = Tensor(np.ones((2, 3)), requires_grad=True, name="a")
    b = Tensor(np.full((2, 3), 2.0), requires_grad=True, name="weights")
    with pytest.raises(ag.GradcheckError, match=r"input 1 \(weights\) of shape \(2, 3\).*index \(1, 2\)"):
        gradcheck(lambda a, b: apply(BadSecondInput(), a, b).sum(), a, b)


def test_catches_a_wrong_gradient_in_direction_mode():
    x = Tensor(np.linspace(-1, 1, 10), requires_grad=True, name="big")
    with pytest.raises(ag.GradcheckError, match=r"input 0 \(big\).*random direction.*analytic.*numeric"):
        gradcheck(lambda x: bad_square(x).sum(), x, mode="direction")


def test_auto_mode_switches_from_full_to_direction_by_size():
    small = Tensor(np.linspace(1, 2, 5), requires_grad=True)
    large = Tensor(np.linspace(1, 2, 6), requires_grad=True)
    with pytest.raises(ag.GradcheckError, match="at index"):
        gradcheck(lambda x: bad_square(x).sum(), small, max_full_size=5)
    with pytest.raises(ag.GradcheckError, match="random direction"):
        gradcheck(lambda x: bad_square(x).sum(), large, max_full_size=5)


@pytest.mark.parametrize(("size", "expected_calls"), [(1000, 1 + 2 * 1000), (1001, 1 + 2 * 3)])
def test_auto_mode_uses_full_differences_up_to_1000_entries(size, expected_calls):
    calls = []

    def fn(x):
        calls.append(1)
        return (x * x).sum()

    gradcheck(fn, Tensor(np.ones(size), requires_grad=True))
    assert len(calls) == expected_calls


def test_tolerances_decide_what_passes():
    x = Tensor([1.0, 2.0], requires_grad=True)
    # analytic g x vs numeric 2 g x: relative error 0.5
    with pytest.raises(ag.GradcheckError):
        gradcheck(lambda x: bad_square(x).sum(), x, rtol=0.4)
    assert gradcheck(lambda x: bad_square(x).sum(), x, rtol=0.6)
    assert gradcheck(lambda x: bad_square(x).sum(), x, atol=2.1, rtol=0)


def test_a_missing_gradient_counts_as_zero_and_fails():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ag.GradcheckError, match="analytic 0"):
        gradcheck(lambda x: (x.detach() * x.detach()).sum() + (x * 0).sum(), x)


# ---------------------------------------------------------------- float32 and bad arguments


def test_warns_for_float32_and_checks_in_float64():
    x = Tensor(np.array([0.5, 1.5], dtype=np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match="float32"):
        assert gradcheck(lambda x: (x.tanh() * x).sum(), x)


def test_does_not_warn_for_float64():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(lambda x: (x**2).sum(), Tensor([1.0, 2.0], requires_grad=True))


def test_the_float32_wrong_gradient_is_still_caught():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    with pytest.warns(UserWarning), pytest.raises(ag.GradcheckError):
        gradcheck(lambda x: bad_square(x).sum(), x)


def test_no_input_requiring_grad_is_an_error():
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda x: (x * x).sum(), Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda x: (Tensor(x) * 2).sum(), np.array([1.0, 2.0]))


def test_a_non_scalar_fn_is_an_error_naming_the_shape():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"single-valued.*\(2,\)"):
        gradcheck(lambda x: x * x, x)


def test_an_fn_returning_a_non_tensor_is_an_error():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="float"):
        gradcheck(lambda x: 3.0, x)


def test_an_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="mode"):
        gradcheck(lambda x: x.sum(), Tensor([1.0], requires_grad=True), mode="fast")


def test_numerical_gradient_restores_the_array():
    x = np.array([1.0, 2.0, 3.0])
    g = ag.numerical_gradient(lambda: float((x**2).sum()), x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-7)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


# ---------------------------------------------------------------- never vacuous; a model's own parameters


def parameters_of(net) -> list:
    """A model's parameters, whether ``parameters`` is a list (Network today) or a method (nn.Module)."""
    return list(net.parameters() if callable(net.parameters) else net.parameters)


def small_network(dtype=np.float64):
    from autograd_nn.digits.network import Network

    rng = np.random.default_rng(4)
    net = Network([3, 4, 2], seed=4, dtype=dtype)
    X = rng.standard_normal((5, 3))
    Y = np.eye(2)[rng.integers(0, 2, 5)]
    return net, X, Y


def test_an_input_fn_never_reads_is_an_error_not_a_pass():
    net, X, Y = small_network()
    with pytest.raises(
        ag.GradcheckError, match=r"does not depend on input 0 \(theta1\).*wrt=model.parameters\(\)"
    ):
        gradcheck(lambda *ps: net.cost(X, Y), *parameters_of(net))  # perturbs copies the net never reads


def test_an_unused_second_input_is_named():
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0], requires_grad=True, name="unused")
    with pytest.raises(ag.GradcheckError, match=r"input 1 \(unused\)"):
        gradcheck(lambda a, b: (a * a).sum(), a, b)


def test_wrt_checks_a_models_own_parameters_in_place_and_restores_them():
    net, X, Y = small_network()
    arrays = [p.data for p in parameters_of(net)]
    before = [a.copy() for a in arrays]
    assert gradcheck(lambda: net.cost(X, Y, lam=0.3), wrt=net.parameters) is True
    for p, array, kept in zip(parameters_of(net), arrays, before, strict=True):
        assert p.data is array and p.grad is None
        np.testing.assert_array_equal(array, kept)


def test_wrt_takes_a_method_or_any_iterable_of_parameters():
    net, X, Y = small_network()

    class Model:
        def parameters(self):
            return iter(parameters_of(net))

    assert gradcheck(lambda: net.cost(X, Y), wrt=Model().parameters)
    assert gradcheck(lambda: net.cost(X, Y), wrt=Model().parameters())


def test_a_float32_model_is_checked_in_float64_and_says_so():
    net, X, Y = small_network(np.float32)
    with pytest.warns(UserWarning, match=r"checking in float64: theta1 \(float32\)"):
        assert gradcheck(lambda: net.cost(X, Y), wrt=net.parameters, rtol=1e-6, atol=1e-9)
    assert all(p.dtype == np.float32 for p in parameters_of(net))


def test_wrt_catches_a_wrong_gradient_inside_a_model():
    w = Tensor([1.0, -2.0, 3.0], requires_grad=True, name="w")
    with pytest.raises(ag.GradcheckError, match=r"wrt tensor 0 \(w\).*at index \(2,\)"):
        gradcheck(lambda: bad_square(w).sum(), wrt=[w])
    np.testing.assert_array_equal(w.data, [1.0, -2.0, 3.0])


def test_wrt_rejects_what_is_not_a_parameter():
    with pytest.raises(ValueError, match="wrt tensor 0 is not a Tensor with requires_grad=True"):
        gradcheck(lambda: Tensor(1.0), wrt=[Tensor([1.0])])


def test_raise_exception_false_returns_a_report_with_the_kind_of_mistake():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True, name="x")
    y = Tensor([0.5, 0.25], requires_grad=True, name="y")
    report = gradcheck(lambda x, y: bad_square(x).sum() + (y**3).sum(), x, y, raise_exception=False)
    assert isinstance(report, ag.GradientReport)
    assert not report.ok
    assert report["x"].verdict == "scale" and report["x"].factor == pytest.approx(0.5)  # g x, not 2 g x
    assert report["y"].verdict == "ok"
    assert "central differences" in str(report)


def test_raise_exception_false_in_direction_mode():
    x = Tensor(np.linspace(-1, 1, 10), requires_grad=True, name="big")
    report = gradcheck(lambda x: -bad_square(x).sum(), x, mode="direction", raise_exception=False)
    assert report["big"].verdict == "scale" and "random directions" in report["big"].note
    assert gradcheck(lambda x: (x**2).sum(), x, mode="direction", raise_exception=False).ok
