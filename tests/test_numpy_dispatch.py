"""NumPy's ufuncs and functions on Tensors (numpy_dispatch.py): each supported one gives NumPy's value and the
right gradient (central differences in float64, and a second-order check of its recorded VJP); each
refused one, or refused keyword, raises a TypeError naming it; and no NumPy call on a Tensor that requires
grad ever returns a float array cut from the graph.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hvp_check import check_hvp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd_nn as ag
from autograd_nn import ShapeError, Tensor, numpy_dispatch

MASK = np.array([[True, False, True], [False, True, True]])
C23 = np.array([[0.3, -1.2, 0.7], [2.0, 0.1, -0.4]])

# name: (call, input shapes, domain). The call gets ndarrays (NumPy's own answer) or Tensors.
# Domain "positive" draws inputs in [0.5, 2] (logs, roots, divisors); "any" standard normal.
CASES = {
    # ufuncs
    "add": (lambda a, b: np.add(a, b), [(2, 3), (3,)], "any"),
    "add ndarray + Tensor": (lambda a: C23 + a, [(2, 3)], "any"),
    "subtract": (lambda a, b: np.subtract(a, b), [(2, 3), (2, 1)], "any"),
    "multiply": (lambda a, b: np.multiply(a, b), [(2, 3), (2, 3)], "any"),
    "multiply ndarray * Tensor": (lambda a: C23 * a, [(2, 3)], "any"),
    "divide": (lambda a, b: np.divide(a, b), [(2, 3), (3,)], "positive"),
    "true_divide ndarray / Tensor": (lambda a: C23 / a, [(2, 3)], "positive"),
    "negative": (lambda a: np.negative(a), [(2, 3)], "any"),
    "positive": (lambda a: np.positive(a), [(2, 3)], "any"),
    "power int": (lambda a: np.power(a, 3), [(2, 3)], "any"),
    "power float": (lambda a: np.power(a, 2.5), [(2, 3)], "positive"),
    "power tensor": (lambda a, b: np.power(a, b), [(2, 3), (3,)], "positive"),
    "square": (lambda a: np.square(a), [(2, 3)], "any"),
    "reciprocal": (lambda a: np.reciprocal(a), [(2, 3)], "positive"),
    "matmul": (lambda a, b: np.matmul(a, b), [(2, 3), (3, 4)], "any"),
    "matmul ndarray @ Tensor": (lambda a: C23 @ a, [(3, 2)], "any"),
    "exp": (lambda a: np.exp(a), [(2, 3)], "any"),
    "expm1": (lambda a: np.expm1(a), [(2, 3)], "any"),
    "log": (lambda a: np.log(a), [(2, 3)], "positive"),
    "log1p": (lambda a: np.log1p(a), [(2, 3)], "positive"),
    "log2": (lambda a: np.log2(a), [(2, 3)], "positive"),
    "log10": (lambda a: np.log10(a), [(2, 3)], "positive"),
    "sqrt": (lambda a: np.sqrt(a), [(2, 3)], "positive"),
    "abs": (lambda a: np.abs(a), [(2, 3)], "any"),
    "sign": (lambda a: np.sign(a) * a, [(2, 3)], "any"),
    "tanh": (lambda a: np.tanh(a), [(2, 3)], "any"),
    "sin": (lambda a: np.sin(a), [(2, 3)], "any"),
    "cos": (lambda a: np.cos(a), [(2, 3)], "any"),
    "maximum": (lambda a, b: np.maximum(a, b), [(2, 3), (3,)], "any"),
    "minimum": (lambda a, b: np.minimum(a, b), [(2, 3), (2, 3)], "any"),
    "logaddexp": (lambda a, b: np.logaddexp(a, b), [(2, 3), (3,)], "any"),
    # contractions
    "dot matrices": (lambda a, b: np.dot(a, b), [(2, 3), (3, 4)], "any"),
    "dot ndarray, Tensor.T": (lambda a: np.dot(C23, a.T), [(4, 3)], "any"),
    "dot vector, matrix": (lambda a, b: np.dot(a, b), [(3,), (3, 2)], "any"),
    "dot N-D": (lambda a, b: np.dot(a, b), [(2, 3, 4), (2, 4, 3)], "any"),
    "vdot": (lambda a, b: np.vdot(a, b), [(2, 3), (3, 2)], "any"),
    "inner": (lambda a, b: np.inner(a, b), [(2, 3), (4, 3)], "any"),
    "outer": (lambda a, b: np.outer(a, b), [(3,), (2, 2)], "any"),
    "tensordot 2": (lambda a, b: np.tensordot(a, b), [(2, 3, 4), (3, 4, 2)], "any"),
    "tensordot pairs": (
        lambda a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])),
        [(2, 3, 4), (4, 3, 2)],
        "any",
    ),
    "einsum matmul": (lambda a, b: np.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)], "any"),
    "einsum batched": (lambda a, b: np.einsum("bij,bjk->bik", a, b), [(2, 2, 3), (2, 3, 2)], "any"),
    "einsum implicit outer": (lambda a, b: np.einsum("i,j", a, b), [(3,), (2,)], "any"),
    "einsum lone letter": (lambda a, b: np.einsum("ij,k->ik", a, b), [(2, 3), (2,)], "any"),
    "einsum trace": (lambda a: np.einsum("ii", a), [(3, 3)], "any"),
    "einsum diagonal": (lambda a, b: np.einsum("ii,i->i", a, b), [(3, 3), (3,)], "any"),
    "einsum ellipsis": (lambda a: np.einsum("...ij->...ji", a), [(2, 3, 4)], "any"),
    # reductions
    "sum": (lambda a: np.sum(a), [(2, 3)], "any"),
    "sum axis keepdims": (lambda a: np.sum(a, axis=0, keepdims=True), [(2, 3)], "any"),
    "mean": (lambda a: np.mean(a, axis=1), [(2, 3)], "any"),
    "max": (lambda a: np.max(a, axis=0), [(2, 3)], "any"),
    "amax": (lambda a: np.amax(a), [(2, 3)], "any"),
    "min": (lambda a: np.min(a, axis=1, keepdims=True), [(2, 3)], "any"),
    "amin": (lambda a: np.amin(a), [(2, 3)], "any"),
    "prod": (lambda a: np.prod(a, axis=1), [(2, 3)], "any"),
    "prod all": (lambda a: np.prod(a), [(2, 3)], "any"),
    "var": (lambda a: np.var(a, axis=0, ddof=1), [(3, 2)], "any"),
    "std": (lambda a: np.std(a, axis=1, keepdims=True), [(2, 3)], "any"),
    "cumsum axis": (lambda a: np.cumsum(a, axis=1), [(2, 3)], "any"),
    "cumsum flat": (lambda a: np.cumsum(a), [(2, 3)], "any"),
    "norm": (lambda a: np.linalg.norm(a), [(2, 3)], "any"),
    "norm axis": (lambda a: np.linalg.norm(a, axis=1, keepdims=True), [(2, 3)], "any"),
    "norm ord 1": (lambda a: np.linalg.norm(a, ord=1, axis=0), [(2, 3)], "any"),
    "norm ord inf": (lambda a: np.linalg.norm(a, ord=np.inf, axis=1), [(2, 3)], "any"),
    "norm ord 3": (lambda a: np.linalg.norm(a, ord=3, axis=1), [(2, 3)], "any"),
    "norm vector ord 2": (lambda a: np.linalg.norm(a, 2), [(4,)], "any"),
    "norm matrix ord 1": (lambda a: np.linalg.norm(a, 1), [(2, 3)], "any"),
    "norm matrix ord -inf": (lambda a: np.linalg.norm(a, -np.inf), [(2, 3)], "any"),
    "norm matrix fro": (lambda a: np.linalg.norm(a, "fro", axis=(1, 2)), [(2, 2, 3)], "any"),
    "trace": (lambda a: np.trace(a), [(3, 3)], "any"),
    "trace offset": (lambda a: np.trace(a, offset=1, axis1=1, axis2=2), [(2, 3, 4)], "any"),
    # selection
    "where": (lambda a, b: np.where(MASK, a, b), [(2, 3), (3,)], "any"),
    "clip": (lambda a: np.clip(a, -0.5, 0.5), [(2, 3)], "any"),
    "clip one bound": (lambda a: np.clip(a, None, 0.2), [(2, 3)], "any"),
    "clip tensor bound": (lambda a, b: np.clip(a, b, 2.0), [(2, 3), (3,)], "any"),
    "sort": (lambda a: np.sort(a), [(2, 3)], "any"),
    "sort axis 0": (lambda a: np.sort(a, axis=0), [(3, 2)], "any"),
    "sort flat": (lambda a: np.sort(a, axis=None), [(2, 3)], "any"),
    "take": (lambda a: np.take(a, [2, 0, 2], axis=1), [(2, 3)], "any"),
    "take flat": (lambda a: np.take(a, [[5, 0], [1, 1]]), [(2, 3)], "any"),
    # joining and splitting
    "concatenate": (lambda a: np.concatenate([a, C23], axis=1), [(2, 3)], "any"),
    "concatenate axis None": (lambda a, b: np.concatenate((a, b), axis=None), [(2, 3), (4,)], "any"),
    "stack": (lambda a, b: np.stack([a, b], axis=1), [(2, 3), (2, 3)], "any"),
    "vstack": (lambda a, b: np.vstack((a, b)), [(2, 3), (3,)], "any"),
    "hstack": (lambda a: np.hstack((np.ones((2, 1)), a)), [(2, 3)], "any"),
    "hstack vectors": (lambda a, b: np.hstack((a, b)), [(3,), (2,)], "any"),
    "split sections": (lambda a: np.split(a, 3, axis=1), [(2, 3)], "any"),
    "split points": (lambda a: np.split(a, [1, 3]), [(4, 2)], "any"),
    # shapes
    "reshape": (lambda a: np.reshape(a, (3, 2)), [(2, 3)], "any"),
    "reshape -1": (lambda a: np.reshape(a, -1), [(2, 3)], "any"),
    "ravel": (lambda a: np.ravel(a), [(2, 3)], "any"),
    "transpose": (lambda a: np.transpose(a), [(2, 3)], "any"),
    "transpose axes": (lambda a: np.transpose(a, (1, 2, 0)), [(2, 3, 4)], "any"),
    "swapaxes": (lambda a: np.swapaxes(a, 0, 2), [(2, 3, 4)], "any"),
    "moveaxis": (lambda a: np.moveaxis(a, 0, -1), [(2, 3, 4)], "any"),
    "moveaxis several": (lambda a: np.moveaxis(a, [0, 1], [2, 0]), [(2, 3, 4)], "any"),
    "expand_dims": (lambda a: np.expand_dims(a, 1), [(2, 3)], "any"),
    "expand_dims tuple": (lambda a: np.expand_dims(a, (0, -1)), [(2, 3)], "any"),
    "squeeze": (lambda a: np.squeeze(a), [(2, 1, 3)], "any"),
    "squeeze axis": (lambda a: np.squeeze(a, axis=0), [(1, 3, 1)], "any"),
    "broadcast_to": (lambda a: np.broadcast_to(a, (2, 3)), [(3,)], "any"),
    "tile": (lambda a: np.tile(a, (2, 1, 2)), [(2, 3)], "any"),
    "repeat": (lambda a: np.repeat(a, 2, axis=1), [(2, 3)], "any"),
    "repeat flat": (lambda a: np.repeat(a, 2), [(2, 3)], "any"),
    "repeat counts": (lambda a: np.repeat(a, [1, 0, 3], axis=1), [(2, 3)], "any"),
    "pad": (lambda a: np.pad(a, ((1, 0), (2, 1))), [(2, 3)], "any"),
    "pad value": (lambda a: np.pad(a, 1, constant_values=0.5), [(2, 3)], "any"),
    "diag of a vector": (lambda a: np.diag(a, k=1), [(3,)], "any"),
    "diag of a matrix": (lambda a: np.diag(a, -1), [(3, 4)], "any"),
    "diagonal": (lambda a: np.diagonal(a, 1, 2, 0), [(3, 2, 4)], "any"),
    "flip": (lambda a: np.flip(a, axis=1), [(2, 3)], "any"),
    "flip all": (lambda a: np.flip(a), [(2, 3)], "any"),
    "tril": (lambda a: np.tril(a), [(3, 3)], "any"),
    "triu": (lambda a: np.triu(a, k=-1), [(2, 3, 3)], "any"),
}


def draw(shapes, domain, seed=0):
    rng = np.random.default_rng(seed)
    if domain == "positive":
        return [rng.uniform(0.5, 2.0, s) for s in shapes]
    return [rng.standard_normal(s) for s in shapes]


def joined(result):
    """A split's list of pieces as one array/Tensor to compare; anything else as it is."""
    if isinstance(result, list):
        return np.concatenate([np.ravel(r) for r in result]) if isinstance(result[0], np.ndarray) else result
    return result


def weighted(result, seed):
    """A single value from the call's result, weighting each entry differently (so g is not all ones)."""
    pieces = result if isinstance(result, list) else [result]
    rng = np.random.default_rng(seed)
    return sum((p * rng.uniform(0.5, 1.5, p.shape)).sum() for p in pieces)


@pytest.mark.parametrize("name", CASES)
def test_value_equals_numpys(name):
    call, shapes, domain = CASES[name]
    arrays = draw(shapes, domain)
    expected = call(*arrays)
    got = call(*[Tensor(a, requires_grad=True) for a in arrays])
    if isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected)
        pairs = list(zip(got, expected, strict=True))
    else:
        pairs = [(got, expected)]
    for g, e in pairs:
        assert isinstance(g, Tensor) and g.requires_grad, f"{name}: got {type(g).__name__}"
        assert g.shape == np.shape(e)
        np.testing.assert_allclose(g.data, e, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", CASES)
def test_gradient_equals_central_differences(name):
    call, shapes, domain = CASES[name]
    tensors = [Tensor(a, requires_grad=True) for a in draw(shapes, domain, seed=1)]
    assert ag.gradcheck(lambda *ts: weighted(call(*ts), seed=2), *tensors)
    # on intermediates too: an op that keeps no input gets the node that computed it (shape only)
    assert ag.gradcheck(lambda *ts: weighted(call(*[t * 1.5 for t in ts]), seed=2), *tensors)


NOT_TWICE_DIFFERENTIABLE_HERE = {"sign"}  # (its VJP is g * 0: nothing second-order to check)


@pytest.mark.parametrize("name", sorted(set(CASES) - NOT_TWICE_DIFFERENTIABLE_HERE))
def test_recorded_gradient_is_differentiable_again(name):
    """The VJP under create_graph is made of recorded ops: the Hessian-vector product of a weighted square
    of the result equals central differences of the plain gradients (tests/hvp_check.py)."""
    call, shapes, domain = CASES[name]
    check_hvp(lambda *ts: weighted(square(call(*ts)), seed=5), *draw(shapes, domain, seed=3))


def square(result):
    return [r * r for r in result] if isinstance(result, list) else result * result


def test_prod_gradient_is_right_where_entries_are_zero():
    x = Tensor(np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0]]), requires_grad=True)
    np.prod(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    (g,) = ag.grad(np.prod(x, axis=1).sum(), [x], create_graph=True)
    np.testing.assert_array_equal(g.data, [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_norm_gradient_is_zero_at_zero():
    x = Tensor(np.zeros(3), requires_grad=True)
    np.linalg.norm(x).backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))


def test_small_integer_powers_agree_with_numpys_power():
    x = np.random.default_rng(0).standard_normal((4, 5))
    for p in (3, 4, 5, 7, 3.0, 16):
        np.testing.assert_allclose((Tensor(x) ** p).data, np.power(x, p), rtol=1e-14)
    t = Tensor(x, requires_grad=True)
    assert ag.gradcheck(lambda t: (t**3 * x).sum() + (np.power(t, 4)).sum(), t)


# ---------------------------------------------------------------- non-differentiable results: plain NumPy


def test_comparisons_and_queries_give_what_numpy_gives_for_arrays():
    a = np.array([[1.0, -2.0, np.inf], [0.5, 3.0, -1.0]])
    t = Tensor(a, requires_grad=True)
    for call in (
        lambda x: np.greater(x, 0),
        lambda x: x > C23,
        lambda x: np.isfinite(x),
        lambda x: np.isnan(x),
        lambda x: np.argmax(x, axis=1),
        lambda x: np.argsort(x),
        lambda x: np.nonzero(x > 0),
        lambda x: np.where(x > 0),
        lambda x: np.zeros_like(x),
        lambda x: np.full_like(x, 2.0),
        lambda x: np.allclose(x, a),
        lambda x: np.array_equal(x, a),
        lambda x: np.shape(x),
        lambda x: np.ndim(x),
        lambda x: np.size(x),
        lambda x: np.count_nonzero(x),
    ):
        got, expected = call(t), call(a)
        assert not isinstance(got, Tensor)
        assert type(got) is type(expected)
        if isinstance(expected, tuple):
            for g, e in zip(got, expected, strict=True):
                np.testing.assert_array_equal(g, e)
        else:
            np.testing.assert_array_equal(got, expected)


def test_zero_gradient_functions_work_on_tensors_that_need_no_gradient():
    t = Tensor(np.array([1.4, -2.6]))
    for call, expected in ((np.floor, [1.0, -3.0]), (np.ceil, [2.0, -2.0]), (np.round, [1.0, -3.0])):
        result = call(t)
        assert isinstance(result, Tensor) and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)
    with ag.no_grad():
        assert isinstance(np.floor(Tensor([1.5], requires_grad=True)), Tensor)


def test_explicit_conversion_leaves_the_graph():
    t = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.warns(ag.LeftTheGraphWarning, match="which requires grad, to a plain array"):
        converted = [np.asarray(t), np.array(t)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # leaving on purpose says nothing
        on_purpose = [t.numpy(), np.asarray(t.detach())]
        with ag.no_grad():
            on_purpose.append(np.asarray(t))
    for array in converted + on_purpose:
        assert type(array) is np.ndarray
        np.testing.assert_array_equal(array, [1.0, 2.0])
    assert on_purpose[0] is t.data  # shared, not copied


def test_numpy_converting_a_tensor_that_requires_grad_behind_its_back_warns_naming_the_recorded_form():
    t = Tensor(np.ones((3, 2)), requires_grad=True, name="theta")
    X = np.ones((4, 3))
    with pytest.warns(
        ag.LeftTheGraphWarning, match=r"tensor 'theta' of shape \(3, 2\).*np.dot\(X, t\) or X @ t"
    ):
        result = X.dot(t)
    assert type(result) is np.ndarray  # NumPy never asks the Tensor: the warning is all it can do
    assert isinstance(np.dot(X, t), Tensor) and isinstance(X @ t, Tensor)


# ---------------------------------------------------------------- refusals: a TypeError that names the call


def requiring_grad(shape=(2, 3)):
    return Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)


REFUSED = {
    "numpy.cumprod": lambda t: np.cumprod(t),
    "numpy.linalg.inv": lambda t: np.linalg.inv(t[:, :2]),
    "numpy.arctan": lambda t: np.arctan(t),
    "numpy.floor_divide": lambda t: t.data // np.ones(3) + np.floor_divide(t, 2),
    "numpy.floor": lambda t: np.floor(t),
    "numpy.ceil": lambda t: np.ceil(t),
    "numpy.rint": lambda t: np.rint(t),
    "numpy.trunc": lambda t: np.trunc(t),
    "numpy.round": lambda t: np.round(t, 1),
    "numpy.average": lambda t: np.average(t),
    r"numpy.exp: out=": lambda t: np.exp(t, out=np.empty((2, 3))),
    r"numpy.add: out=": lambda t: np.add(np.ones(3), t, out=np.empty((2, 3))),
    r"numpy.multiply: where=": lambda t: np.multiply(t, 2.0, where=MASK),
    r"numpy.add: the keyword dtype": lambda t: np.add(t, 1.0, dtype=np.float32),
    r"numpy.add.reduce.*np.sum": lambda t: np.add.reduce(t),
    r"numpy.add.accumulate.*np.cumsum": lambda t: np.add.accumulate(t),
    r"numpy.multiply.outer.*np.outer": lambda t: np.multiply.outer(t, t),
    r"numpy.add.at": lambda t: np.add.at(t, [0], 1.0),
    r"numpy.logaddexp.reduce.*logsumexp": lambda t: np.logaddexp.reduce(t),
    r"numpy.sum: out=": lambda t: np.sum(t, out=np.empty(())),
    r"numpy.sum: dtype=float32": lambda t: np.sum(t, dtype=np.float32),
    r"numpy.sum: the keyword initial=": lambda t: np.sum(t, initial=1.0),
    r"numpy.mean: the keyword where=": lambda t: np.mean(t, where=MASK),
    r"numpy.max: the keyword initial=": lambda t: np.max(t, initial=0.0),
    r"numpy.dot: out=": lambda t: np.dot(t, t.T, out=np.empty((2, 2))),
    r"numpy.reshape: only order='C'": lambda t: np.reshape(t, (3, 2), order="F"),
    r"numpy.pad: only mode='constant'": lambda t: np.pad(t, 1, mode="reflect"),
    r"numpy.einsum: give the subscripts as a string": lambda t: np.einsum(t, [0, 1], [1, 0]),
    r"numpy.linalg.norm: ord='nuc'": lambda t: np.linalg.norm(t, "nuc"),
    r"numpy.sort: order=": lambda t: np.sort(t, order="x"),
    r"numpy.concatenate: out=": lambda t: np.concatenate([t, t], out=np.empty((4, 3))),
    r"Tensor.sum: dim= is PyTorch's spelling; .* axis=": lambda t: t.sum(dim=0),
    r"Tensor.mean: keepdim= is PyTorch's spelling; .* keepdims=": lambda t: t.mean(axis=0, keepdim=True),
    r"Tensor.max: dim=.*axis=": lambda t: t.max(dim=1),
    r"Tensor.squeeze: dim=.*axis=": lambda t: t.squeeze(dim=0),
    r"Tensor.unsqueeze: dim=.*axis=": lambda t: t.unsqueeze(dim=0),
    r"Tensor.split: dim=.*axis=": lambda t: t.split(3, dim=1),
    r"Tensor.cumsum: dim=.*axis=": lambda t: t.cumsum(dim=1),
    r"Tensor.sum: dtype=True is not a dtype.*keepdims=True by keyword": lambda t: t.sum(0, True),
    r"Tensor.std: out=": lambda t: t.std(out=np.empty(())),
}


@pytest.mark.parametrize("message", REFUSED)
def test_refused_calls_raise_a_type_error_naming_them(message):
    with pytest.raises(TypeError, match=message):
        REFUSED[message](requiring_grad())


def test_in_place_add_of_a_tensor_into_an_ndarray_is_refused():
    a = np.zeros((2, 3))
    with pytest.raises(TypeError, match=r"numpy.add: out=.*a \+= t"):
        a += requiring_grad()
    np.testing.assert_array_equal(a, 0.0)


def test_refusals_say_how_to_leave_the_graph_on_purpose():
    with pytest.raises(TypeError, match=r"numpy.cumprod is not differentiable.*t.detach\(\) or t.numpy\(\)"):
        np.cumprod(requiring_grad())
    np.testing.assert_allclose(np.cumprod(requiring_grad().detach()), np.cumprod(requiring_grad().data))


def test_pytorch_transpose_of_two_axes_says_swapaxes():
    t = Tensor(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ShapeError, match=r"swapaxes\(-2, -1\)"):
        t.transpose(-2, -1)
    with pytest.raises(ShapeError, match=r"numpy.transpose: .*swapaxes\(0, 1\)"):
        np.transpose(t, (0, 1))
    assert t.swapaxes(-2, -1).shape == (2, 3, 5, 4) and t.mT.shape == (2, 3, 5, 4)


# ---------------------------------------------------------------- the ndarray methods, on Tensor


def test_ndarray_methods_with_numpys_keywords():
    a = np.random.default_rng(0).standard_normal((2, 1, 3))
    t = Tensor(a, requires_grad=True)
    pairs = [
        (t.sum(axis=2, keepdims=True, dtype=None, out=None), a.sum(axis=2, keepdims=True)),
        (t.mean(0, None, None, True), a.mean(0, None, None, True)),
        (t.max(axis=2, out=None), a.max(axis=2)),
        (t.min(None, None, True), a.min(None, None, True)),
        (t.prod(axis=-1), a.prod(axis=-1)),
        (t.var(axis=2, ddof=1), a.var(axis=2, ddof=1)),
        (t.std(2, None, None, 1, True), a.std(2, None, None, 1, True)),
        (t.cumsum(axis=2), a.cumsum(axis=2)),
        (t.cumsum(), a.cumsum()),
        (t.swapaxes(0, 2), a.swapaxes(0, 2)),
        (t.squeeze(), a.squeeze()),
        (t.squeeze(axis=1), a.squeeze(axis=1)),
        (t.ravel(), a.ravel()),
        (t.flatten(), a.flatten()),
        (t.clip(-0.5, 0.5), a.clip(-0.5, 0.5)),
        (t.clip(min=0.0), a.clip(min=0.0)),
        (t.clip(max=0.1), a.clip(max=0.1)),
        (t.mT, a.mT),
        (t.expand_dims(0), np.expand_dims(a, 0)),
        (t.unsqueeze(-1), np.expand_dims(a, -1)),
        (t[:, 0].dot(a[0, 0]), a[:, 0].dot(a[0, 0])),
        (t.transpose(2, 0, 1), a.transpose(2, 0, 1)),
    ]
    for got, expected in pairs:
        assert isinstance(got, Tensor) and got.requires_grad
        np.testing.assert_allclose(got.data, expected, rtol=1e-12)
    for got, expected in zip(t.split(3, axis=2), np.split(a, 3, axis=2), strict=True):
        np.testing.assert_array_equal(got.data, expected)
    assert [p.shape for p in t.split([1], axis=2)] == [(2, 1, 1), (2, 1, 2)]
    assert np.sum(t).item() == pytest.approx(a.sum())


def test_flatten_is_a_copy_and_ravel_a_view():
    t = Tensor(np.arange(6.0).reshape(2, 3))
    flat = t.flatten()
    flat += 1
    np.testing.assert_array_equal(t.data.ravel(), np.arange(6.0))
    view = t.ravel()
    view += 1
    np.testing.assert_array_equal(t.data.ravel(), np.arange(6.0) + 1)


def test_public_functions():
    x = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    np.testing.assert_allclose(ag.sin(x).data, np.sin(x.data))
    np.testing.assert_allclose(ag.cos(x).data, np.cos(x.data))
    assert [p.shape for p in ag.split(x, 2, axis=1)] == [(3, 2), (3, 2)]
    np.testing.assert_array_equal(ag.tril(x, k=1).data, np.tril(x.data, 1))
    np.testing.assert_array_equal(ag.triu(x).data, np.triu(x.data))
    np.testing.assert_array_equal(ag.cumsum(x, 0).data, np.cumsum(x.data, 0))
    np.testing.assert_array_equal(
        ag.pad(x, ((0, 1), (2, 0)), value=-1).data, np.pad(x.data, ((0, 1), (2, 0)), constant_values=-1)
    )
    np.testing.assert_array_equal(ag.swapaxes(x, 0, 1).data, x.data.T)
    assert ag.expand_dims(x, 0).shape == (1, 3, 4) and ag.squeeze(ag.expand_dims(x, 2)).shape == (3, 4)
    with pytest.raises(ShapeError, match="split: 3 equal sections do not divide axis 1 of size 4"):
        ag.split(x, 3, axis=1)


# ---------------------------------------------------------------- compile traces the new ops


def test_compiled_functions_using_numpy_calls_replay_correctly():
    rng = np.random.default_rng(0)
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True)

    def f(x):
        h = np.tanh(np.dot(x, w))
        return np.sum(np.sort(np.cumsum(h, axis=1), axis=1) ** 3) + np.linalg.norm(np.einsum("ij->j", h))

    step = ag.compile(f)
    for _ in range(4):
        x = rng.standard_normal((5, 3))
        w.grad = None
        got = step(x)
        got.backward()
        g = w.grad.copy()
        w.grad = None
        expected = f(x)
        expected.backward()
        assert got.item() == pytest.approx(expected.item(), rel=1e-12)
        np.testing.assert_allclose(g, w.grad, rtol=1e-10)


# ---------------------------------------------------------------- property: never a float array cut from the graph

# Calls that give a documented non-differentiable result, which may be a float array that does not depend
# on the tensor's values.
DOCUMENTED_ARRAYS = {"zeros_like", "ones_like", "empty_like", "full_like"}

CALLS = {
    **{
        name: (lambda u: lambda t, o: u(t))(u)  # noqa: B023 (bound by the outer call)
        for name, u in [
            ("exp", np.exp),
            ("log", np.log),
            ("sqrt", np.sqrt),
            ("sin", np.sin),
            ("floor", np.floor),
            ("arctan", np.arctan),
            ("isfinite", np.isfinite),
            ("sign", np.sign),
            ("square", np.square),
            ("sum", np.sum),
            ("mean", np.mean),
            ("max", np.max),
            ("prod", np.prod),
            ("std", np.std),
            ("cumsum", np.cumsum),
            ("cumprod", np.cumprod),
            ("ravel", np.ravel),
            ("transpose", np.transpose),
            ("squeeze", np.squeeze),
            ("sort", np.sort),
            ("argmax", np.argmax),
            ("argsort", np.argsort),
            ("norm", np.linalg.norm),
            ("zeros_like", np.zeros_like),
            ("ones_like", np.ones_like),
            ("empty_like", np.empty_like),
            ("shape", np.shape),
            ("round", np.round),
            ("flip", np.flip),
            ("diag", np.diag),
            ("trace", np.trace),
            ("copy", np.copy),
            ("unique", np.unique),
            ("nan_to_num", np.nan_to_num),
            ("fabs", np.fabs),
            ("median", np.median),
            ("ptp", np.ptp),
        ]
    },
    "full_like": lambda t, o: np.full_like(t, 2.0),
    "add array": lambda t, o: o + t,
    "multiply": lambda t, o: np.multiply(o, t),
    "matmul": lambda t, o: o @ np.swapaxes(t, -1, 0) if t.ndim else o * t,
    "dot": lambda t, o: np.dot(o, t),
    "inner": lambda t, o: np.inner(t, o),
    "outer": lambda t, o: np.outer(o, t),
    "einsum": lambda t, o: np.einsum("...->", t),
    "maximum": lambda t, o: np.maximum(t, o),
    "where": lambda t, o: np.where(o > 0, t, o),
    "clip": lambda t, o: np.clip(t, -0.3, 0.3),
    "concatenate": lambda t, o: np.concatenate([t, o]),
    "stack": lambda t, o: np.stack([o, t]),
    "hstack": lambda t, o: np.hstack((o, t)),
    "vstack": lambda t, o: np.vstack((o, t)),
    "expand_dims": lambda t, o: np.expand_dims(t, 0),
    "tile": lambda t, o: np.tile(t, 2),
    "repeat": lambda t, o: np.repeat(t, 2),
    "pad": lambda t, o: np.pad(t, 1),
    "take": lambda t, o: np.take(t, [0]),
    "split": lambda t, o: np.split(t, 1),
    "var keyword": lambda t, o: np.var(t, ddof=0, keepdims=True),
    "less": lambda t, o: np.less(o, t),
    "allclose": lambda t, o: np.allclose(t, o),
    "average": lambda t, o: np.average(t),
    "interp": lambda t, o: np.interp(t, [0.0, 1.0], [1.0, 2.0]),
    "sum method": lambda t, o: t.sum(axis=-1 if t.ndim else None),
    "cumsum method": lambda t, o: t.cumsum(),
    "prod method": lambda t, o: t.prod(keepdims=True),
    "clip method": lambda t, o: t.clip(-1, 1),
    "iadd": lambda t, o: o.__iadd__(t),
    "reduce": lambda t, o: np.add.reduce(t),
}


def check_result(name, result):
    """A Tensor connected to the graph, or a documented non-differentiable result, never a float array."""
    if isinstance(result, list | tuple):
        for r in result:
            check_result(name, r)
        return
    if isinstance(result, Tensor):
        assert result.requires_grad, f"{name}: a Tensor that left the graph"
        return
    if name in DOCUMENTED_ARRAYS:
        return
    if isinstance(result, np.ndarray | np.generic):
        assert result.dtype.kind not in "fc", f"{name}: a float array from a Tensor that requires grad"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(CALLS)),
    shape=st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple),
    seed=st.integers(0, 2**16),
)
def test_property_no_numpy_call_returns_a_float_array_cut_from_the_graph(name, shape, seed):
    rng = np.random.default_rng(seed)
    t = Tensor(rng.uniform(0.1, 2.0, shape), requires_grad=True)
    other = rng.standard_normal(shape)
    try:
        result = CALLS[name](t, other)
    except (TypeError, ValueError, IndexError) as error:  # refused (or NumPy's own shape error): loud
        assert str(error)
        return
    check_result(name, result)
    if isinstance(result, Tensor):  # connected: the gradient reaches t
        (g,) = ag.grad((result * result).sum(), [t])
        assert g.shape == t.shape


def test_the_tables_name_numpys_own_objects():
    assert all(isinstance(u, np.ufunc) for u in numpy_dispatch.UFUNCS)
    assert not set(numpy_dispatch.UFUNCS) & set(numpy_dispatch.PASS_THROUGH_UFUNCS)
    assert not set(numpy_dispatch.FUNCTIONS) & set(numpy_dispatch.PASS_THROUGH_FUNCTIONS)


def test_anomaly_mode_names_the_users_line_for_a_numpy_call():
    t = Tensor(np.array([np.inf, -np.inf]), requires_grad=True)
    with (
        np.errstate(invalid="ignore"),
        ag.detect_anomaly(),
        pytest.raises(ag.AnomalyError, match=r"sum.*created at .*test_numpy_dispatch.py"),
    ):
        np.sum(t)  # (through numpy_dispatch's reduction: its frames are the engine's, not the user's)


def test_a_list_of_tensors_goes_through_the_joining_functions():
    """NumPy converts a plain list of Tensors entry by entry (as np.array([t1, t2]), documented as leaving
    the graph); np.stack/np.concatenate see each Tensor in their list and record."""
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    joined = np.mean(np.stack([a, b]))
    assert isinstance(joined, Tensor) and joined.item() == 2.5
    joined.backward()
    np.testing.assert_array_equal(a.grad, [0.25, 0.25])
