"""ONNX export: write the graph a traced forward recorded (``trace.py``) as standard ONNX operators.

A model here is plain forward code that the engine records, which is what an ONNX graph describes:
nodes in topological order, parameters as initializers (under their own names), constants as
initializers named ``const``, inputs with a symbolic ``batch`` dimension (and ``sequence`` if asked). A ``Reshape`` to a traced
shape such as ``(32, 8, 8)`` is written with ``-1`` on its one batch-dependent axis.

Every op maps to standard operators that compute the same thing in the same float type (float32
or float64), one small exporter per op in ``_EXPORTERS``. Where ONNX lacks a primitive the engine
uses (``log1p`` inside softplus and the binary cross-entropy), the export writes an identity that
holds exactly in real arithmetic and is accurate to a few units in the last place (Goldberg's
``log1p(t) = t * log(u) / (u - 1)``, ``u = 1 + t``), never a series or an approximation; where
onnxruntime lacks a float64 kernel (Conv), the engine's own decomposition. Recurrent layers are traced
whole, one op per direction of each layer, and written as ONNX's RNN/GRU/LSTM or a Scan loop
(``recurrent.py``), so the batch and sequence axes stay symbolic. An op with no faithful
mapping is an ``ExportError`` naming it. The ``onnx`` package is imported only when
``export_onnx`` is called.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ops
from ..files import write_atomically
from ..nn.recurrent_export import RecurrentLayer, recording_whole_layers
from ..ops import elementwise
from ..tensor import Tensor
from .onnx_types import ELEMENT_TYPES, INT64_MAX, INT64_MIN
from .recurrent import recurrent_layer
from .trace import ExportError, TracedGraph, ValueInfo, arguments, trace_forward, value_of

DEFAULT_OPSET = 18  # the first opset whose reductions all take their axes as an input


def export_onnx(
    model_or_fn: Callable,
    example_inputs,
    path: str | os.PathLike,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool | Sequence[int | None] = True,
    opset: int | None = None,
    overwrite: bool = False,
    dynamic_sequence: bool | Sequence[int | None] = False,
):
    """Trace ``model_or_fn(*example_inputs)`` and write it to ``path`` as an ONNX model; return the
    ``onnx.ModelProto``.

    ``example_inputs``: one array or Tensor, or a tuple/list of them (one per input). With
    ``dynamic_batch`` the first axis of every input is the symbolic dimension ``batch``; with
    ``dynamic_sequence`` the second axis of every input is the symbolic dimension ``sequence`` (token ids
    (batch, sequence); positions 0..T-1 and causal masks are then built from the length at run time). Either
    may instead give one axis (or None) per input: a time-major recurrent model with an initial state, inputs
    x (T, N, I) and h0 (layers, N, H), takes ``dynamic_batch=[1, 1], dynamic_sequence=[0, None]``. Recurrent
    layers (RNN, GRU, LSTM) are written whole, as ONNX's own operators or a Scan loop. The file
    is written atomically and an existing one is replaced only with ``overwrite=True``. ``opset``
    defaults to 18, the first whose reductions all take their axes as an input. Needs the ``onnx`` extra
    (``pip install "autograd-nn[onnx]"``).
    """
    onnx = _import_onnx()
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    opset = _check_opset(opset, onnx.defs.onnx_opset_version())
    if not callable(model_or_fn):
        raise TypeError(f"export_onnx: the model must be callable, got {type(model_or_fn).__name__}")
    arrays = _example_arrays(example_inputs)
    input_names = _check_names(input_names, len(arrays), "input_names", "input")
    with recording_whole_layers():  # a recurrent layer as one op per direction, not one per time step
        graph = trace_forward(model_or_fn, arrays, dynamic_batch, dynamic_sequence)
    output_names = _check_names(output_names, len(graph.first.outputs), "output_names", "output")
    if set(input_names) & set(output_names):
        raise ValueError(
            f"export_onnx: a name is both an input and an output: {set(input_names) & set(output_names)}"
        )
    model = _Writer(onnx, opset).write(graph, input_names, output_names, _model_name(model_or_fn))
    onnx.checker.check_model(model, full_check=True)
    write_atomically(path, model.SerializeToString(), overwrite=overwrite)
    return model


# ---------------------------------------------------------------- checking the arguments


def _import_onnx():
    try:
        import onnx
        import onnx.checker
        import onnx.defs
    except ImportError:
        raise ImportError(
            'export_onnx needs the onnx package: pip install "autograd-nn[onnx]" (or pip install onnx)'
        ) from None
    return onnx


def _check_opset(opset, highest: int) -> int:
    if opset is None:
        return DEFAULT_OPSET
    if (
        isinstance(opset, bool)
        or not isinstance(opset, (int, np.integer))
        or not DEFAULT_OPSET <= opset <= highest
    ):
        raise ValueError(
            f"export_onnx: opset must be an integer from {DEFAULT_OPSET} to {highest} "
            f"(the newest this onnx package knows), got {opset!r}"
        )
    return int(opset)


def _example_arrays(example_inputs) -> list[np.ndarray]:
    """The example inputs as float arrays, one per graph input (a tuple or list means several)."""
    several = isinstance(example_inputs, (tuple, list)) and all(
        isinstance(a, (Tensor, np.ndarray)) for a in example_inputs
    )
    items = list(example_inputs) if several else [example_inputs]
    if not items:
        raise ValueError("export_onnx: example_inputs is empty; give one example array per input")
    arrays = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray) and item.dtype.kind in "iu":  # token ids stay integers: int64 inputs
            arrays.append(item.astype(np.int64, copy=False))
            continue
        try:
            arrays.append(Tensor(item).data)
        except TypeError as error:
            raise TypeError(f"export_onnx: example input {i}: {error}") from None
    return arrays


def _check_names(names, count: int, what: str, default: str) -> list[str]:
    if names is None:
        return [default] if count == 1 else [f"{default}_{i}" for i in range(count)]
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != count or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"export_onnx: {what} must be {count} non-empty string(s), got {names!r}")
    if len(set(names)) != count:
        raise ValueError(f"export_onnx: {what} has a repeated name: {names!r}")
    return names


def _model_name(model_or_fn) -> str:
    name = getattr(model_or_fn, "__qualname__", None) or type(model_or_fn).__name__
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


# ---------------------------------------------------------------- writing ONNX


class _Writer:
    """Builds the ONNX graph: names, initializers and nodes, one op exporter per engine op."""

    def __init__(self, onnx, opset: int) -> None:
        self.onnx, self.helper, self.opset = onnx, onnx.helper, opset
        from onnx import numpy_helper

        self.numpy_helper = numpy_helper
        self.nodes: list = []
        self.initializers: list = []
        self.used: set[str] = set()
        self.counts: Counter = Counter()
        self.int_inputs: dict[int, str] = {}  # id(integer input array) -> its graph input's name
        self.sequence_source: tuple[str, int] = ("", 1)  # an input and its sequence axis (dynamic_sequence)
        self.scope: str | None = None  # the name_scope of the op being written, prefixed to node names
        self.op_start = 0  # how many nodes were written before the op being written

    # -- names
    def fresh(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.:/-]", "_", base) or "value"
        name, k = base, self.counts[base]
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.counts[base] = k
        self.used.add(name)
        return name

    # -- building blocks used by the op exporters
    def constant(self, array, base: str = "const") -> str:
        name = self.fresh(base)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def int64s(self, values) -> str:
        """An int64 initializer: axes, a shape, slice bounds or gather positions."""
        return self.constant(np.asarray(values, dtype=np.int64), "ints")

    def scalar(self, value, dtype: np.dtype) -> str:
        return self.constant(np.asarray(value, dtype=dtype), "const")

    def node(self, op_type: str, inputs: list[str], out: str | None = None, **attributes) -> str:
        out = out or self.fresh(op_type.lower())
        name = self.fresh(f"{self.scope}/{op_type}" if self.scope else op_type)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=name, **attributes))
        return out

    def node_outputs(self, op_type: str, inputs: list[str], count: int, **attributes) -> list[str]:
        """A node with ``count`` outputs (RNN's Y and Y_h, a Scan's final states and outputs); their names."""
        outs = [self.fresh(f"{op_type.lower()}_{k}") for k in range(count)]
        name = self.fresh(f"{self.scope}/{op_type}" if self.scope else op_type)
        self.nodes.append(self.helper.make_node(op_type, inputs, outs, name=name, **attributes))
        return outs

    def finish(self, value: str, out: str) -> None:
        """Give ``value`` the name ``out``: renames the output of the node this op's exporter wrote
        last (nothing can have read it yet), or copies an existing value with Identity."""
        if len(self.nodes) > self.op_start and self.nodes[-1].output[0] == value:
            self.nodes[-1].output[0] = out
        else:
            self.node("Identity", [value], out=out)

    def as_dtype(self, info: ValueInfo, dtype: np.dtype) -> str:
        """``info``'s value in ``dtype``, as NumPy's type promotion would convert it."""
        if info.dtype == dtype:
            return info.name
        if info.constant is not None:
            return self.constant(info.constant.astype(dtype))
        return self.node("Cast", [info.name], to=ELEMENT_TYPES[np.dtype(dtype)])

    # -- the whole graph
    def write(self, graph: TracedGraph, input_names: list[str], output_names: list[str], model_name: str):
        helper, infos, first = self.helper, graph.infos, graph.first
        for name in (*input_names, *output_names):
            self.used.add(name)
        for name, k in zip(input_names, graph.sequence_axes or (), strict=False):
            if k is not None:  # the first input with a sequence axis tells the length at run time
                self.sequence_source = (name, k)
                break
        graph_inputs = []
        for i, (tensor, name) in enumerate(zip(first.inputs, input_names, strict=True)):
            if isinstance(tensor, np.ndarray):  # integer ids: an int64 input that ops read as a parameter
                self.int_inputs[id(tensor)] = name
                graph_inputs.append(self._int_value_info(name, tensor, graph, i))
                continue
            info = infos.get(id(tensor))
            if info is None:
                raise ExportError(
                    f"export_onnx: input {i} ({name!r}) does not lead to any output: the forward ignores it or "
                    "leaves the recorded graph (through .data, NumPy or no_grad)"
                )
            info.name = name
            graph_inputs.append(self._value_info(name, info, graph, input_index=i))
        output_of = {}
        for i, (tensor, name) in enumerate(zip(first.outputs, output_names, strict=True)):
            value = value_of(tensor)
            if not isinstance(value, Tensor) and id(value) not in output_of:
                output_of[id(value)] = name  # the node writes straight into the graph output
            elif isinstance(value, Tensor) and id(value) not in {id(t) for t in first.inputs}:
                raise ExportError(
                    f"export_onnx: output {i} ({name!r}) does not depend on the inputs (a constant); "
                    "an exported graph computes its outputs from its inputs"
                )
        for value in first.order:
            info = infos[id(value)]
            if isinstance(value, Tensor):
                if info.constant is not None:
                    base = value.name or ("param" if value.requires_grad else "const")
                    info.name = self.constant(value.data, base)
                continue
            info.name = output_of.get(id(value)) or self.fresh(value.output_name or value.name)
            self.scope, self.op_start = value.scope, len(self.nodes)
            exporter = _EXPORTERS.get(type(value))
            if exporter is None:
                raise ExportError(
                    f"export_onnx: the op {value.label()!r} ({type(value).__name__}) has no ONNX mapping; "
                    "export supports: " + ", ".join(sorted({op.name for op in _EXPORTERS}))
                )
            exporter(
                self,
                _Node(value, graph.twins.get(id(value)), [infos[id(a)] for a in arguments(value)], info),
            )
        self.scope = None
        read = {name for node in self.nodes for name in node.input}
        for i, name in enumerate(input_names):
            if name in self.int_inputs.values() and name not in read:
                raise ExportError(
                    f"export_onnx: integer input {i} ({name!r}) does not lead to any output: only an embedding "
                    "that takes the very array given (not a copy, a slice or a reshape of it) reads it"
                )
        graph_outputs = []
        for tensor, name in zip(first.outputs, output_names, strict=True):
            info = infos[id(value_of(tensor))]
            if info.name != name:
                self.node("Identity", [info.name], out=name)
            graph_outputs.append(self._value_info(name, info, graph))
        onnx_graph = helper.make_graph(
            self.nodes, model_name, graph_inputs, graph_outputs, initializer=self.initializers
        )
        opsets = [helper.make_opsetid("", self.opset)]
        from .. import __version__

        return helper.make_model(
            onnx_graph,
            opset_imports=opsets,
            producer_name="autograd_nn",
            producer_version=__version__,
            ir_version=helper.find_min_ir_version_for(opsets),
        )

    def _int_value_info(self, name: str, array: np.ndarray, graph: TracedGraph, index: int):
        dims: list = list(array.shape)
        for k, role in _input_axes(graph, index):
            dims[k] = role
        return self.helper.make_tensor_value_info(name, self.onnx.TensorProto.INT64, dims)

    def _value_info(self, name: str, info: ValueInfo, graph: TracedGraph, input_index: int | None = None):
        """An input's or output's type: "batch" and "sequence" on the axes that are (for an input, those
        asked for; for an output, those whose lengths follow the inputs' in every trace), other
        batch- or sequence-dependent axes unnamed."""
        dims: list = list(info.shape)
        batch = _axis_length(graph.first, graph.batch_axes)
        length = _axis_length(graph.first, graph.sequence_axes)
        for k in info.dynamic:
            is_batch = bool(info.second_shape) and (info.shape[k], info.second_shape[k]) == (batch, batch + 1)
            is_sequence = k in info.sequence_axes and (info.shape[k], info.third_shape[k]) == (
                length,
                length + 1,
            )
            dims[k] = "batch" if is_batch else "sequence" if is_sequence else None
        if input_index is not None:
            dims = list(info.shape)
            for k, role in _input_axes(graph, input_index):
                dims[k] = role
        return self.helper.make_tensor_value_info(name, _element_type(info.dtype, name), dims)


def _input_axes(graph: TracedGraph, index: int) -> list[tuple[int, str]]:
    """The symbolic axes of graph input ``index``: (axis, "batch" or "sequence")."""
    named = []
    for axes, role in ((graph.batch_axes, "batch"), (graph.sequence_axes, "sequence")):
        if axes is not None and axes[index] is not None:
            named.append((axes[index], role))
    return named


def _axis_length(trace, axes: list | None) -> int | None:
    """The traced length of the first input's axis among ``axes`` (the batch or the sequence)."""
    for tensor, k in zip(trace.inputs, axes or (), strict=False):
        if k is not None:
            return (tensor.data if isinstance(tensor, Tensor) else tensor).shape[k]
    return None


def _element_type(dtype: np.dtype, where: str) -> int:
    element = ELEMENT_TYPES.get(np.dtype(dtype))
    if element is None:
        raise ExportError(f"export_onnx: {where} has dtype {dtype}; ONNX export supports float32 and float64")
    return element


@dataclass
class _Node:
    """One recorded op as the exporters see it: the op, its twin from the second trace, its values."""

    op: ops.Op
    twin: ops.Op | None
    inputs: list[ValueInfo]
    out: ValueInfo

    @property
    def x(self) -> str:
        return self.inputs[0].name


# ---------------------------------------------------------------- one exporter per op


def _binary(onnx_type: str):
    def export(w: _Writer, n: _Node) -> None:
        a, b = (w.as_dtype(v, n.out.dtype) for v in n.inputs)
        w.node(onnx_type, [a, b], out=n.out.name)

    return export


def _unary(onnx_type: str):
    def export(w: _Writer, n: _Node) -> None:
        w.node(onnx_type, [n.x], out=n.out.name)

    return export


def _pow(w: _Writer, n: _Node) -> None:
    w.node("Pow", [n.x, w.scalar(n.op.exponent, n.out.dtype)], out=n.out.name)


def _cast(w: _Writer, n: _Node) -> None:
    w.node("Cast", [n.x], out=n.out.name, to=ELEMENT_TYPES[np.dtype(n.op.to)])


def _reduce(onnx_type: str):
    def export(w: _Writer, n: _Node) -> None:
        if not n.op.axes:  # NumPy reduces over no axes: the input itself (ONNX would reduce them all)
            w.finish(n.x, n.out.name)
            return
        w.node(onnx_type, [n.x, w.int64s(n.op.axes)], out=n.out.name, keepdims=int(bool(n.op.keepdims)))

    return export


def _logsumexp(w: _Writer, n: _Node) -> None:
    """As the engine computes it: shift by the maximum (0 where that is not finite), log-sum-exp, unshift."""
    if not n.op.axes:
        w.finish(n.x, n.out.name)
        return
    axes = w.int64s(n.op.axes)
    peak = w.node("ReduceMax", [n.x, axes], keepdims=1)
    infinite = w.node("Or", [w.node("IsInf", [peak]), w.node("IsNaN", [peak])])
    shift = w.node("Where", [infinite, w.scalar(0, n.out.dtype), peak])
    total = w.node("ReduceSum", [w.node("Exp", [w.node("Sub", [n.x, shift])]), axes], keepdims=1)
    result = w.node("Add", [w.node("Log", [total]), shift])
    if n.op.keepdims:
        w.finish(result, n.out.name)
    else:
        w.node("Squeeze", [result, axes], out=n.out.name)


def _softmax(onnx_type: str):
    def export(w: _Writer, n: _Node) -> None:
        w.node(onnx_type, [n.x], out=n.out.name, axis=int(n.op.axis))

    return export


def log1p(w: _Writer, t: str, dtype: np.dtype) -> str:
    """log(1 + t) for t >= 0 without losing t's digits when t is tiny (ONNX has no Log1p).

    Goldberg (1991), Theorem 4: with u = 1 + t rounded, t * log(u) / (u - 1) has a relative error
    of at most 5 ulp; where u rounds to 1, log1p(t) = t to within an ulp.
    """
    one = w.scalar(1, dtype)
    u = w.node("Add", [t, one])
    step = w.node("Sub", [u, one])
    rounded_to_one = w.node("Equal", [step, w.scalar(0, dtype)])
    divisor = w.node("Where", [rounded_to_one, one, step])  # no 0/0, even in the branch not taken
    ratio = w.node("Mul", [t, w.node("Div", [w.node("Log", [u]), divisor])])
    return w.node("Where", [rounded_to_one, t, ratio])


def softplus(w: _Writer, z: str, dtype: np.dtype, out: str | None = None) -> str:
    """log(1 + e^z) as the engine computes it: log1p(e^-|z|) + max(z, 0)."""
    small = w.node("Exp", [w.node("Neg", [w.node("Abs", [z])])])
    return w.node("Add", [log1p(w, small, dtype), w.node("Relu", [z])], out=out)


def _element_count(w: _Writer, info: ValueInfo, dtype: np.dtype) -> str:
    """The number of elements of a value, as a float: a constant, or computed when it grows with the batch."""
    if not info.dynamic:
        return w.scalar(int(np.prod(info.shape)), dtype)
    return w.node("Cast", [w.node("Size", [info.name])], to=ELEMENT_TYPES[np.dtype(dtype)])


def _bce_with_logits(w: _Writer, n: _Node) -> None:
    """As the engine computes it: (1 - y) max(z, 0) + y max(-z, 0) + log1p(e^-|z|), three non-negative
    terms, an infinite logit whose term has weight 0 counting 0; then summed, or averaged (summing
    the shares when the total overflows)."""
    dtype, reduction = n.out.dtype, n.op.reduction
    z_info, y_info = n.inputs
    z, y = w.as_dtype(z_info, dtype), w.as_dtype(y_info, dtype)
    zero = w.scalar(0, dtype)
    minus_z = w.node("Neg", [z])
    positive, negative = w.node("Max", [z, zero]), w.node("Max", [minus_z, zero])
    one_minus_y = w.node("Sub", [w.scalar(1, dtype), y])
    loss = w.node("Add", [w.node("Mul", [one_minus_y, positive]), w.node("Mul", [y, negative])])
    weight = w.node("Where", [w.node("GreaterOrEqual", [z, zero]), one_minus_y, y])
    unweighted_infinity = w.node("And", [w.node("Equal", [weight, zero]), w.node("IsInf", [z])])
    loss = w.node("Where", [unweighted_infinity, zero, loss])
    absolute = w.node("Add", [positive, negative])
    loss = w.node("Add", [loss, log1p(w, w.node("Exp", [w.node("Neg", [absolute])]), dtype)])
    if reduction == "none":
        w.finish(loss, n.out.name)
        return
    total = w.node("ReduceSum", [loss], keepdims=0)
    if reduction == "sum":
        w.finish(total, n.out.name)
        return
    shape = np.broadcast_shapes(z_info.shape, y_info.shape)
    dynamic = tuple(set(z_info.dynamic) | set(y_info.dynamic))
    count = _element_count(w, ValueInfo(shape, dtype, dynamic, name=loss), dtype)
    shares = w.node("ReduceSum", [w.node("Div", [loss, count])], keepdims=0)
    overflowed = w.node("IsInf", [total])
    w.node("Where", [overflowed, shares, w.node("Div", [total, count])], out=n.out.name)


def _reshape(w: _Writer, n: _Node) -> None:
    """The traced output shape, with 0 (copy the input's length) on each batch- or sequence-dependent axis
    the input has at the same place with the same lengths, and -1 on at most one other; the rest as traced."""
    shape, source = list(n.out.shape), n.inputs[0]
    free = []
    for k in n.out.dynamic:
        same = (
            k in source.dynamic
            and source.shape[k] == n.out.shape[k]
            and source.second_shape[k : k + 1] == n.out.second_shape[k : k + 1]
            and source.third_shape[k : k + 1] == n.out.third_shape[k : k + 1]
        )
        if same:
            shape[k] = 0
        else:
            free.append(k)
    copies = len(n.out.dynamic) - len(free)
    if len(free) > 1 or (copies and 0 in n.out.shape):
        raise ExportError(
            f"export_onnx: {n.op.label()} gives shape {n.out.shape}, in which {len(free)} axes grow with the "
            "batch or sequence without copying an input axis; a reshape may leave only one batch-dependent axis "
            "that is not an input axis kept in place (or pass dynamic_batch=False)"
        )
    for k in free:
        shape[k] = -1
    zero = 0 in shape and -1 not in shape and not n.out.dynamic
    w.node("Reshape", [n.x, w.int64s(shape)], out=n.out.name, allowzero=int(zero))


def _transpose(w: _Writer, n: _Node) -> None:
    ndim = len(n.inputs[0].shape)
    axes = n.op.axes
    perm = list(reversed(range(ndim))) if axes is None else [int(a) % ndim for a in axes]
    w.node("Transpose", [n.x], out=n.out.name, perm=perm)


def _broadcast_to(w: _Writer, n: _Node) -> None:
    source = n.inputs[0]
    shape = list(n.out.shape)
    offset = len(shape) - len(source.shape)
    for k in n.out.dynamic:
        if k - offset < 0 or (k - offset) not in source.dynamic:
            raise ExportError(
                f"export_onnx: {n.op.label()} stretches a fixed axis to the batch size; it has no mapping "
                "with dynamic_batch (pass dynamic_batch=False)"
            )
        shape[k] = 1  # Expand keeps the input's own (batch) length there
    w.node("Expand", [n.x, w.int64s(shape)], out=n.out.name)


def _index_parts(index) -> tuple:
    return index if isinstance(index, tuple) else (index,)


def _is_int(p) -> bool:
    return isinstance(p, (int, np.integer)) and not isinstance(p, bool)


def _getitem(w: _Writer, n: _Node) -> None:
    """Basic indexing as Slice, Squeeze and Unsqueeze; one integer array as Gather; any other index as a
    Gather of the flattened input at the positions it selects (inputs of fixed shape only)."""
    index, source = n.op.index, n.inputs[0]  # the same in both traces (see _changed_parameter)
    parts = _index_parts(index)
    arrays = [p for p in parts if isinstance(p, np.ndarray)]
    if not arrays:
        _basic_index(w, n, parts)
    elif len(arrays) == 1 and all(isinstance(p, (slice, np.ndarray)) or p is Ellipsis for p in parts):
        _basic_index(w, n, parts)  # the array's axis is left whole here; the Gather below picks along it
    elif source.dynamic:
        raise ExportError(
            f"export_onnx: {n.op.label()} mixes several index arrays on a batch-dependent tensor; it has no "
            "mapping with dynamic_batch (pass dynamic_batch=False)"
        )
    else:
        positions = np.arange(int(np.prod(source.shape)), dtype=np.int64).reshape(source.shape)[index]
        flat = w.node("Reshape", [n.x, w.int64s([-1])])
        w.node("Gather", [flat, w.int64s(positions)], out=n.out.name, axis=0)


def _basic_index(w: _Writer, n: _Node, parts: tuple) -> None:
    ndim = len(n.inputs[0].shape)
    consumed = sum(1 for p in parts if p is not None and p is not Ellipsis)
    expanded: list = []
    for p in parts:
        expanded.extend([slice(None)] * (ndim - consumed) if p is Ellipsis else [p])
    starts, ends, axes, steps, squeezed, inserted = [], [], [], [], [], []
    axis = position = 0  # the input axis the next part indexes, and the output axis it becomes
    gather = None
    for p in expanded:
        if p is None:
            inserted.append(position)
            position += 1
            continue
        if isinstance(p, slice) and p != slice(None):
            step = 1 if p.step is None else int(p.step)
            starts.append((0 if step > 0 else INT64_MAX) if p.start is None else int(p.start))
            ends.append((INT64_MAX if step > 0 else INT64_MIN) if p.stop is None else int(p.stop))
            axes.append(axis)
            steps.append(step)
        elif _is_int(p):
            starts.append(int(p))
            ends.append(INT64_MAX if int(p) == -1 else int(p) + 1)
            axes.append(axis)
            steps.append(1)
            squeezed.append(axis)
        elif isinstance(p, np.ndarray):
            gather = (axis, p)
        if not _is_int(p):
            position += 1
        axis += 1
    value = n.x
    if axes:
        value = w.node("Slice", [value, w.int64s(starts), w.int64s(ends), w.int64s(axes), w.int64s(steps)])
    if squeezed:
        value = w.node("Squeeze", [value, w.int64s(squeezed)])
    if inserted:
        value = w.node("Unsqueeze", [value, w.int64s(inserted)])
    if gather is not None:
        value = w.node("Gather", [value, w.int64s(gather[1].astype(np.int64))], axis=gather[0])
    w.finish(value, n.out.name)


def _scatter_add(w: _Writer, n: _Node) -> None:
    """Zeros with the update added at the positions the index selects (repeats accumulate), on the flat array."""
    target = tuple(n.op.target_shape)
    if n.out.dynamic or n.inputs[0].dynamic:
        raise ExportError(
            f"export_onnx: {n.op.label()} on a batch-dependent tensor has no mapping (pass dynamic_batch=False)"
        )
    positions = np.arange(int(np.prod(target)), dtype=np.int64).reshape(target)[n.op.index]
    updates = w.node("Expand", [n.x, w.int64s(positions.shape)])
    flat_updates = w.node("Reshape", [updates, w.int64s([-1])])
    zeros = w.constant(np.zeros(int(np.prod(target)), dtype=n.out.dtype), "zeros")
    summed = w.node("ScatterND", [zeros, w.int64s(positions.reshape(-1, 1)), flat_updates], reduction="add")
    w.node("Reshape", [summed, w.int64s(list(target))], out=n.out.name, allowzero=1)


def _softplus(w: _Writer, n: _Node) -> None:
    softplus(w, n.x, n.out.dtype, out=n.out.name)


def _leaky_relu(w: _Writer, n: _Node) -> None:
    """x where x > 0, else x * slope, the slope in x's float type (LeakyRelu's alpha is always a float32)."""
    dtype = n.out.dtype
    positive = w.node("Greater", [n.x, w.scalar(0, dtype)])
    scaled = w.node("Mul", [n.x, w.scalar(n.op.slope, dtype)])
    w.node("Where", [positive, n.x, scaled], out=n.out.name)


def _dropout(w: _Writer, n: _Node) -> None:
    raise ExportError(
        f"export_onnx: {n.op.label()} in training mode multiplies by a random mask, which has no faithful "
        "mapping; export in eval mode (model.eval(), or dropout(..., training=False)), where dropout is left out"
    )


def _variance(w: _Writer, n: _Node) -> str:
    """sum((x - mean(x))**2) / (count - ddof) over the axes, as NumPy's var computes it; returns its name."""
    dtype, axes, source = n.out.dtype, list(n.op.axes), n.inputs[0]
    if not axes:  # over no axes: (x - x)**2 / (1 - ddof)
        deviation = w.node("Sub", [n.x, n.x])
        return w.node("Div", [w.node("Mul", [deviation, deviation]), w.scalar(1 - n.op.ddof, dtype)])
    axes_name = w.int64s(axes)
    mean = w.node("ReduceMean", [n.x, axes_name], keepdims=1)
    deviation = w.node("Sub", [n.x, mean])
    squares = w.node("Mul", [deviation, deviation])
    total = w.node("ReduceSum", [squares, axes_name], keepdims=int(bool(n.op.keepdims)))
    if any(a in source.dynamic for a in axes):  # the count grows with the batch: computed at run time
        count = w.node("Div", [w.node("Size", [n.x]), w.node("Size", [mean])])
        count = w.node("Cast", [count], to=ELEMENT_TYPES[np.dtype(dtype)])
        divisor = w.node("Sub", [count, w.scalar(n.op.ddof, dtype)])
    else:
        divisor = w.scalar(int(np.prod([source.shape[a] for a in axes])) - n.op.ddof, dtype)
    return w.node("Div", [total, divisor])


def _var(w: _Writer, n: _Node) -> None:
    w.finish(_variance(w, n), n.out.name)


def _std(w: _Writer, n: _Node) -> None:
    w.node("Sqrt", [_variance(w, n)], out=n.out.name)


def _where(w: _Writer, n: _Node) -> None:
    a, b = (w.as_dtype(v, n.out.dtype) for v in n.inputs)
    condition = w.constant(np.asarray(n.op.condition, dtype=bool), "condition")
    w.node("Where", [condition, a, b], out=n.out.name)


def _clip(w: _Writer, n: _Node) -> None:
    """np.clip as min(max(x, lo), hi): bounds may be arrays that broadcast (ONNX's Clip takes scalars only)."""
    dtype = n.out.dtype
    value = w.as_dtype(n.inputs[0], dtype)
    if n.op.lo is not None:
        value = w.node("Max", [value, w.constant(np.asarray(n.op.lo, dtype=dtype), "lo")])
    if n.op.hi is not None:
        value = w.node("Min", [value, w.constant(np.asarray(n.op.hi, dtype=dtype), "hi")])
    w.finish(value, n.out.name)


def _concatenate(w: _Writer, n: _Node) -> None:
    values = [w.as_dtype(v, n.out.dtype) for v in n.inputs]
    w.node("Concat", values, out=n.out.name, axis=int(n.op.position))


def _stack(w: _Writer, n: _Node) -> None:
    axis = w.int64s([n.op.position])
    values = [w.node("Unsqueeze", [w.as_dtype(v, n.out.dtype), axis]) for v in n.inputs]
    w.node("Concat", values, out=n.out.name, axis=int(n.op.position))


def _reduce_loss(w: _Writer, loss: str, reduction: str, out: str) -> None:
    """The losses' reduction: every element's loss, their mean, or their sum."""
    if reduction == "none":
        w.finish(loss, out)
    else:
        w.node("ReduceMean" if reduction == "mean" else "ReduceSum", [loss], out=out, keepdims=0)


def _mse_loss(w: _Writer, n: _Node) -> None:
    pred, target = (w.as_dtype(v, n.out.dtype) for v in n.inputs)
    difference = w.node("Sub", [pred, target])
    _reduce_loss(w, w.node("Mul", [difference, difference]), n.op.reduction, n.out.name)


def _nll_loss(w: _Writer, n: _Node) -> None:
    """-log_probs[..., label]: a Gather of the flattened log-probabilities at the labels' positions. With
    label smoothing e, -(1 - e) times that minus e/K times each row's sum; ignored rows weigh 0 and "mean"
    divides by the count of the others (the labels are constants: the weights and count are too)."""
    source, op = n.inputs[0], n.op
    if source.dynamic:
        raise ExportError(f"export_onnx: {op.label()} with dynamic_batch (pass dynamic_batch=False)")
    positions = np.arange(int(np.prod(source.shape)), dtype=np.int64).reshape(source.shape)
    positions = np.take_along_axis(positions, op.picks[..., None], axis=-1)[..., 0]  # (the forward's picks)
    loss = w.node("Gather", [w.node("Reshape", [n.x, w.int64s([-1])]), w.int64s(positions)], axis=0)
    e, dtype = op.smoothing, n.out.dtype
    if e:  # (1 - e) log_probs[..., label] + e/K sum_k log_probs[..., k]
        row_sums = w.node("ReduceSum", [n.x, w.int64s([-1])], keepdims=0)
        uniform = w.node("Mul", [row_sums, w.scalar(e / source.shape[-1], dtype)])
        loss = w.node("Add", [w.node("Mul", [loss, w.scalar(1 - e, dtype)]), uniform])
    loss = w.node("Neg", [loss])
    if op.weights is None:
        _reduce_loss(w, loss, op.reduction, n.out.name)
        return
    loss = w.node("Mul", [loss, w.constant(op.weights.astype(dtype), "kept_rows")])
    if op.reduction != "mean":
        _reduce_loss(w, loss, op.reduction, n.out.name)
        return
    total = w.node("ReduceSum", [loss], keepdims=0)
    w.node("Div", [total, w.scalar(op.weights.sum(), dtype)], out=n.out.name)


def _soft_nll_loss(w: _Writer, n: _Node) -> None:
    log_probs, target = (w.as_dtype(v, n.out.dtype) for v in n.inputs)
    total = w.node("ReduceSum", [w.node("Mul", [target, log_probs]), w.int64s([-1])], keepdims=0)
    _reduce_loss(w, w.node("Neg", [total]), n.op.reduction, n.out.name)


def _conv2d(w: _Writer, n: _Node) -> None:
    """Conv in float32; in float64, where onnxruntime has no Conv kernel, the engine's own im2col: the
    windows of the zero-padded input side by side, times the weight matrix (exact, one MatMul)."""
    (ph, pw), (sh, sw) = n.op.padding, n.op.stride
    weight = n.inputs[1]
    dtype = n.out.dtype
    values = [w.as_dtype(v, dtype) for v in n.inputs]
    if dtype == np.float32:
        w.node(
            "Conv",
            values,
            out=n.out.name,
            pads=[ph, pw, ph, pw],
            strides=[sh, sw],
            kernel_shape=list(weight.shape[2:]),
        )
        return
    o, c, kh, kw = weight.shape
    ho, wo = n.out.shape[2], n.out.shape[3]
    padded = values[0]
    if (ph, pw) != (0, 0):
        padded = w.node("Pad", [padded, w.int64s([0, 0, ph, pw, 0, 0, ph, pw])], mode="constant")
    windows = []
    for a in range(kh):
        for b in range(kw):
            rows = [a, b]
            ends = [a + sh * (ho - 1) + 1, b + sw * (wo - 1) + 1]
            piece = w.node(
                "Slice", [padded, w.int64s(rows), w.int64s(ends), w.int64s([2, 3]), w.int64s([sh, sw])]
            )
            windows.append(w.node("Unsqueeze", [piece, w.int64s([4])]))  # (N, C, Ho, Wo, 1)
    stacked = w.node("Concat", windows, axis=4) if len(windows) > 1 else windows[0]  # (N, C, Ho, Wo, kh*kw)
    rows = w.node("Transpose", [stacked], perm=[0, 2, 3, 1, 4])  # (N, Ho, Wo, C, kh*kw)
    columns = w.node("Reshape", [rows, w.int64s([-1, ho, wo, c * kh * kw])])
    matrix = w.node("Transpose", [w.node("Reshape", [values[1], w.int64s([o, c * kh * kw])])], perm=[1, 0])
    result = w.node("Transpose", [w.node("MatMul", [columns, matrix])], perm=[0, 3, 1, 2])  # (N, O, Ho, Wo)
    if len(values) == 3:
        result = w.node("Add", [result, w.node("Reshape", [values[2], w.int64s([o, 1, 1])])])
    w.finish(result, n.out.name)


def _max_pool2d(w: _Writer, n: _Node) -> None:
    w.node("MaxPool", [n.x], out=n.out.name, kernel_shape=list(n.op.kernel), strides=list(n.op.stride))


# ---------------------------------------------------------------- sequence blocks


def _embedding(w: _Writer, n: _Node) -> None:
    """Gather of the weight's rows at the token ids: an int64 graph input, or constant ids (positions)."""
    ids = w.int_inputs.get(id(n.op.indices))
    if ids is None and n.out.sequence_axes:  # positions 0..T-1, T the sequence length at run time
        ids = w.node("Range", [w.int64s(0), _sequence_length(w), w.int64s(1)])
    elif ids is None:
        ids = w.int64s(n.op.indices)
    w.node("Gather", [n.x, ids], out=n.out.name, axis=0)


def _sequence_length(w: _Writer) -> str:
    """The sequence length at run time, an int64 scalar: the sequence axis of the first input that has one."""
    name, axis = w.sequence_source
    return w.node("Gather", [w.node("Shape", [name]), w.int64s(axis)], axis=0)


def _horner(w: _Writer, z: str, top: float, coefficients, dtype: np.dtype) -> str:
    """(...((top z + c0) z + c1) z ...) + c_last: a polynomial in z, as in the engine's erf."""
    value = w.node("Mul", [w.scalar(top, dtype), z])
    for c in coefficients[:-1]:
        value = w.node("Mul", [w.node("Add", [value, w.scalar(c, dtype)]), z])
    return w.node("Add", [value, w.scalar(coefficients[-1], dtype)])


def _monic(w: _Writer, z: str, coefficients, dtype: np.dtype) -> str:
    """(...((z + c0) z + c1) z ...) + c_last."""
    value = z
    for c in coefficients[:-1]:
        value = w.node("Mul", [w.node("Add", [value, w.scalar(c, dtype)]), z])
    return w.node("Add", [value, w.scalar(coefficients[-1], dtype)])


def _erfc_of_abs(w: _Writer, y: str, dtype: np.dtype) -> str:
    """erfc(y) for y = |x| >= 0.5 by Cody's two rational functions (as ``elementwise._erfc_positive``),
    both computed everywhere and picked by Where (the unused one may be inf or NaN)."""
    e = elementwise
    middle = w.node("Div", [_horner(w, y, e._ERFC_C8, e._ERFC_C, dtype), _monic(w, y, e._ERFC_D, dtype)])
    z = w.node("Div", [w.scalar(1.0, dtype), w.node("Mul", [y, y])])
    ratio = w.node("Div", [_horner(w, z, e._ERFC_P5, e._ERFC_P, dtype), _monic(w, z, e._ERFC_Q, dtype)])
    far = w.node("Div", [w.node("Sub", [w.scalar(e._INV_SQRT_PI, dtype), w.node("Mul", [z, ratio])]), y])
    rational = w.node("Where", [w.node("LessOrEqual", [y, w.scalar(4.0, dtype)]), middle, far])
    sixteen = w.scalar(16.0, dtype)
    r = w.node("Div", [w.node("Floor", [w.node("Mul", [y, sixteen])]), sixteen])
    first = w.node("Exp", [w.node("Neg", [w.node("Mul", [r, r])])])
    rest = w.node("Exp", [w.node("Neg", [w.node("Mul", [w.node("Sub", [y, r]), w.node("Add", [y, r])])])])
    tail = w.node("Mul", [rational, w.node("Mul", [first, rest])])
    return w.node("Where", [w.node("IsInf", [y]), w.scalar(0.0, dtype), tail])


def _erf_parts(w: _Writer, x: str, dtype: np.dtype) -> tuple[str, str, str]:
    """(|x| <= 0.5, erf(x) there, erfc(|x|) elsewhere) in float64, Cody's formulas as the engine's."""
    e = elementwise
    y = w.node("Abs", [x])
    small = w.node("LessOrEqual", [y, w.scalar(0.5, dtype)])
    z = w.node("Mul", [x, x])
    near = w.node(
        "Mul", [x, w.node("Div", [_horner(w, z, e._ERF_A4, e._ERF_A, dtype), _monic(w, z, e._ERF_B, dtype)])]
    )
    return small, near, _erfc_of_abs(w, y, dtype)


def _erf_graph(w: _Writer, x: str, dtype: np.dtype, out: str | None = None) -> str:
    """erf(x): ONNX's Erf in float32; in float64 (where onnxruntime has no Erf kernel) Cody's rational
    functions, the engine's own formulas, so both agree to a few ulps."""
    if dtype == np.float32:
        return w.node("Erf", [x], out=out)
    small, near, tail = _erf_parts(w, x, dtype)
    one = w.scalar(1.0, dtype)
    far = w.node("Mul", [w.node("Sign", [x]), w.node("Sub", [one, tail])])
    return w.node("Where", [small, near, far], out=out)


def _erfc_graph(w: _Writer, x: str, dtype: np.dtype) -> str:
    """erfc(x) = 1 - erf(x): 1 - Erf in float32, Cody's erfc (no cancellation) in float64."""
    one = w.scalar(1.0, dtype)
    if dtype == np.float32:
        return w.node("Sub", [one, w.node("Erf", [x])])
    small, near, tail = _erf_parts(w, x, dtype)
    positive = w.node("Greater", [x, w.scalar(0.0, dtype)])
    far = w.node("Where", [positive, tail, w.node("Sub", [w.scalar(2.0, dtype), tail])])
    return w.node("Where", [small, w.node("Sub", [one, near]), far])


def _erf(w: _Writer, n: _Node) -> None:
    _erf_graph(w, n.x, n.out.dtype, out=n.out.name)


def _gelu(w: _Writer, n: _Node) -> None:
    """Exact: 0.5 x erfc(-x / sqrt(2)); tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    dtype, x = n.out.dtype, n.x
    half = w.node("Mul", [x, w.scalar(0.5, dtype)])
    if n.op.approximate == "none":
        scaled = w.node("Mul", [x, w.scalar(-elementwise._SQRT_HALF, dtype)])
        w.node("Mul", [_erfc_graph(w, scaled, dtype), half], out=n.out.name)
        return
    cubic = w.node(
        "Mul", [w.node("Mul", [w.node("Mul", [x, x]), w.scalar(elementwise._TANH_CUBIC, dtype)]), x]
    )
    inner = w.node("Mul", [w.node("Add", [cubic, x]), w.scalar(elementwise._TANH_SCALE, dtype)])
    t = w.node("Add", [w.node("Tanh", [inner]), w.scalar(1.0, dtype)])
    w.node("Mul", [t, half], out=n.out.name)


def _affine_names(w: _Writer, n: _Node, shape: tuple[int, ...]) -> tuple[str | None, str | None]:
    rest = [w.as_dtype(v, n.out.dtype) for v in n.inputs[1:]]
    weight = rest.pop(0) if n.op.has_weight else None
    bias = rest.pop(0) if n.op.has_bias else None
    if shape:
        weight = weight and w.node("Reshape", [weight, w.int64s(shape)])
        bias = bias and w.node("Reshape", [bias, w.int64s(shape)])
    return weight, bias


def _layer_norm(w: _Writer, n: _Node) -> None:
    """LayerNormalization in float32; in float64 its decomposition (onnxruntime's kernel keeps float32
    statistics), the engine's own formula: (x - mean) / sqrt(var + eps) * w + b."""
    dtype, k = n.out.dtype, len(n.op.normalized_shape)
    weight, bias = _affine_names(w, n, ())
    if dtype == np.float32:
        scale = weight or w.constant(np.ones(n.op.normalized_shape, dtype), "ones")
        inputs = [n.x, scale] + ([bias] if bias else [])
        w.node("LayerNormalization", inputs, out=n.out.name, axis=-k, epsilon=n.op.eps)
        return
    axes = w.int64s(list(range(-k, 0)))
    centered = w.node("Sub", [n.x, w.node("ReduceMean", [n.x, axes], keepdims=1)])
    var = w.node("ReduceMean", [w.node("Mul", [centered, centered]), axes], keepdims=1)
    rstd = w.node(
        "Div", [w.scalar(1.0, dtype), w.node("Sqrt", [w.node("Add", [var, w.scalar(n.op.eps, dtype)])])]
    )
    value = w.node("Mul", [centered, rstd])
    if weight:
        value = w.node("Mul", [value, weight])
    if bias:
        value = w.node("Add", [value, bias])
    w.finish(value, n.out.name)


def _batch_norm(w: _Writer, n: _Node) -> None:
    """Evaluation mode: (x - running_mean) * (1 / sqrt(running_var + eps)) * w + b, per channel (axis 1)."""
    if n.op.training:
        raise ExportError(
            f"export_onnx: {n.op.label()} normalises by the batch's statistics and updates running ones; "
            "export in evaluation mode (model.eval()), where it uses the running statistics"
        )
    dtype = n.out.dtype
    shape = n.op.affine_shape
    weight, bias = _affine_names(w, n, shape)
    mean = w.constant(np.asarray(n.op.mean, dtype=dtype).reshape(shape), "running_mean")
    rstd = w.constant(np.asarray(n.op.rstd, dtype=dtype).reshape(shape), "running_rstd")
    value = w.node("Mul", [w.node("Sub", [n.x, mean]), rstd])
    if weight:
        value = w.node("Mul", [value, weight])
    if bias:
        value = w.node("Add", [value, bias])
    w.finish(value, n.out.name)


def _masked_softmax(w: _Writer, n: _Node) -> None:
    """Where(keep, x, -inf), then Softmax: masked entries get probability 0."""
    if n.out.sequence_axes:  # a causal mask as long as the scores: lower-triangular ones, built at run time
        square = w.node("Slice", [w.node("Shape", [n.x]), w.int64s([-2]), w.int64s([INT64_MAX])])
        ones = w.node("ConstantOfShape", [square], value=w.numpy_helper.from_array(np.ones(1, n.out.dtype)))
        keep = w.node("Cast", [w.node("Trilu", [ones], upper=0)], to=w.onnx.TensorProto.BOOL)
    else:
        keep = w.constant(np.asarray(n.op.keep, dtype=bool), "keep")
    masked = w.node("Where", [keep, n.x, w.scalar(-np.inf, n.out.dtype)])
    w.node("Softmax", [masked], out=n.out.name, axis=int(n.op.axis))


def _avg_pool2d(w: _Writer, n: _Node) -> None:
    """AveragePool in float32; in float64 (no onnxruntime kernel) the sum of the strided slices, scaled."""
    kernel, stride = list(n.op.kernel), list(n.op.stride)
    if n.out.dtype == np.float32:
        w.node("AveragePool", [n.x], out=n.out.name, kernel_shape=kernel, strides=stride)
        return
    ho, wo = n.out.shape[2], n.out.shape[3]
    total = None
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            ends = [a + stride[0] * (ho - 1) + 1, b + stride[1] * (wo - 1) + 1]
            piece = w.node(
                "Slice", [n.x, w.int64s([a, b]), w.int64s(ends), w.int64s([2, 3]), w.int64s(stride)]
            )
            total = piece if total is None else w.node("Add", [total, piece])
    w.node("Mul", [total, w.scalar(1 / (kernel[0] * kernel[1]), n.out.dtype)], out=n.out.name)


_EXPORTERS: dict[type, Callable[[_Writer, _Node], None]] = {
    ops.Add: _binary("Add"),
    ops.Sub: _binary("Sub"),
    ops.Mul: _binary("Mul"),
    ops.Div: _binary("Div"),
    ops.MatMul: _binary("MatMul"),
    ops.Neg: _unary("Neg"),
    ops.Pow: _pow,
    ops.Power: _binary("Pow"),
    ops.Cast: _cast,
    ops.Exp: _unary("Exp"),
    ops.Log: _unary("Log"),
    ops.Sigmoid: _unary("Sigmoid"),
    ops.Tanh: _unary("Tanh"),
    ops.ReLU: _unary("Relu"),
    ops.Sum: _reduce("ReduceSum"),
    ops.Mean: _reduce("ReduceMean"),
    ops.Max: _reduce("ReduceMax"),
    ops.LogSumExp: _logsumexp,
    ops.Softmax: _softmax("Softmax"),
    ops.LogSoftmax: _softmax("LogSoftmax"),
    ops.BCEWithLogits: _bce_with_logits,
    ops.Reshape: _reshape,
    ops.Transpose: _transpose,
    ops.BroadcastTo: _broadcast_to,
    ops.Index: _getitem,
    ops.ScatterAdd: _scatter_add,
    ops.Abs: _unary("Abs"),
    ops.Sqrt: _unary("Sqrt"),
    ops.Softplus: _softplus,
    ops.LeakyReLU: _leaky_relu,
    ops.Dropout: _dropout,
    ops.Min: _reduce("ReduceMin"),
    ops.Var: _var,
    ops.Std: _std,
    ops.Where: _where,
    ops.Maximum: _binary("Max"),
    ops.Minimum: _binary("Min"),
    ops.Clip: _clip,
    ops.Concatenate: _concatenate,
    ops.Stack: _stack,
    ops.MSELoss: _mse_loss,
    ops.NLLLoss: _nll_loss,
    ops.SoftNLLLoss: _soft_nll_loss,
    ops.Conv2d: _conv2d,
    ops.MaxPool2d: _max_pool2d,
    ops.Embedding: _embedding,
    ops.Erf: _erf,
    ops.GELU: _gelu,
    ops.LayerNormalization: _layer_norm,
    ops.BatchNorm: _batch_norm,
    ops.MaskedSoftmax: _masked_softmax,
    ops.AvgPool2d: _avg_pool2d,
    RecurrentLayer: recurrent_layer,
}
