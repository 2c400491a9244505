"""ag.compile's code generation: the straight-line Python a compiled function runs."""

from __future__ import annotations

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor


def test_the_program_a_compiled_function_runs_can_be_read():
    w = Tensor(np.ones(3), requires_grad=True)
    step = ag.compile(lambda X: (Tensor(X) * w).sigmoid().sum())
    step(np.ones(3))
    source = step.source()
    assert "def forward(e):" in source and "def backward(e):" in source
    assert "forward_into" in source and "vjp_into" in source  # the sigmoid's fast paths
