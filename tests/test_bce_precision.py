"""binary_cross_entropy_with_logits to a few ulps for every logit, against mpmath at high precision.

The reference is the definition softplus(z) - y z evaluated with 100 significant digits (enough for
the cancellation at |z| < 60), or, beyond that, the exact identity (1 - y) max(z, 0) + y max(-z, 0)
+ log1p(e^-|z|) in the same precision. Every check runs with warnings turned into errors.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_nn as ag
from autograd_nn import Tensor

mpmath.mp.dps = 100

LOGITS = [
    0.0,
    *[s * m for s in (1.0, -1.0) for m in (1e-300, 1e-10, 0.1, 1.0, 2.5, 17.0, 20.0, 40.0, 88.0, 700.0)],
    *[s * m for s in (1.0, -1.0) for m in (745.5, 800.0, 1e10, 3e38, 1e300, 1e308)],
]
TARGETS = [0.0, 1.0, 0.5, 0.3, 0.7, 1e-10, 1 - 1e-10, 1e-300]


def exact(z: float, y: float) -> mpmath.mpf:
    z, y = mpmath.mpf(z), mpmath.mpf(y)
    if abs(z) < 60:
        return mpmath.log(1 + mpmath.exp(z)) - y * z
    return (1 - y) * max(z, 0) + y * max(-z, 0) + mpmath.log1p(mpmath.exp(-abs(z)))


def ulps_off(computed: float, reference: mpmath.mpf, dtype) -> float:
    """|computed - reference| in units of the reference's last place in ``dtype`` (subnormals: 1 unit)."""
    info = np.finfo(dtype)
    rounded = dtype(float(reference)) if abs(reference) <= info.max else dtype(np.inf)
    if np.isinf(rounded):
        return 0.0 if computed == rounded else np.inf
    unit = max(float(np.spacing(np.abs(rounded))), float(info.smallest_subnormal))
    return float(abs(mpmath.mpf(float(computed)) - reference) / unit)


def elementwise(z, y, dtype=np.float64) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ag.binary_cross_entropy_with_logits(
            Tensor(np.asarray(z, dtype=dtype)), np.asarray(y, dtype=dtype), reduction="none"
        )
    assert out.dtype == dtype
    return out.data


def test_every_logit_and_target_on_the_grid_is_within_a_few_ulps_in_float64():
    z, y = np.meshgrid(LOGITS, TARGETS)
    got = elementwise(z.ravel(), y.ravel())
    worst = max(
        ulps_off(g, exact(a, b), np.float64) for g, a, b in zip(got, z.ravel(), y.ravel(), strict=True)
    )
    assert worst <= 4, f"worst error {worst} ulps"


def test_float32_logits_and_targets_stay_within_a_few_ulps():
    finite = [z for z in LOGITS if abs(z) < 3.4e38]
    z, y = np.meshgrid(np.array(finite, np.float32), np.array(TARGETS, np.float32))
    got = elementwise(z.ravel(), y.ravel(), np.float32)
    worst = max(
        ulps_off(g, exact(float(a), float(b)), np.float32)
        for g, a, b in zip(got, z.ravel(), y.ravel(), strict=True)
    )
    assert worst <= 8, f"worst error {worst} ulps"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    z=st.floats(allow_nan=False) | st.sampled_from([1e308, -1e308, np.inf, -np.inf]),
    y=st.floats(0, 1) | st.sampled_from([0.0, 1.0]),
)
def test_property_any_logit_and_target_in_0_1_within_a_few_ulps(z, y):
    (got,) = elementwise([z], [y])
    if np.isinf(z):  # the weight of |z| is 1 - y for z = +inf and y for z = -inf
        weight = 1 - y if z > 0 else y
        assert got == (np.inf if weight > 0 else 0.0)
    else:
        assert ulps_off(got, exact(z, y), np.float64) <= 4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_confident_right_answer_costs_e_to_the_minus_z_not_zero(dtype):
    z = np.array([40.0, 20.0], dtype)
    got = elementwise(z, [1.0, 1.0], dtype)
    for g, a in zip(got, z, strict=True):  # about e^-z: 4e-18 and 2e-9, where 0 was returned before
        assert ulps_off(g, exact(float(a), 1.0), dtype) <= 8
    assert (got > 0).all()


@pytest.mark.parametrize(
    ("z", "y", "loss"),
    [
        ([1e308, 1e308], [1.0, 1.0], 0.0),  # the case: NaN with two warnings before
        ([-1e308, -1e308], [0.0, 0.0], 0.0),
        ([np.inf], [1.0], 0.0),
        ([-np.inf], [0.0], 0.0),
        ([np.inf], [0.0], np.inf),
        ([-np.inf], [1.0], np.inf),
        ([np.inf], [0.5], np.inf),
        ([1e308, 1e308], [0.0, 0.0], 1e308),  # the sum overflows, the mean does not
        ([1e308, -1e308], [0.5, 0.5], 5e307),
    ],
    ids=str,
)
def test_extreme_and_infinite_logits_give_the_exact_mean_without_warnings(z, y, loss):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ag.binary_cross_entropy_with_logits(Tensor(z), np.array(y)).item()
    assert got == loss


def test_float32_near_its_largest_value_does_not_overflow():
    z = np.array([3e38, -3e38, np.inf], np.float32)
    got = elementwise(z, np.array([1.0, 0.0, 1.0], np.float32), np.float32)
    np.testing.assert_array_equal(got, [0.0, 0.0, 0.0])


@pytest.mark.parametrize(("dtype", "tolerance"), [(np.float64, 2e-15), (np.float32, 1e-6)])
def test_the_mean_over_many_elements_is_accurate(dtype, tolerance):
    # Mostly confident right answers (as a trained network gives): the total is far below sum |z|
    # (the loss then cancelled: relative error 1e-13 in float64 before)
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 4000).astype(dtype)
    z = ((2 * y - 1) * rng.uniform(2, 15, 4000)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ag.binary_cross_entropy_with_logits(Tensor(z), y).item()
    reference = mpmath.fsum(exact(float(a), float(b)) for a, b in zip(z, y, strict=True)) / z.size
    assert abs((got - reference) / reference) <= tolerance


def test_gradients_are_still_sigmoid_minus_target_at_extreme_logits():
    z = Tensor([1e308, -1e308, 40.0, -3.0], requires_grad=True)
    y = np.array([1.0, 1.0, 0.0, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ag.binary_cross_entropy_with_logits(z, y, reduction="sum").backward()
    np.testing.assert_allclose(z.grad, [0.0, -1.0, 1.0, 1 / (1 + np.exp(3.0)) - 0.5], rtol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_total_with_every_term_nonzero_is_accurate(reduction):
    # (1 - y) max(z, 0) + y max(-z, 0) is computed as one product, z (H(z) - y). Nearly sure targets
    # met by confident right logits keep every term nonzero and the total 2,000x below sum |z|: the
    # shortcut sum max(z, 0) - y.z + ... would be off by 4e-13 here.
    rng = np.random.default_rng(7)
    right = rng.integers(0, 2, 20000)
    y = np.abs(right - rng.uniform(0, 1e-4, right.size))
    z = (2 * right - 1) * rng.uniform(2, 40, right.size)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        got = ag.binary_cross_entropy_with_logits(Tensor(z), y, reduction=reduction).item()
    reference = mpmath.fsum(exact(float(a), float(b)) for a, b in zip(z, y, strict=True))
    if reduction == "mean":
        reference /= z.size
    assert abs((got - reference) / reference) <= 2e-15


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradients_where_the_sigmoid_is_subnormal_raise_no_warning(reduction):
    # sigmoid(-709) is about 1.2e-308, below the smallest normal float: it and its product with the
    # mean's 1/n are rounded quietly, even under np.errstate(all="raise")
    z = Tensor([-709.0, -708.9, 3.0, -1000.0], requires_grad=True)
    y = np.array([0.0, 0.0, 1.0, 0.0])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        loss = ag.binary_cross_entropy_with_logits(z, y, reduction=reduction)
        loss.backward(np.ones(4) if reduction == "none" else None)
    sigmoid = np.array([float(1 / (1 + mpmath.exp(-mpmath.mpf(v)))) for v in z.data])
    expected = (sigmoid - y) / (4 if reduction == "mean" else 1)
    tiny = 2 * float(np.finfo(np.float64).smallest_subnormal)
    np.testing.assert_allclose(z.grad, expected, rtol=1e-14, atol=tiny)  # sigmoid(3) - 1 cancels: 1e-14


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("z", "y"),
    [
        ([0.5, -2.0, 40.0, -3.0], [1.0, 0.0, 0.3, 0.5]),
        ([np.inf, -np.inf, 1.0], [1.0, 0.0, 0.5]),  # zero weight times an infinite logit: the careful path
        ([np.inf, 2.0], [0.5, 1.0]),
        ([3e38, 3e38], [0.0, 0.0]),  # float32's sum overflows, its mean does not
    ],
    ids=str,
)
def test_the_compiled_forward_into_planned_scratch_gives_the_eager_forward_bit_for_bit(
    dtype, reduction, z, y
):
    z, y = np.array(z, dtype), np.array(y, dtype)
    op = ag.ops.BCEWithLogits(reduction)
    scratch = tuple(np.full(shape, np.nan, spec_dtype) for shape, spec_dtype in op.forward_scratch(z, y))
    out = np.empty(z.shape if reduction == "none" else (), dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        op.forward_into(out, z, y, scratch)
        eager = op.forward(z, y)
    np.testing.assert_array_equal(out, eager)
    assert np.isnan(out).sum() == 0
