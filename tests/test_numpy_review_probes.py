"""Targeted probes from the adversarial review of NumPy's protocols together with the engine's other
parts (compile, in-place .grad accumulation, the sequence ops): each test is a defect the review found,
or a behaviour it checked and pins down."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor


def test_compile_an_unused_argument_whose_shape_fn_asks_with_numpy_is_not_refused():
    # np.shape / np.ndim / np.size read no values: an argument fn only measures is still unused
    w = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    scale = np.array(0.5)  # a constant of the unused argument's shape

    def f(x, unused):
        assert np.shape(unused) == () and np.ndim(unused) == 0 and np.size(unused) == 1
        return np.sum(w * x * scale)

    compiled = ag.compile(f)
    for i in range(3):
        x = np.arange(3.0) + i
        assert compiled(x, np.array(7.0 + i)).item() == f(x, np.array(7.0)).item()


def test_compile_refuses_a_mask_computed_from_a_traced_value():
    # the first two calls share the mask [T, F, T], the third does not: a replayed mask would be wrong
    w = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)

    def leaky_relu_sum(x):
        h = x * w
        return np.sum(np.where(h > 0, h, 0.1 * h))

    compiled = ag.compile(leaky_relu_sum)
    with pytest.raises(ag.AutogradError, match=r"comparison of a traced value.*uncompiled"):
        compiled(np.array([1.0, 1.0, 1.0]))
    x = np.array([-1.0, 1.0, 1.0])
    assert leaky_relu_sum(x).item() == pytest.approx(2.7)  # eager stays as it was


@pytest.mark.parametrize(
    "name, use",
    [
        ("w * (h > 0)", lambda h: np.sum(h * (h > 0))),
        ("h[h > 0]", lambda h: np.sum(h[h > 0])),
        ("ag.where(h > 0)", lambda h: np.sum(ag.where(h > 0, h, 0.0))),
        ("mask as float", lambda h: np.sum(h * (h > 0).astype(np.float64))),
        ("Tensor(mask)", lambda h: np.sum(h * Tensor(h > 0))),
    ],
)
def test_compile_refuses_a_traced_mask_as_operand_index_or_condition(name, use):
    w = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    compiled = ag.compile(lambda x: use(x * w))
    with pytest.raises(ag.AutogradError, match="comparison of a traced value"):
        compiled(np.array([1.0, 1.0, 1.0]))


def test_compile_still_replays_comparisons_of_constants_and_arguments_passed_as_masks():
    w = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    frozen = w.data > 0  # a plain array computed before compiling: a constant, as eagerly
    compiled = ag.compile(lambda x, mask: np.sum(ag.where(mask, x * w, 0.0) * frozen))
    for x in ([1.0, 1.0, 1.0], [2.0, 1.0, 0.5], [-1.0, 1.0, 1.0]):
        x = np.array(x)
        mask = x * w.data > 0
        expected = np.sum(np.where(mask, x * w.data, 0.0) * frozen)
        assert compiled(x, mask).item() == pytest.approx(expected)


# ---------------------------------------------------------------- conversions NumPy does not let a Tensor see
# NumPy converts a Tensor with Tensor.__array__ (or __float__) in these calls, exactly as in np.asarray(t): the
# Tensor cannot refuse them without refusing np.asarray(t) too, so while recording it warns
# (LeftTheGraphWarning, naming the recorded form); leaving on purpose (t.detach(), t.numpy()) is silent.
CONVERSIONS = {
    "ndarray.dot(t)": lambda X, t: X.dot(t),
    "ndarray[...] = t": lambda X, t: X.copy().__setitem__(slice(None), t),
    "np.vectorize": lambda X, t: np.vectorize(lambda z: 2 * z)(t),
    "np.r_": lambda X, t: np.r_[X[0], t],
    "a list of Tensors": lambda X, t: np.mean([t[0], t[1]]),
    "np.ma masked array * t": lambda X, t: np.ma.masked_less(X[0], 0) * t,
}


@pytest.mark.parametrize("name", CONVERSIONS)
def test_numpy_never_converts_a_tensor_requiring_grad_behind_the_users_back_without_a_word(name):
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = CONVERSIONS[name](X, t)
        except TypeError:
            return  # refused: loud
    if isinstance(result, Tensor):
        return  # recorded
    assert any(issubclass(w.category, ag.LeftTheGraphWarning) for w in caught), [
        str(w.message) for w in caught
    ]


# ---------------------------------------------------------------- compile: arrays NumPy derives from integer arguments
W = np.array([[1.0, 10.0, 100.0, 1000.0]]) * np.array([[1.0], [2.0], [3.0]])
# the first two calls share the labels (overfitting one batch first), the third does not
LABELS = [np.array([0, 1, 2]), np.array([0, 1, 2]), np.array([1, 0, 2])]
DERIVED_FROM_LABELS = {
    "ag.one_hot(labels) * w": lambda w, labels: np.sum(ag.one_hot(labels, 4) * w),
    "w * (labels > 0)": lambda w, labels: np.sum(w[:, 0] * (labels > 0)),
    "w[labels > 0]": lambda w, labels: np.sum(w[:, 0][labels > 0]),
    "w[labels.astype(bool)]": lambda w, labels: np.sum(w[:, 0][labels.astype(bool)]),
}
# Indexing a plain array with the labels gives a plain array NumPy keeps no trace of: still frozen.
NOT_YET_REFUSED = {"np.eye(4)[labels] * w": lambda w, labels: np.sum(np.eye(4)[labels] * w)}


@pytest.mark.parametrize("name", DERIVED_FROM_LABELS)
def test_compile_refuses_an_array_derived_from_an_integer_argument_as_operand_or_mask(name):
    # the first two calls share the labels (overfitting one batch first), the third does not: a
    # replayed one-hot or mask would be wrong, so the trace refuses it
    w = Tensor(W.copy(), requires_grad=True)

    def f(labels):
        return DERIVED_FROM_LABELS[name](w, labels)

    compiled = ag.compile(f)
    with pytest.raises(ag.AutogradError, match=r"from an integer argument.*pass it as an argument"):
        compiled(LABELS[0])
    assert np.isfinite(f(LABELS[2]).item())  # eager stays allowed


def test_compile_still_recomputes_labels_used_as_an_index_at_every_call():
    w = Tensor(W.copy(), requires_grad=True)
    compiled = ag.compile(lambda labels: np.sum(w[labels.reshape(-1)] * w[labels.astype(np.int32)]))
    for labels in LABELS:
        assert compiled(labels).item() == pytest.approx(np.sum(W[labels] * W[labels]))


@pytest.mark.xfail(
    strict=True,
    reason="np.eye(4)[labels]: a plain array indexed by the labels is a plain array, which compile cannot tell "
    "from a constant; the second-call check misses it when the first two calls share the labels",
)
@pytest.mark.parametrize("name", NOT_YET_REFUSED)
def test_compile_never_replays_an_array_derived_from_an_integer_argument(name):
    w = Tensor(W.copy(), requires_grad=True)

    def f(labels):
        return NOT_YET_REFUSED[name](w, labels)

    compiled = ag.compile(f)
    for labels in LABELS:
        try:
            got = compiled(labels).item()
        except ag.AutogradError:
            return  # refused: loud, never wrong
        assert got == f(labels).item()
