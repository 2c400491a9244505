"""ag.multinomial: PyTorch's shapes and rules; seeded draws repeat; frequencies match the probabilities."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag


def chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = probs / probs.sum() * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


# The chi-square statistic of k categories has mean k - 1 and std sqrt(2 (k - 1)): 30 is over 5 std above
# the mean for the 4 to 6 categories below, which a correct sampler exceeds with probability below 1e-4.
BOUND = 30.0


def test_with_replacement_the_frequencies_are_the_normalised_weights():
    weights = np.array([1.0, 0.0, 3.0, 6.0, 0.5])  # unnormalised, with an impossible category
    draws = ag.multinomial(weights, 20_000, replacement=True, rng=0)
    assert draws.shape == (20_000,) and draws.dtype == np.int64
    counts = np.bincount(draws, minlength=5)
    assert counts[1] == 0
    possible = weights > 0
    assert chi_square(counts[possible], weights[possible]) < BOUND


def test_rows_of_a_2d_array_are_separate_distributions():
    probs = np.array([[0.7, 0.2, 0.1, 0.0], [0.0, 0.0, 0.0, 1.0], [0.25, 0.25, 0.25, 0.25]])
    draws = ag.multinomial(ag.Tensor(probs), 5_000, replacement=True, rng=1)
    assert draws.shape == (3, 5_000) and draws.dtype == np.int64
    assert np.all(draws[1] == 3)
    for row in (0, 2):
        counts = np.bincount(draws[row], minlength=4)
        possible = probs[row] > 0
        assert counts[~possible].sum() == 0
        assert chi_square(counts[possible], probs[row][possible]) < BOUND


def test_seeded_draws_repeat_and_a_generator_moves_on():
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    first = ag.multinomial(probs, 3, rng=7)
    np.testing.assert_array_equal(ag.multinomial(probs, 3, rng=7), first)
    np.testing.assert_array_equal(ag.multinomial(probs, 3, rng=np.random.default_rng(7)), first)
    generator = np.random.default_rng(7)
    runs = [ag.multinomial(probs, 50, replacement=True, rng=generator) for _ in range(2)]
    assert not np.array_equal(*runs)


def test_without_replacement_each_row_draws_distinct_categories():
    probs = np.array([[5.0, 1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    draws = ag.multinomial(probs, 4, rng=3)
    assert draws.shape == (2, 4) and draws.dtype == np.int64
    assert all(len(set(row)) == 4 for row in draws.tolist())
    assert 3 not in draws[0]  # the zero-weight category is never drawn while others remain
    assert sorted(ag.multinomial(probs[1], 5, rng=4).tolist()) == [0, 1, 2, 3, 4]


def test_without_replacement_the_draws_follow_the_remaining_weights():
    """Two draws from weights p: the first is i with probability p_i, the second is j with probability
    sum over i != j of p_i p_j / (1 - p_i)."""
    p = np.array([0.5, 0.3, 0.15, 0.05])
    trials = 20_000
    draws = ag.multinomial(np.tile(p, (trials, 1)), 2, rng=5)
    assert np.all(draws[:, 0] != draws[:, 1])
    assert chi_square(np.bincount(draws[:, 0], minlength=4), p) < BOUND
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)])
    assert second.sum() == pytest.approx(1.0)
    assert chi_square(np.bincount(draws[:, 1], minlength=4), second) < BOUND


def test_invalid_weights_are_errors_naming_the_shape():
    with pytest.raises(ValueError, match=r"multinomial: probs of shape \(2, 3\) has negative"):
        ag.multinomial(np.array([[0.5, -0.1, 0.6], [1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"probs of shape \(2, 3\) has rows that sum to 0 \(row 1\)"):
        ag.multinomial(np.array([[0.5, 0.1, 0.6], [0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"probs of shape \(3,\) has negative, infinite or NaN"):
        ag.multinomial(np.array([0.5, np.nan, 0.6]))
    with pytest.raises(ValueError, match=r"must be 1-D .* or 2-D .*got shape \(2, 2, 2\)"):
        ag.multinomial(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match=r"cannot draw 3 distinct categories .* shape \(3,\).* 2 non-zero"):
        ag.multinomial(np.array([0.5, 0.0, 0.5]), 3)
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        ag.multinomial(np.ones(3), 0)
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        ag.multinomial(np.ones(3), rng="seed")
