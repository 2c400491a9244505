"""cross_entropy, nll_loss and mse_loss: values against direct formulas, gradients against central
differences and closed forms, second order, stability at extreme logits, and label errors that name the
shapes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hvp_check import check_hvp
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops_gradients import check_gradients, make

import autograd_nn as ag
from autograd_nn import ShapeError, Tensor

REDUCTIONS = ["mean", "sum", "none"]


def reduce(losses: np.ndarray, reduction: str):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](losses)


def cross_entropy_by_formula(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-log(e^z_y / sum_k e^z_k), one example at a time with Python's math (small inputs only)."""
    return np.array(
        [
            -math.log(math.exp(row[y]) / sum(math.exp(v) for v in row))
            for row, y in zip(logits, labels, strict=True)
        ]
    )


def soft_cross_entropy_by_formula(logits: np.ndarray, probs: np.ndarray) -> np.ndarray:
    return np.array(
        [
            -sum(
                p * math.log(math.exp(z) / sum(math.exp(v) for v in row))
                for z, p in zip(row, prow, strict=True)
            )
            for row, prow in zip(logits, probs, strict=True)
        ]
    )


def np_log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


LABELS = np.array([2, 0, 3, 3, 1])
PROBS = np.random.default_rng(1).dirichlet(np.ones(4), size=5)


# ---------------------------------------------------------------- cross_entropy


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_labels_equals_the_formula(reduction):
    z = make((5, 4))
    loss = ag.cross_entropy(Tensor(z), LABELS, reduction=reduction)
    np.testing.assert_allclose(loss.data, reduce(cross_entropy_by_formula(z, LABELS), reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_probabilities_equals_the_formula(reduction):
    z = make((5, 4))
    loss = ag.cross_entropy(Tensor(z), PROBS, reduction=reduction)
    np.testing.assert_allclose(
        loss.data, reduce(soft_cross_entropy_by_formula(z, PROBS), reduction), rtol=1e-12
    )


def test_cross_entropy_default_is_the_mean_over_examples():
    z = make((5, 4))
    np.testing.assert_allclose(ag.cross_entropy(z, LABELS).item(), cross_entropy_by_formula(z, LABELS).mean())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradients_with_labels(reduction):
    check_gradients(
        lambda z: ag.cross_entropy(z, LABELS, reduction=reduction),
        lambda z: reduce(-np_log_softmax(z)[np.arange(5), LABELS], reduction),
        make((5, 4)),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradients_with_probabilities_for_logits_and_target(reduction):
    check_gradients(
        lambda z, p: ag.cross_entropy(z, p, reduction=reduction),
        lambda z, p: reduce(-(p * np_log_softmax(z)).sum(axis=-1), reduction),
        make((5, 4)),
        PROBS,
    )


def test_cross_entropy_gradient_is_softmax_minus_one_hot_over_the_batch():
    z = Tensor(make((5, 4)), requires_grad=True)
    ag.cross_entropy(z, LABELS).backward()
    np.testing.assert_allclose(z.grad, (np_softmax(z.data) - np.eye(4)[LABELS]) / 5, rtol=1e-12, atol=1e-15)


def test_cross_entropy_of_one_hot_probabilities_equals_that_of_the_labels():
    z = make((5, 4))
    a = ag.cross_entropy(Tensor(z), np.eye(4, dtype=int)[LABELS])  # integer one-hot rows are probabilities
    np.testing.assert_allclose(a.item(), ag.cross_entropy(Tensor(z), LABELS).item(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["labels", "probabilities"])
def test_cross_entropy_over_extra_leading_axes(kind):
    z = make((2, 3, 4))
    target = (
        np.array([[0, 3, 1], [2, 2, 0]])
        if kind == "labels"
        else np.random.default_rng(2).dirichlet(np.ones(4), (2, 3))
    )
    per_row = -(np.eye(4)[target] if kind == "labels" else target) * np_log_softmax(z)
    np.testing.assert_allclose(
        ag.cross_entropy(Tensor(z), target, reduction="none").data, per_row.sum(-1), rtol=1e-12
    )
    check_gradients(
        lambda t: ag.cross_entropy(t, target),
        lambda a: (-(np.eye(4)[target] if kind == "labels" else target) * np_log_softmax(a)).sum(-1).mean(),
        z,
    )


def test_cross_entropy_never_takes_log_zero_at_extreme_logits():
    z = Tensor([[0.0, -1000.0, 1000.0], [1e4, -1e4, 0.0]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow / divide-by-zero warning fails the test
        loss = ag.cross_entropy(z, np.array([1, 1]), reduction="sum")
        loss.backward()
    np.testing.assert_allclose(loss.item(), 2000.0 + 2e4)
    np.testing.assert_allclose(z.grad, [[0.0, -1.0, 1.0], [1.0, -1.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("kind", ["labels", "probabilities"])
def test_cross_entropy_second_order(kind):
    target = LABELS if kind == "labels" else PROBS
    check_hvp(lambda z: ag.cross_entropy(z * z, target), make((5, 4)))
    if kind == "probabilities":
        check_hvp(lambda z, p: ag.cross_entropy(z, p * p), make((5, 4)), PROBS)


def test_cross_entropy_of_float32_stays_float32():
    z = Tensor(make((5, 4)).astype(np.float32), requires_grad=True)
    loss = ag.cross_entropy(z, LABELS)
    assert loss.dtype == np.float32
    loss.backward(create_graph=True)
    assert z.grad.dtype == np.float32


# ---------------------------------------------------------------- nll_loss


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_picks_minus_the_labelled_log_probability(reduction):
    log_probs = np_log_softmax(make((5, 4)))
    expected = reduce(np.array([-log_probs[i, y] for i, y in enumerate(LABELS)]), reduction)
    np.testing.assert_allclose(ag.nll_loss(Tensor(log_probs), LABELS, reduction=reduction).data, expected)
    check_gradients(
        lambda t: ag.nll_loss(t, LABELS, reduction=reduction),
        lambda a: reduce(-a[np.arange(5), LABELS], reduction),
        log_probs,
    )


def test_nll_loss_of_log_softmax_is_cross_entropy():
    z = make((5, 4))
    np.testing.assert_allclose(
        ag.nll_loss(ag.log_softmax(Tensor(z)), LABELS).item(),
        ag.cross_entropy(Tensor(z), LABELS).item(),
        rtol=1e-14,
    )


def test_nll_loss_repeated_labels_each_get_their_own_gradient():
    lp = Tensor(np.zeros((3, 2)), requires_grad=True)
    ag.nll_loss(lp, np.array([1, 1, 0]), reduction="sum").backward()
    np.testing.assert_array_equal(lp.grad, [[0.0, -1.0], [0.0, -1.0], [-1.0, 0.0]])


def test_nll_loss_of_a_single_example_and_second_order():
    lp = np_log_softmax(make((4,)))
    np.testing.assert_allclose(ag.nll_loss(Tensor(lp), np.array(2)).item(), -lp[2])
    check_hvp(lambda t: ag.nll_loss(ag.log_softmax(t * t), LABELS), make((5, 4)))


# ---------------------------------------------------------------- label errors


@pytest.mark.parametrize("fn", [ag.cross_entropy, ag.nll_loss])
@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        (
            np.array([0, 4, 1, 1, 2]),
            ValueError,
            r"labels must be in 0\.\.3 \(inputs of shape \(5, 4\) have 4 classes\), got 4 at index \(1,\)",
        ),
        (np.array([0, 1, -1, 1, 2]), ValueError, r"got -1 at index \(2,\)"),
        (
            np.array([0.0, 1.0, 2.0, 1.0, 0.0]),
            TypeError,
            r"integers 0\.\.K-1, got dtype float64 \(use labels\.astype\(int\)\)",
        ),
        (np.array([True, False, True, True, False]), TypeError, "got dtype bool"),
        (
            np.array([0, 1, 2]),
            ShapeError,
            r"labels of shape \(3,\) do not fit inputs of shape \(5, 4\): expected one label per row, shape \(5,\)",
        ),
        (Tensor([0.0, 1.0, 2.0, 1.0, 0.0]), TypeError, "labels must be an integer ndarray"),
    ],
)
def test_bad_labels_get_one_clear_error(fn, labels, error, match):
    with pytest.raises(error, match=match):
        fn(Tensor(make((5, 4))), labels)


def test_cross_entropy_probabilities_must_have_the_logits_shape():
    with pytest.raises(
        ShapeError, match=r"probabilities of shape \(5, 3\) must have the logits' shape \(5, 4\)"
    ):
        ag.cross_entropy(Tensor(make((5, 4))), np.full((5, 3), 1 / 3))


def test_cross_entropy_needs_a_class_axis():
    with pytest.raises(ShapeError, match="must have a class axis"):
        ag.cross_entropy(Tensor(1.0), np.array(0))


@pytest.mark.parametrize(
    "fn",
    [
        lambda r: ag.cross_entropy(Tensor(make((5, 4))), LABELS, reduction=r),
        lambda r: ag.cross_entropy(Tensor(make((5, 4))), PROBS, reduction=r),
        lambda r: ag.nll_loss(Tensor(make((5, 4))), LABELS, reduction=r),
        lambda r: ag.mse_loss(Tensor(make((5, 4))), make((5, 4)), reduction=r),
    ],
)
def test_an_unknown_reduction_is_an_error(fn):
    with pytest.raises(ValueError, match="reduction must be 'sum', 'mean' or 'none', got 'avg'"):
        fn("avg")


# ---------------------------------------------------------------- mse_loss


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_gradients_for_prediction_and_target(reduction, shape):
    check_gradients(
        lambda p, t: ag.mse_loss(p, t, reduction=reduction),
        lambda p, t: reduce((p - t) ** 2, reduction),
        make(shape),
        make(shape, seed=1),
    )
    check_hvp(lambda p, t: ag.mse_loss(p * t, t, reduction=reduction).sum(), make(shape), make(shape, seed=1))


def test_mse_loss_equals_the_formula():
    p, t = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 1.0])
    np.testing.assert_allclose(ag.mse_loss(Tensor(p), t).item(), (0.25 + 0 + 9) / 3)
    np.testing.assert_allclose(ag.mse_loss(Tensor(p), t, reduction="sum").item(), 9.25)


def test_mse_loss_refuses_to_broadcast_and_names_both_shapes():
    with pytest.raises(ShapeError, match=r"pred of shape \(4, 1\) and target of shape \(4,\) differ"):
        ag.mse_loss(Tensor(np.zeros((4, 1))), np.zeros(4))


# ---------------------------------------------------------------- property-based check


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 6), k=st.integers(1, 6), seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 30.0])
)
def test_property_cross_entropy_matches_formula_and_closed_form_gradient(n, k, seed, scale):
    rng = np.random.default_rng(seed)
    z0, labels = rng.standard_normal((n, k)) * scale, rng.integers(0, k, n)
    z = Tensor(z0.copy(), requires_grad=True)
    loss = ag.cross_entropy(z, labels)
    loss.backward()
    np.testing.assert_allclose(loss.item(), (-np_log_softmax(z0)[np.arange(n), labels]).mean(), rtol=1e-12)
    np.testing.assert_allclose(z.grad, (np_softmax(z0) - np.eye(k)[labels]) / n, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(z.grad.sum(axis=1), 0.0, atol=1e-12)
