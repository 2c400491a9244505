"""ONNX export of the recurrent layers, written whole: ONNX's own RNN/GRU/LSTM in float32 (tanh), a Scan of the
engine's step otherwise (float64, relu). The batch and the sequence axes are symbolic, for batch_first and
time-major layers and for their initial states: one exported file runs at any (batch, sequence), and
onnxruntime and onnx's reference evaluator compute what the engine computes eagerly.

Skipped when onnx or onnxruntime is missing, except under AUTOGRAD_NN_REQUIRE_ONNX=1 (set in CI).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

try:
    import onnx
    import onnxruntime
    from onnx.reference import ReferenceEvaluator
except ImportError as missing:
    if os.environ.get("AUTOGRAD_NN_REQUIRE_ONNX") == "1":
        raise ImportError(f"AUTOGRAD_NN_REQUIRE_ONNX=1 but {missing}; pip install -e '.[onnx]'") from None
    pytest.skip(f"{missing} (pip install -e '.[onnx]')", allow_module_level=True)

from test_export_onnx import assert_matches, check_export

import autograd_nn as ag
from autograd_nn import Tensor, nn

INPUT, HIDDEN = 3, 4
TRACED = (2, 5)  # the (batch, sequence) the export traces
RUN_AT = ((1, 1), (3, 7), (5, 2), (4, 12))  # the (batch, sequence) pairs the exported file runs at
LAYERS = [("RNN", "tanh"), ("RNN", "relu"), ("GRU", "tanh"), ("LSTM", "tanh")]


def dims(value) -> list:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def runtimes(path, model):
    return (
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]),
        ReferenceEvaluator(model),
    )


class Layer:
    """A recurrent layer, the forward that exports it (outputs: output, h_n and for an LSTM c_n) and its inputs."""

    def __init__(self, kind, nonlinearity, num_layers, bidirectional, batch_first, dtype, with_state):
        options = {"nonlinearity": nonlinearity} if kind == "RNN" else {}
        self.module = getattr(nn, kind)(
            INPUT,
            HIDDEN,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=batch_first,
            dtype=dtype,
            rng=7,
            **options,
        )
        self.kind, self.dtype, self.batch_first = kind, dtype, batch_first
        self.states = (2 if kind == "LSTM" else 1) if with_state else 0
        self.stacked = num_layers * (2 if bidirectional else 1)

    def forward(self, x, *states):
        if states:
            output, final = self.module(x, tuple(states) if self.kind == "LSTM" else states[0])
        else:
            output, final = self.module(x)
        return (output, *final) if self.kind == "LSTM" else (output, final)

    def inputs(self, batch: int, steps: int) -> list[np.ndarray]:
        rng = np.random.default_rng(100 * batch + steps)
        shape = (batch, steps, INPUT) if self.batch_first else (steps, batch, INPUT)
        arrays = [rng.normal(size=shape)] + [
            rng.normal(size=(self.stacked, batch, HIDDEN)) for _ in range(self.states)
        ]
        return [a.astype(self.dtype) for a in arrays]

    def axes(self) -> dict:
        """export_onnx's options: the batch and sequence axis of x, the batch axis of each initial state."""
        x_batch, x_sequence = (0, 1) if self.batch_first else (1, 0)
        return {
            "dynamic_batch": [x_batch] + [1] * self.states,
            "dynamic_sequence": [x_sequence] + [None] * self.states,
        }


def export_and_run(layer: Layer, path) -> onnx.ModelProto:
    """Export once at TRACED, then run the file at every RUN_AT pair on both runtimes: each gives the eager
    forward's outputs (float32 to 1e-5, float64 to 1e-12, relative to each output's largest value)."""
    ag.export_onnx(layer.forward, tuple(layer.inputs(*TRACED)), path, **layer.axes())
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    names = [i.name for i in model.graph.input]
    for batch, steps in RUN_AT:
        arrays = layer.inputs(batch, steps)
        wanted = [t.data for t in layer.forward(*[Tensor(a) for a in arrays])]
        for runtime in runtimes(path, model):
            got = runtime.run(None, dict(zip(names, arrays, strict=True)))
            assert len(got) == len(wanted)
            for g, w in zip(got, wanted, strict=True):
                assert_matches(np.asarray(g), w)
    return model


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_major"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one_way", "bidirectional"])
@pytest.mark.parametrize("num_layers", [1, 2], ids=["1_layer", "2_layers"])
@pytest.mark.parametrize("kind, nonlinearity", LAYERS, ids=["RNN_tanh", "RNN_relu", "GRU", "LSTM"])
def test_a_layer_exports_once_and_runs_at_any_batch_and_sequence_length(
    tmp_path, kind, nonlinearity, num_layers, bidirectional, batch_first, dtype, with_state
):
    layer = Layer(kind, nonlinearity, num_layers, bidirectional, batch_first, dtype, with_state)
    model = export_and_run(layer, tmp_path / "layer.onnx")

    x, *states = model.graph.input
    assert dims(x) == (["batch", "sequence", INPUT] if batch_first else ["sequence", "batch", INPUT])
    for state in states:
        assert dims(state) == [layer.stacked, "batch", HIDDEN]
    output, *finals = model.graph.output
    width = HIDDEN * (2 if bidirectional else 1)
    assert dims(output) == (["batch", "sequence", width] if batch_first else ["sequence", "batch", width])
    for final in finals:
        assert dims(final) == [layer.stacked, "batch", HIDDEN]

    written = [node.op_type for node in model.graph.node]
    directions = layer.stacked
    if dtype == np.float32 and nonlinearity == "tanh":  # ONNX's own operator, one per direction of each layer
        assert written.count(kind) == directions and "Scan" not in written
    else:  # float64 (no onnxruntime kernel) or relu (not in the reference evaluator): the engine's step
        assert written.count("Scan") == directions and kind not in written


def test_a_char_level_model_exports_with_symbolic_batch_and_sequence(tmp_path):
    """Embedding -> LSTM -> Linear on int64 token ids (batch, sequence), as a character model is built."""

    class CharModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(11, 6, rng=0)
            self.lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True, rng=1)
            self.out = nn.Linear(8, 11, rng=2)

        def forward(self, ids):
            output, _ = self.lstm(self.embed(ids))
            return self.out(output)

    model, path = CharModel(), tmp_path / "chars.onnx"
    ids = np.random.default_rng(0).integers(0, 11, (2, 5))
    ag.export_onnx(model, ids, path, input_names=["tokens"], dynamic_sequence=True)
    exported = onnx.load(path)
    onnx.checker.check_model(exported, full_check=True)
    assert dims(exported.graph.input[0]) == ["batch", "sequence"]
    assert exported.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert dims(exported.graph.output[0]) == ["batch", "sequence", 11]
    for runtime in runtimes(path, exported):
        for batch, steps in ((1, 3), (4, 16)):
            tokens = np.random.default_rng(steps).integers(0, 11, (batch, steps))
            (logits,) = runtime.run(None, {"tokens": tokens})
            assert_matches(logits, model(tokens).data)


def test_an_unbatched_sequence_exports_with_a_symbolic_length(tmp_path):
    gru = nn.GRU(INPUT, HIDDEN, bidirectional=True, rng=3)
    make = lambda batch: [np.random.default_rng(batch).normal(size=(batch + 2, INPUT))]  # noqa: E731
    model = check_export(
        lambda x: gru(x)[0],
        make,
        tmp_path / "u.onnx",
        batches=(1, 6),
        dynamic_batch=False,
        dynamic_sequence=[0],
    )
    assert dims(model.graph.input[0]) == ["sequence", INPUT]


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_cells_and_a_relu_rnn_without_bias(tmp_path, kind):
    cell = getattr(nn, kind + "Cell")(3, 4, rng=2)
    layer = nn.RNN(3, 4, nonlinearity="relu", bias=False, batch_first=True, rng=3)

    def forward(x):
        state = cell(x[:, 0])
        step = state[0] if kind == "LSTM" else state
        return step, layer(x)[0]

    make = lambda batch: [np.random.default_rng(batch).normal(size=(batch, 3, 3))]  # noqa: E731
    check_export(forward, make, tmp_path / "cell.onnx")


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_a_layer_without_bias_exports_as_onnxs_operator(tmp_path, kind):
    model = getattr(nn, kind)(3, 4, bias=False, batch_first=True, dtype=np.float32, rng=5)
    make = lambda batch: [np.random.default_rng(batch).normal(size=(batch, 6, 3)).astype(np.float32)]  # noqa: E731
    exported = check_export(lambda x: model(x)[0], make, tmp_path / "m.onnx", dynamic_sequence=True)
    assert kind in [node.op_type for node in exported.graph.node]


def test_a_time_major_layer_exports_with_a_fixed_batch(tmp_path):
    model = nn.GRU(3, 4, bidirectional=True, rng=4)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    ag.export_onnx(lambda x: model(x)[0], x, tmp_path / "m.onnx", dynamic_batch=False)
    exported = onnx.load(tmp_path / "m.onnx")
    assert dims(exported.graph.input[0]) == [5, 2, 3]
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x})
    np.testing.assert_allclose(got, model(x)[0].data, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("batch_first", [False, True])
def test_symbolic_axes_that_are_not_the_layers_are_an_error(tmp_path, batch_first):
    """The defaults make axis 0 the batch and axis 1 the sequence, the reverse of a time-major layer's."""
    model = nn.LSTM(3, 4, batch_first=batch_first)
    axes = {} if not batch_first else {"dynamic_batch": [1], "dynamic_sequence": [0]}
    hint = (
        "dynamic_batch=[0], dynamic_sequence=[1]"
        if batch_first
        else "dynamic_batch=[1], dynamic_sequence=[0]"
    )
    with pytest.raises(
        ag.ExportError, match=re.escape("name each input's axes: for this layer's input, " + hint)
    ):
        ag.export_onnx(lambda x: model(x)[0], np.zeros((5, 2, 3)), tmp_path / "m.onnx", **axes)
    assert not (tmp_path / "m.onnx").exists()


def test_the_symbolic_axes_are_given_one_per_input(tmp_path):
    lstm = nn.LSTM(3, 4)
    x, h0 = np.zeros((5, 2, 3)), np.zeros((1, 2, 4))

    def forward(x, h0):
        return lstm(x, (h0, h0))[0]

    with pytest.raises(ValueError, match="dynamic_batch gives 1 axes for 2 inputs"):
        ag.export_onnx(forward, (x, h0), tmp_path / "m.onnx", dynamic_batch=[1])
    with pytest.raises(ValueError, match=r"dynamic_sequence\[0\] = 3 is not an axis of example input 0"):
        ag.export_onnx(forward, (x, h0), tmp_path / "m.onnx", dynamic_sequence=[3, None])
    with pytest.raises(ValueError, match="axis 1 of input 0 is given as both its batch and its sequence"):
        ag.export_onnx(
            forward, (x, h0), tmp_path / "m.onnx", dynamic_batch=[1, 1], dynamic_sequence=[1, None]
        )
    with pytest.raises(ValueError, match="batches of lengths"):
        ag.export_onnx(forward, (x, h0), tmp_path / "m.onnx", dynamic_batch=[0, 1])
    with pytest.raises(TypeError, match="one axis \\(or None\\) per input"):
        ag.export_onnx(forward, (x, h0), tmp_path / "m.onnx", dynamic_batch="time")
    assert not (tmp_path / "m.onnx").exists()


def test_recording_the_layers_whole_is_only_for_the_export(tmp_path):
    """Outside export_onnx a layer records its steps as before; the exported file holds one recurrent node
    per direction, whatever the traced length."""
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, rng=6)
    x = np.random.default_rng(0).normal(size=(2, 9, 3))
    eager = lstm(Tensor(x, requires_grad=True))[0]
    assert "recurrent_layer" not in repr(eager._op)
    ag.export_onnx(lambda x: lstm(x)[0], x, tmp_path / "m.onnx", dynamic_sequence=True)
    scans = [n for n in onnx.load(tmp_path / "m.onnx").graph.node if n.op_type == "Scan"]
    assert len(scans) == 4
