"""A user's own op, written as the engine's page (docs/engine.md) shows: subclass Op with forward and vjp, apply it, gradcheck it."""

from __future__ import annotations

import numpy as np
import pytest
from docs_pages import example as docs_example

import autograd_nn as ag


@pytest.fixture(scope="module")
def example() -> dict:
    """The docs' custom-op block, run as written; its names are returned."""
    names: dict = {}
    exec(compile(docs_example("custom op"), "docs (custom op)", "exec"), names)
    return names


def test_the_docs_example_runs_and_its_op_is_recorded(example):
    x = example["x"]
    y = example["gaussian"](x)
    np.testing.assert_allclose(y.data, np.exp(-(x.data**2)), rtol=1e-15)
    assert y.op.label() == "gaussian"
    assert "gaussian" in ag.draw_graph(y.sum()).source


def test_the_first_and_second_derivatives_are_right(example):
    x = example["x"].data
    np.testing.assert_allclose(example["slope"].data, -2 * x * np.exp(-(x**2)), rtol=1e-12)
    np.testing.assert_allclose(example["curvature"], (4 * x**2 - 2) * np.exp(-(x**2)), rtol=1e-10, atol=1e-15)


def test_gradcheck_catches_a_wrong_vjp(example):
    class WrongGaussian(example["Gaussian"]):
        def vjp(self, g, out, x):
            return (2 * x * out * g,)  # the sign is wrong

    x = ag.Tensor(np.linspace(-1, 1, 5), requires_grad=True)
    with pytest.raises(ag.GradcheckError):
        ag.gradcheck(lambda t: ag.tensor.apply(WrongGaussian(), t).sum(), x)


def test_a_custom_op_serves_inside_a_module(example):
    from autograd_nn import nn

    class RBFLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 4, rng=0)

        def forward(self, x):
            return example["gaussian"](self.linear(x))

    layer = RBFLayer()
    inputs = np.random.default_rng(0).standard_normal((5, 3))
    layer(inputs).sum().backward()
    numeric = ag.numerical_gradient(lambda: layer(inputs).sum().item(), layer.linear.weight.data)
    np.testing.assert_allclose(layer.linear.weight.grad, numeric, rtol=1e-6, atol=1e-9)
