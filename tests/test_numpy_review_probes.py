"""Targeted probes from the adversarial review of NumPy's protocols together with the engine's other
parts (compile, in-place .grad accumulation, the sequence ops): each test is a defect the review found,
or a behaviour it checked and pins down."""

from __future__ import annotations

import numpy as np

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
