"""``recording_whole_layers`` (what ONNX export traces under): a recurrent layer records one ``RecurrentLayer`` op
per direction of each layer, whose values are exactly the eager layer's and gradients the same to rounding (the
recomputed steps' gradients are summed in another order); outside it, nothing changes."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor, nn
from autograd_nn.export.trace import topological_order, value_of
from autograd_nn.nn.recurrent_export import RecurrentLayer, is_recording, recording_whole_layers


def recorded_ops(*outputs: Tensor) -> list:
    return [v for v in topological_order([value_of(t) for t in outputs]) if not isinstance(v, Tensor)]


def run(model, kind: str, x: np.ndarray, states: list[np.ndarray]):
    """The layer's outputs and the gradient of a loss over all of them, for x, the states and the weights."""
    inputs = [Tensor(a, requires_grad=True) for a in (x, *states)]
    hx = None
    if states:
        hx = tuple(inputs[1:]) if kind == "LSTM" else inputs[1]
    output, final = model(inputs[0], hx)
    outputs = [output, *final] if kind == "LSTM" else [output, final]
    loss = sum(((t * t).sum() * (k + 1) for k, t in enumerate(outputs)), start=Tensor(0.0))
    model.zero_grad()
    loss.backward()
    grads = [t.grad for t in inputs] + [p.grad.copy() for p in model.parameters()]
    return outputs, grads


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
def test_a_layer_recorded_whole_gives_the_eager_values_and_gradients(kind, batch_first, with_state):
    model = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, batch_first=batch_first, rng=0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3) if batch_first else (5, 2, 3))
    states = [rng.normal(size=(4, 2, 4)) for _ in range((2 if kind == "LSTM" else 1) if with_state else 0)]
    eager_outputs, eager_grads = run(model, kind, x, states)
    with recording_whole_layers():
        whole_outputs, whole_grads = run(model, kind, x, states)
    for a, b in zip(eager_outputs, whole_outputs, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    for a, b in zip(eager_grads, whole_grads, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15 * np.abs(a).max())
    layers = [op for op in recorded_ops(*whole_outputs) if isinstance(op, RecurrentLayer)]
    assert len(layers) == 4  # 2 layers x 2 directions
    assert not any(isinstance(op, RecurrentLayer) for op in recorded_ops(*eager_outputs))


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_the_whole_layer_op_passes_gradcheck_also_recorded(kind):
    """Its VJP recomputes the steps with recording on: central differences agree, and so do second-order
    gradients (create_graph) when the loss is differentiated twice."""
    model = getattr(nn, kind)(2, 3, rng=2)
    rng = np.random.default_rng(3)
    x = Tensor(rng.normal(size=(4, 2, 2)), requires_grad=True)
    h0 = Tensor(rng.normal(size=(1, 2, 3)), requires_grad=True)
    hx = (h0, h0 * 0.5) if kind == "LSTM" else h0

    def loss(x, h0):
        with recording_whole_layers():
            return (model(x, (h0, h0 * 0.5) if kind == "LSTM" else h0)[0] ** 2).sum()

    assert ag.gradcheck(loss, x, h0, wrt=model.parameters())
    with recording_whole_layers():
        first = ag.grad((model(x, hx)[0] ** 2).sum(), x, create_graph=True)
    second = ag.grad((first**2).sum(), x)
    eager_first = ag.grad((model(x, hx)[0] ** 2).sum(), x, create_graph=True)
    np.testing.assert_allclose(second, ag.grad((eager_first**2).sum(), x), rtol=1e-12, atol=1e-14)


def test_recording_is_off_outside_the_block_and_after_an_error():
    assert not is_recording()
    with pytest.raises(RuntimeError), recording_whole_layers():
        assert is_recording()
        raise RuntimeError
    assert not is_recording()
