"""ag.compile's checks against eager mode: the second call, and check=True on later calls."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor


def test_check_catches_a_branch_on_tensor_values():
    w = Tensor(np.ones(3), requires_grad=True)

    def fn(X):
        x = Tensor(X) * w
        return x.exp().sum() if x.sum().item() > 0 else x.tanh().sum()

    step = ag.compile(fn, check=True)
    step(np.ones(3))
    step(np.ones(3) * 2)  # same branch: fine
    with pytest.raises(ag.AutogradError, match=r"op 2 was exp\(\), now tanh|other ops") as error:
        step(-np.ones(3))
    assert "frozen at trace time" in str(error.value)


def test_the_second_call_catches_a_value_frozen_at_trace_time():
    w = Tensor(np.ones(3), requires_grad=True)
    step = ag.compile(lambda X: (w * float(X.max())).sigmoid().sum())
    step(np.ones(3))
    with pytest.raises(
        ag.AutogradError, match=r"op 1 \(mul\) got its input 1 .* changed between the first two"
    ):
        step(np.full(3, 2.0))


def test_numpy_on_an_integer_argument_is_caught_at_the_second_call():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    step = ag.compile(lambda X, labels: ((Tensor(X) @ w) * np.eye(2)[labels]).sum())
    step(np.ones((4, 3)), np.array([0, 1, 1, 0]))
    with pytest.raises(ag.AutogradError, match="changed between the first two calls"):
        step(np.ones((4, 3)), np.array([1, 1, 0, 0]))


def test_check_names_the_first_op_that_differs_on_a_later_call():
    w = Tensor(np.ones(3), requires_grad=True)
    step = ag.compile(lambda X: (w * float(X.max())).sigmoid().sum(), check=True)
    step(np.ones(3))
    step(np.full(3, 0.5) + np.array([0.5, 0, 0]))  # the same maximum: the second call agrees
    with pytest.raises(ag.AutogradError, match=r"op 1 \(mul\) gives other values"):
        step(np.full(3, 2.0))
