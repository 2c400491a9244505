"""nn.init's fills: in place, unrecorded, version-counted, seeded; their distributions checked with fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import nn

N = 200_000  # samples per distribution check: the sample mean's error is about std / 450


def parameter(*shape) -> nn.Parameter:
    return nn.Parameter(np.full(shape, np.nan))


def test_ones_and_zeros_fill_in_place_and_count_the_change():
    p = parameter(3, 4)
    array, version = p.data, p._version
    assert nn.init.ones_(p) is p and p.data is array
    np.testing.assert_array_equal(p.data, np.ones((3, 4)))
    assert p._version == version + 1
    nn.init.zeros_(p)
    np.testing.assert_array_equal(p.data, np.zeros((3, 4)))
    assert p._version == version + 2


@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (3.0, 0.02), (-1.0, 2.5)])
def test_normal_has_its_mean_and_std(mean, std):
    p = nn.init.normal_(parameter(N), mean, std, rng=0)
    assert abs(p.data.mean() - mean) < 5 * std / math.sqrt(N)
    assert abs(p.data.std() / std - 1) < 0.01
    assert p.dtype == np.float64


def test_normal_keeps_a_float32_tensor_float32():
    p = nn.Parameter(np.zeros(1000, dtype=np.float32))
    nn.init.normal_(p, std=0.02, rng=0)
    assert p.dtype == np.float32 and 0.015 < p.data.std() < 0.025


def phi(z):
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def Phi(z):  # the normal CDF
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 2.0, 0.0, 5.0), (0.0, 1.0, 0.5, 3.0)],
)
def test_trunc_normal_respects_its_absolute_bounds_and_has_the_truncated_moments(mean, std, a, b):
    p = nn.init.trunc_normal_(parameter(N), mean, std, a, b, rng=1)
    assert p.data.min() >= a and p.data.max() <= b
    # the truncated normal's mean and variance, with alpha, beta the bounds in std units
    alpha, beta = (a - mean) / std, (b - mean) / std
    mass = Phi(beta) - Phi(alpha)
    shift = (phi(alpha) - phi(beta)) / mass
    want_mean = mean + std * shift
    want_std = std * math.sqrt(1 + (alpha * phi(alpha) - beta * phi(beta)) / mass - shift**2)
    assert abs(p.data.mean() - want_mean) < 5 * want_std / math.sqrt(N)
    assert abs(p.data.std() / want_std - 1) < 0.01
    # and it is not the untruncated normal: values fill the interval right up to the bounds
    assert p.data.min() < a + 0.05 * (b - a) and p.data.max() > b - 0.05 * (b - a)


def test_fills_are_seeded_by_rng_and_by_manual_seed():
    first = nn.init.normal_(parameter(50), rng=7).data.copy()
    np.testing.assert_array_equal(nn.init.normal_(parameter(50), rng=7).data, first)
    nn.init.manual_seed(3)
    a = nn.init.trunc_normal_(parameter(50)).data.copy()
    nn.init.manual_seed(3)
    np.testing.assert_array_equal(nn.init.trunc_normal_(parameter(50)).data, a)
    assert not np.array_equal(a, nn.init.trunc_normal_(parameter(50)).data)  # the stream moves on


def test_a_fill_is_not_recorded_and_a_graph_that_saved_the_old_values_refuses_backward():
    w = nn.Parameter(np.ones(3))
    x = ag.Tensor(np.arange(3.0), requires_grad=True)
    y = (w * x).sum()  # saves w for x's gradient
    with ag.enable_grad():
        nn.init.normal_(w, rng=0)
    assert w.is_leaf and w.grad is None
    with pytest.raises(ag.AutogradError, match="version"):
        y.backward()


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="normal_: std must be a finite number >= 0"):
        nn.init.normal_(parameter(3), std=-1)
    with pytest.raises(ValueError, match="trunc_normal_: the bounds must satisfy a < b"):
        nn.init.trunc_normal_(parameter(3), a=1, b=-1)
    with pytest.raises(ValueError, match=r"holds only .* of N\(0.0, 1.0\*\*2\)"):
        nn.init.trunc_normal_(parameter(3), a=10, b=11)
