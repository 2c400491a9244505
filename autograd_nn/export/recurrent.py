"""ONNX export of a recurrent layer recorded whole (``nn.recurrent_export.RecurrentLayer``, one direction of one
layer over the whole sequence): ONNX's own RNN, GRU or LSTM operator where it computes exactly what the engine
computes and onnxruntime has a kernel, else a Scan loop whose body is the engine's step.

ONNX's operators are float32-only in onnxruntime and take tanh RNNs only in onnx's reference evaluator, so
float64 layers and relu RNNs become a Scan. Either way the graph is the same for every batch size and sequence
length. The op's output is the final state(s) followed by the per-step outputs along the time axis, as the
engine packs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .onnx_types import ELEMENT_TYPES, INT64_MAX, INT64_MIN
from .trace import ExportError, ValueInfo

if TYPE_CHECKING:
    from .onnx import _Node, _Writer

# PyTorch stacks the gates as LSTM i, f, g, o and GRU r, z, n; ONNX as LSTM i, o, f, c and GRU z, r, h.
# For each ONNX gate, the PyTorch gate it takes.
_ONNX_GATE_ORDER = {"RNN": (0,), "GRU": (1, 0, 2), "LSTM": (0, 3, 1, 2)}


def recurrent_layer(w: _Writer, n: _Node) -> None:
    """The layer as ONNX's RNN/GRU/LSTM in float32 (tanh for an RNN), else as a Scan of the engine's step."""
    op = n.op
    _check_axes(op, n.inputs[0])
    names = [w.as_dtype(v, n.out.dtype) for v in n.inputs]
    x, w_ih, w_hh, rest = names[0], names[1], names[2], names[3:]
    biases = (rest[0], rest[1]) if op.has_bias else None
    states = rest[2:] if op.has_bias else rest
    native = n.out.dtype == np.float32 and (op.kind != "RNN" or op.nonlinearity == "tanh")
    if native:
        packed = _onnx_operator(w, op, x, w_ih, w_hh, biases, states)
    else:
        packed = _scan(w, op, n.out.dtype, x, w_ih, w_hh, biases, states)
    w.finish(packed, n.out.name)


def _check_axes(op, x: ValueInfo) -> None:
    """Refuse a layer whose time axis grows with the batch, or whose batch axis grows with the sequence: the
    symbolic axes asked for are not the layer's (typically a time-major layer exported with the defaults)."""
    time, batch = op.time_axis, 1 - op.time_axis
    if x.second_shape and x.second_shape[time] != x.shape[time]:
        swapped = "batch"
    elif x.third_shape and x.third_shape[batch] != x.shape[batch]:
        swapped = "sequence"
    else:
        return
    layout = "(batch, sequence, features)" if time else "(sequence, batch, features)"
    grows = "sequence" if swapped == "batch" else "batch"
    raise ExportError(
        f"export_onnx: {op.label()} reads an input of shape {x.shape} as {layout}, but its {grows} axis is what "
        f"grows with dynamic_{swapped}; name each input's axes: for this layer's input, "
        f"dynamic_batch=[{batch}], dynamic_sequence=[{time}] (one entry per input, None where an input has none)"
    )


def _in_onnx_gate_order(w: _Writer, value: str, kind: str, size: int) -> str:
    """The rows of a stacked weight or bias (gates * size, ...) reordered from PyTorch's gates to ONNX's."""
    order = _ONNX_GATE_ORDER[kind]
    if list(order) == sorted(order):
        return value
    rows = np.concatenate([np.arange(g * size, (g + 1) * size) for g in order])
    return w.node("Gather", [value, w.int64s(rows)], axis=0)


def _onnx_operator(w: _Writer, op, x: str, w_ih: str, w_hh: str, biases, states: list[str]) -> str:
    """ONNX's RNN, GRU or LSTM node (one direction), on the time-major input; returns the packed output."""
    size, first = op.hidden_size, w.int64s([0])

    def one_direction(value: str) -> str:  # ONNX's leading axis of directions
        return w.node("Unsqueeze", [value, first])

    inputs = [
        x if op.time_axis == 0 else w.node("Transpose", [x], perm=[1, 0, 2]),  # (T, N, I)
        one_direction(_in_onnx_gate_order(w, w_ih, op.kind, size)),
        one_direction(_in_onnx_gate_order(w, w_hh, op.kind, size)),
    ]
    if biases is not None:
        both = [_in_onnx_gate_order(w, b, op.kind, size) for b in biases]
        inputs.append(one_direction(w.node("Concat", both, axis=0)))
    else:
        inputs.append("")
    if states:
        inputs.append("")  # sequence_lens: every sequence is whole
        inputs += [one_direction(s) for s in states]
    attributes = {"hidden_size": size, "direction": "reverse" if op.reverse else "forward"}
    if op.kind == "GRU":
        attributes["linear_before_reset"] = 1  # PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    outputs = w.node_outputs(op.kind, inputs, 1 + op.finals, **attributes)
    per_step = w.node("Squeeze", [outputs[0], w.int64s([1])])  # (T, 1, N, H) -> (T, N, H)
    packed = w.node("Concat", [*outputs[1:], per_step], axis=0)  # the finals are (1, N, H)
    return packed if op.time_axis == 0 else w.node("Transpose", [packed], perm=[1, 0, 2])


def _scan(w: _Writer, op, dtype: np.dtype, x: str, w_ih: str, w_hh: str, biases, states: list[str]) -> str:
    """A Scan over the time axis whose body is the engine's step, after the input's part of every gate is
    computed for all steps in one MatMul (as the engine does); returns the packed output. The loop runs over
    the first axis, forwards (onnx's reference evaluator scans no other way): a batch-first input is transposed,
    and the reverse direction reads its steps and writes its outputs in reversed order."""
    size = op.hidden_size
    if op.time_axis == 1:
        x = w.node("Transpose", [x], perm=[1, 0, 2])  # (T, N, I)
    xw = w.node("MatMul", [x, w.node("Transpose", [w_ih], perm=[1, 0])])
    if biases is not None:
        xw = w.node("Add", [xw, biases[0]])
    if not states:  # zeros of (N, H), N the batch at run time
        batch = w.node("Slice", [w.node("Shape", [x]), w.int64s([1]), w.int64s([2])])
        shape = w.node("Concat", [batch, w.int64s([size])], axis=0)
        zero = w.numpy_helper.from_array(np.zeros(1, dtype))
        states = [w.node("ConstantOfShape", [shape], value=zero)] * op.finals
    if op.reverse:
        xw = _reversed_steps(w, xw)
    hidden_weight = w.node("Transpose", [w_hh], perm=[1, 0])
    body = _step_graph(
        w, op, dtype, hidden_weight, None if biases is None else biases[1], ELEMENT_TYPES[dtype]
    )
    outputs = w.node_outputs("Scan", [*states, xw], op.finals + 1, body=body, num_scan_inputs=1)
    per_step = _reversed_steps(w, outputs[-1]) if op.reverse else outputs[-1]
    finals = [w.node("Unsqueeze", [f, w.int64s([0])]) for f in outputs[:-1]]
    packed = w.node("Concat", [*finals, per_step], axis=0)
    return packed if op.time_axis == 0 else w.node("Transpose", [packed], perm=[1, 0, 2])


def _reversed_steps(w: _Writer, value: str) -> str:
    """``value`` with its first (time) axis reversed: a Slice from the last step back, by steps of -1."""
    ends = w.int64s([INT64_MIN])
    return w.node("Slice", [value, w.int64s([INT64_MAX]), ends, w.int64s([0]), w.int64s([-1])])


def _step_graph(w: _Writer, op, dtype: np.dtype, hidden_weight: str, hidden_bias: str | None, element: int):
    """The Scan body: one step of the layer as the engine computes it (``nn.recurrent_steps``),
    from the previous state(s) and this step's input part of the gates (N, gates * H)."""
    size, kind = op.hidden_size, op.kind
    outer, w.nodes = w.nodes, []
    previous = [w.fresh(f"{name}_previous") for name in ("h", "c")[: op.finals]]
    gates_in = w.fresh("input_gates")

    def columns(value: str, start: int, stop: int) -> str:
        return w.node("Slice", [value, w.int64s([start * size]), w.int64s([stop * size]), w.int64s([1])])

    hw = w.node("MatMul", [previous[0], hidden_weight])
    if hidden_bias is not None:
        hw = w.node("Add", [hw, hidden_bias])
    if kind == "RNN":
        activation = "Relu" if op.nonlinearity == "relu" else "Tanh"
        new = [w.node(activation, [w.node("Add", [gates_in, hw])])]
    elif kind == "LSTM":
        gates = w.node("Add", [gates_in, hw])
        squashed = w.node("Sigmoid", [gates])
        i, f, o = columns(squashed, 0, 1), columns(squashed, 1, 2), columns(squashed, 3, 4)
        g = w.node("Tanh", [columns(gates, 2, 3)])
        c = w.node("Add", [w.node("Mul", [f, previous[1]]), w.node("Mul", [i, g])])
        new = [w.node("Mul", [o, w.node("Tanh", [c])]), c]
    else:  # GRU
        rz = w.node("Sigmoid", [w.node("Add", [columns(gates_in, 0, 2), columns(hw, 0, 2)])])
        reset_part = w.node("Mul", [columns(rz, 0, 1), columns(hw, 2, 3)])
        candidate = w.node("Tanh", [w.node("Add", [columns(gates_in, 2, 3), reset_part])])
        z = columns(rz, 1, 2)
        kept = w.node("Mul", [w.node("Sub", [w.scalar(1, dtype), z]), candidate])
        new = [w.node("Add", [kept, w.node("Mul", [z, previous[0]])])]
    output = w.node("Identity", [new[0]])
    body_nodes, w.nodes = w.nodes, outer
    helper, gates = w.helper, op.hidden_size * {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    inputs = [helper.make_tensor_value_info(name, element, [None, size]) for name in previous]
    inputs.append(helper.make_tensor_value_info(gates_in, element, [None, gates]))
    outputs = [helper.make_tensor_value_info(name, element, [None, size]) for name in (*new, output)]
    return helper.make_graph(body_nodes, w.fresh(f"{kind.lower()}_step"), inputs, outputs)
