"""ag.compile's cache: one program per input signature, traced again when the signature changes."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor


def test_a_new_batch_size_or_a_reshaped_parameter_traces_again():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    step = ag.compile(lambda X: (Tensor(X) @ w).sum())
    for _ in range(3):
        step(np.ones((4, 3)))
    assert (step.traces, step.replays) == (1, 1)  # the second call runs eagerly, compared with the trace
    step(np.ones((5, 3)))
    assert step.traces == 2
    w.data = np.ones((3, 7))  # another shape: the recorded program no longer fits
    loss = step(np.ones((5, 3)))
    assert step.traces == 3
    assert loss.item() == 105.0
    loss.backward()
    np.testing.assert_array_equal(w.grad, np.full((3, 7), 5.0))


def test_python_values_are_part_of_the_signature_and_the_cache_is_bounded():
    w = Tensor(np.arange(3.0), requires_grad=True)
    step = ag.compile(lambda X, scale: (Tensor(X) * w * scale).sum(), cache_size=2)
    X = np.ones(3)
    assert step(X, 2.0).item() == 6.0
    assert step(X, 3.0).item() == 9.0
    assert step(X, 4.0).item() == 12.0
    assert step.traces == 3 and len(step._programs) == 2
    assert step(X, 2.0).item() == 6.0  # evicted (least recently used): traced again
    assert step.traces == 4


def test_keyword_arguments_and_tensor_arguments_that_require_grad():
    step = ag.compile(lambda x, *, power: (x**power).sum())
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    for _ in range(3):
        x.grad = None
        loss = step(x, power=3)
        loss.backward()
        np.testing.assert_array_equal(x.grad, 3 * x.data**2)
    assert step.replays == 1


def test_a_function_must_return_one_tensor():
    with pytest.raises(TypeError, match="must return one Tensor"):
        ag.compile(lambda x: (Tensor(x), Tensor(x)))(np.ones(2))


def test_a_compiled_method_keeps_one_program_per_instance():
    class Scaler:
        def __init__(self, scale: float) -> None:
            self.w = Tensor(np.full(2, scale), requires_grad=True)

        @ag.compile
        def loss(self, X):
            return (Tensor(X) * self.w).sum()

    a, b = Scaler(2.0), Scaler(3.0)
    for _ in range(3):
        assert a.loss(np.ones(2)).item() == 4.0
        assert b.loss(np.ones(2)).item() == 6.0
    assert Scaler.loss.traces == 2
