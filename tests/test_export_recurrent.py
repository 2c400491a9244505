"""ONNX export of the recurrent layers: unrolled over the traced sequence (its length is fixed in the file,
the batch symbolic); onnxruntime and onnx's reference evaluator compute what the engine computes, for
several batch sizes and several exported sequence lengths.

Skipped when onnx or onnxruntime is missing, except under AUTOGRAD_NN_REQUIRE_ONNX=1 (set in CI).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

try:
    import onnx
    import onnxruntime
except ImportError as missing:
    if os.environ.get("AUTOGRAD_NN_REQUIRE_ONNX") == "1":
        raise ImportError(f"AUTOGRAD_NN_REQUIRE_ONNX=1 but {missing}; pip install -e '.[onnx]'") from None
    pytest.skip(f"{missing} (pip install -e '.[onnx]')", allow_module_level=True)

from test_export_onnx import check_export

import autograd_nn as ag
from autograd_nn import nn


def dims(value) -> list:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def sequences(steps: int, features: int, dtype, with_state: bool, states: int = 0, hidden: int = 0):
    """make_inputs for check_export: (batch, steps, features) inputs, and batch-first initial states."""

    def make(batch: int) -> list[np.ndarray]:
        rng = np.random.default_rng(batch * 100 + steps)
        arrays = [rng.normal(size=(batch, steps, features))]
        if with_state:
            arrays += [rng.normal(size=(batch, states, hidden)) for _ in range(2)]
        return [a.astype(dtype) for a in arrays]

    return make


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("steps", [1, 4, 7])
def test_two_layer_bidirectional_layers(tmp_path, kind, dtype, steps):
    model = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=dtype, rng=0)

    def forward(x):
        output, state = model(x)
        return (output, *state) if kind == "LSTM" else (output, state)

    exported = check_export(forward, sequences(steps, 3, dtype, False), tmp_path / f"{kind}.onnx")
    assert dims(exported.graph.input[0]) == ["batch", steps, 3]
    assert dims(exported.graph.output[0]) == ["batch", steps, 8]
    assert dims(exported.graph.output[1]) == [4, "batch", 4]


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_layers_with_initial_states_given_batch_first(tmp_path, kind):
    """The initial states are (layers * directions, batch, hidden); exported inputs have the batch first,
    so the forward takes them batch first and swaps the axes inside the graph."""
    model = getattr(nn, kind)(3, 5, num_layers=2, batch_first=True, rng=1)

    def forward(x, h0, c0):
        h0, c0 = h0.transpose(1, 0, 2), c0.transpose(1, 0, 2)
        if kind == "LSTM":
            output, (h_n, c_n) = model(x, (h0, c0))
            return output, h_n, c_n
        output, h_n = model(x, h0)
        return output, h_n, c0.sum() * 0 + h_n  # c0 unused by RNN and GRU; every input must be used

    check_export(forward, sequences(6, 3, np.float64, True, states=2, hidden=5), tmp_path / "m.onnx")


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_cells_and_a_relu_rnn(tmp_path, kind):
    cell = getattr(nn, kind + "Cell")(3, 4, rng=2)
    layer = nn.RNN(3, 4, nonlinearity="relu", bias=False, batch_first=True, rng=3)

    def forward(x):
        state = cell(x[:, 0])
        step = state[0] if kind == "LSTM" else state
        return step, layer(x)[0]

    check_export(forward, sequences(3, 3, np.float64, False), tmp_path / "cell.onnx")


def test_a_time_major_layer_with_a_dynamic_batch_says_to_make_the_batch_first(tmp_path):
    model = nn.LSTM(3, 4)  # batch_first=False: the traced first axis is the sequence
    with pytest.raises(ag.ExportError, match=r"recurrent layer with batch_first=False.*batch_first=True"):
        ag.export_onnx(lambda x: model(x)[0], np.zeros((5, 2, 3)), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_time_major_layer_exports_with_a_fixed_batch(tmp_path):
    model = nn.GRU(3, 4, bidirectional=True, rng=4)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    ag.export_onnx(lambda x: model(x)[0], x, tmp_path / "m.onnx", dynamic_batch=False)
    exported = onnx.load(tmp_path / "m.onnx")
    assert dims(exported.graph.input[0]) == [5, 2, 3]
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x})
    np.testing.assert_allclose(got, model(x)[0].data, rtol=1e-12, atol=1e-14)
