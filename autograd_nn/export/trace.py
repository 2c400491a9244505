"""Tracing a forward pass: run it on example inputs, and find its graph and its batch-dependent axes.

The example inputs become fresh tensors with ``requires_grad=True``, so every op that depends on
them is recorded; the recorded graph is walked iteratively from the outputs (no recursion limit).
With a dynamic batch the forward runs a second time, on the inputs with their rows reversed and one
more row: an axis whose length changed between the two runs depends on the batch, and a constant
or an op parameter (an index, a mask, labels) that changed was computed from the inputs outside the
graph, which an exported file would freeze, so it is an ``ExportError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import ops
from ..errors import AutogradError
from ..grad_mode import enable_grad
from ..tensor import Tensor


class ExportError(AutogradError, ValueError):
    """A forward that cannot be written as a faithful ONNX graph (an unmapped op, a value that
    depends on the batch size but was computed outside the graph, ...)."""


def trace_forward(
    fn: Callable,
    arrays: list[np.ndarray],
    dynamic_batch: bool | Sequence[int | None],
    dynamic_sequence: bool | Sequence[int | None] = False,
) -> TracedGraph:
    """Run ``fn`` on the example ``arrays`` (twice with ``dynamic_batch``, once more with ``dynamic_sequence``)
    and return its graph. Each option is False, True (axis 0 of every input is the batch, axis 1 the sequence)
    or one axis (or None) per input."""
    batch_axes = dynamic_axes(dynamic_batch, arrays, 0, "dynamic_batch")
    sequence_axes = dynamic_axes(dynamic_sequence, arrays, 1, "dynamic_sequence")
    if batch_axes is not None:
        _check_batch(arrays, batch_axes, dynamic_batch is True)
    if sequence_axes is not None:
        _check_sequence(arrays, sequence_axes)
    if batch_axes is not None and sequence_axes is not None:
        for i, (b, t) in enumerate(zip(batch_axes, sequence_axes, strict=True)):
            if b is not None and b == t:
                raise ValueError(
                    f"export_onnx: axis {b} of input {i} is given as both its batch and its sequence"
                )
    first = trace(fn, arrays)
    second = third = None
    if batch_axes is not None:
        # Rows reversed and the first repeated: a mask or statistic computed from the data outside
        # the graph then changes too, and is caught instead of frozen into the file.
        flipped = [
            a if k is None else _one_more(np.flip(a, k), k) for a, k in zip(arrays, batch_axes, strict=True)
        ]
        second = trace(fn, flipped)
    if sequence_axes is not None:  # one more position along each sequence axis (the first repeated)
        longer = [a if k is None else _one_more(a, k) for a, k in zip(arrays, sequence_axes, strict=True)]
        third = trace(fn, longer)
    return TracedGraph(first, second, third=third, batch_axes=batch_axes, sequence_axes=sequence_axes)


def _one_more(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` with its first position along ``axis`` repeated at the end."""
    return np.concatenate([a, np.take(a, [0], axis=axis)], axis=axis)


def dynamic_axes(option, arrays: list[np.ndarray], default: int, what: str) -> list[int | None] | None:
    """The symbolic axis of each input (None where it has none) that ``option`` asks for, checked: None for
    False, ``default`` of every input for True, or the list given (one axis or None per input)."""
    if option is False or option is None:
        return None
    if option is True:
        for i, a in enumerate(arrays):
            if a.ndim <= default:
                role = "batch" if default == 0 else "sequence"
                raise ValueError(
                    f"export_onnx: with {what}=True axis {default} of every input is the {role}, but example "
                    f"input {i} has shape {a.shape}; give one axis (or None) per input, e.g. {what}=[...]"
                )
        return [default] * len(arrays)
    if isinstance(option, (str, bytes)) or not isinstance(option, Sequence):
        raise TypeError(
            f"export_onnx: {what} must be True, False or one axis (or None) per input, got {option!r}"
        )
    if len(option) != len(arrays):
        raise ValueError(
            f"export_onnx: {what} gives {len(option)} axes for {len(arrays)} inputs; give one axis (or None) per input"
        )
    axes = []
    for i, (k, a) in enumerate(zip(option, arrays, strict=True)):
        if k is None:
            axes.append(None)
            continue
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not -a.ndim <= k < a.ndim:
            raise ValueError(
                f"export_onnx: {what}[{i}] = {k!r} is not an axis of example input {i} of shape {a.shape}"
            )
        axes.append(int(k) % a.ndim)
    return axes if any(k is not None for k in axes) else None


def _check_batch(arrays: list[np.ndarray], axes: list[int | None], every_first: bool) -> None:
    for i, (a, k) in enumerate(zip(arrays, axes, strict=True)):
        if k is not None and a.shape[k] == 0:
            raise ValueError(
                f"export_onnx: example input {i} of shape {a.shape} has no batch axis with examples in it; "
                "give at least one example, or pass dynamic_batch=False"
            )
    sizes = [a.shape[k] for a, k in zip(arrays, axes, strict=True) if k is not None]
    if len(set(sizes)) > 1:
        where = "every input's first axis is the batch" if every_first else "the inputs' batch axes"
        raise ValueError(
            f"export_onnx: with dynamic_batch {where}, but the example inputs have batches of lengths {sizes}; "
            "pass dynamic_batch=False"
        )


def _check_sequence(arrays: list[np.ndarray], axes: list[int | None]) -> None:
    for i, (a, k) in enumerate(zip(arrays, axes, strict=True)):
        if k is not None and a.shape[k] == 0:
            raise ValueError(
                f"export_onnx: example input {i} of shape {a.shape} has an empty sequence axis {k}"
            )
    lengths = [a.shape[k] for a, k in zip(arrays, axes, strict=True) if k is not None]
    if len(set(lengths)) > 1:
        raise ValueError(
            f"export_onnx: with dynamic_sequence the inputs' sequence axes must have one length, got {lengths}"
        )


@dataclass
class Trace:
    """One run of the forward: its input tensors, its outputs, and every value of its graph."""

    inputs: list[Tensor]
    outputs: list[Tensor]
    order: list  # every value (a node, or a leaf Tensor) after the values it is computed from


def value_of(t: Tensor):
    """The graph value a tensor stands for: the node that computed it, or the leaf itself."""
    return t._op if t._op is not None else t


def arguments(node: ops.Op) -> list:
    """A node's inputs as values (nodes or leaf tensors), constants included."""
    return [value_of(p) if isinstance(p, Tensor) else p for p in node.parents]


def trace(fn: Callable, arrays: list[np.ndarray]) -> Trace:
    """Run ``fn`` once on copies of ``arrays`` that require grad, so every op after them is recorded. An
    integer array (token ids) is passed as an int64 array: an op holds it as a parameter (an embedding's
    indices), and the writer makes it an int64 graph input."""
    inputs = [
        np.array(a, dtype=np.int64) if a.dtype.kind in "iu" else Tensor(np.array(a), requires_grad=True)
        for a in arrays
    ]
    with enable_grad():
        result = fn(*inputs)
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise ExportError(
                f"export_onnx: the forward's output {i} is a {type(out).__name__}, not a Tensor"
            )
    return Trace(inputs, outputs, topological_order([value_of(o) for o in outputs]))


def topological_order(roots: list) -> list:
    """Iterative depth-first search (no recursion limit); values are keyed by identity."""
    order, visited = [], set()
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        item, inputs_done = stack.pop()
        if inputs_done:
            order.append(item)
        elif id(item) not in visited:
            visited.add(id(item))
            stack.append((item, True))
            if not isinstance(item, Tensor):
                stack.extend((p, False) for p in reversed(arguments(item)) if id(p) not in visited)
    return order


def _shape(value) -> tuple[int, ...]:
    return value.data.shape if isinstance(value, Tensor) else tuple(value.shape)


def _dtype(value) -> np.dtype:
    return value.data.dtype if isinstance(value, Tensor) else np.dtype(value.dtype)


@dataclass
class ValueInfo:
    """What the writer knows of a value: its traced shape and dtype, and which axes grow with the batch."""

    shape: tuple[int, ...]
    dtype: np.dtype
    dynamic: tuple[int, ...] = ()
    name: str = ""
    constant: np.ndarray | None = None  # the array of a constant leaf
    second_shape: tuple[int, ...] = ()  # the shape in the trace with one more example
    third_shape: tuple[int, ...] = ()  # the shape in the trace with one more position (dynamic_sequence)
    sequence_axes: tuple[int, ...] = ()  # the axes that grow with the sequence length


@dataclass
class TracedGraph:
    """The first trace, with each value's batch-dependent axes found by comparing it to the second."""

    first: Trace
    second: Trace | None
    infos: dict = field(default_factory=dict)  # id(value) -> ValueInfo
    twins: dict = field(default_factory=dict)  # id(node in the first trace) -> the same node in the second
    third: Trace | None = None  # the trace with one more position along the sequence axes (dynamic_sequence)
    batch_axes: list | None = (
        None  # per input, its batch axis (None: it has none); None without dynamic_batch
    )
    sequence_axes: list | None = None  # per input, its sequence axis; None without dynamic_sequence

    def __post_init__(self) -> None:
        first, second, third = self.first, self.second, self.third
        for other in (second, third):
            if other is not None and len(other.order) != len(first.order):
                raise ExportError(
                    "export_onnx: the forward records a different graph for another batch size or sequence "
                    "length; it cannot be exported with dynamic_batch or dynamic_sequence (pass False). A Python "
                    "loop over an axis does that (one op per step): loop over an axis of fixed length, or check that "
                    "dynamic_batch and dynamic_sequence name each input's batch and sequence axes"
                )
        input_index = {id(t): i for i, t in enumerate(first.inputs)}
        for position, value in enumerate(first.order):
            shape = _shape(value)
            dynamic: tuple[int, ...] = ()
            if second is not None:
                other = second.order[position]
                dynamic = self._compare(value, other, input_index, second)
            grows: tuple[int, ...] = ()
            if third is not None:
                twins = self.twins.get(id(value))
                grows = self._compare(value, third.order[position], input_index, third)
                if twins is not None:
                    self.twins[id(value)] = twins  # the batch trace's twin is the one the exporters read
                dynamic = tuple(sorted(set(dynamic) | set(grows)))
            info = ValueInfo(shape, _dtype(value), dynamic)
            info.sequence_axes = grows
            if third is not None:
                info.third_shape = _shape(third.order[position])
            if second is not None:
                info.second_shape = _shape(second.order[position])
            if isinstance(value, Tensor) and id(value) not in input_index:
                info.constant = value.data
            self.infos[id(value)] = info

    def _compare(self, value, other, input_index: dict, second: Trace) -> tuple[int, ...]:
        if type(value) is not type(other):
            raise ExportError(
                "export_onnx: the forward records a different graph for another batch size; "
                "it cannot be exported with dynamic_batch (pass dynamic_batch=False)"
            )
        shape, other_shape = _shape(value), _shape(other)
        if len(shape) != len(other_shape):
            raise ExportError(f"export_onnx: {_describe(value)} changes rank with the batch size")
        if isinstance(value, Tensor):
            if id(value) in input_index:
                if second.inputs[input_index[id(value)]] is not other:
                    raise ExportError(
                        "export_onnx: the forward uses its inputs in a different order for another batch size"
                    )
            elif shape != other_shape or not np.array_equal(value.data, other.data, equal_nan=True):
                raise ExportError(
                    f"export_onnx: {_describe(value)} of shape {shape} is a constant that changes with the "
                    "batch: it was computed from the inputs outside the recorded graph (from a length such "
                    "as x.shape[0], through .data, NumPy or no_grad) or at random; compute it with tensor "
                    "operations, or pass dynamic_batch=False"
                )
        else:
            changed = _changed_parameter(value, other, self.first.inputs, second is self.third)
            if changed is not None:
                raise ExportError(
                    f"export_onnx: the {changed!r} of {value.label()} changes with the batch size (it was built "
                    "from the batch, e.g. a mask or labels of one row per example); it has no mapping with "
                    "dynamic_batch (pass dynamic_batch=False)"
                )
            self.twins[id(value)] = other
        return tuple(k for k, (a, b) in enumerate(zip(shape, other_shape, strict=True)) if a != b)


# Parameters that may differ between the two traces: traced shapes, which the exporters write with
# the batch-dependent axes found, and dropout's random mask (its exporter refuses training-mode dropout).
_TRACE_DEPENDENT_PARAMETERS = {
    ops.Reshape: {"new_shape"},
    ops.BroadcastTo: {"target_shape"},
    ops.ScatterAdd: {"target_shape"},
    ops.Concatenate: {"bounds"},
    ops.Dropout: {"mask"},
}
_RECORDING_SLOTS = set(ops.Op.__slots__)  # what the engine stores on every node, not the op's parameters


def _changed_parameter(op: ops.Op, twin: ops.Op, inputs: list = (), sequence: bool = False) -> str | None:
    """The name of a parameter (axis, index, mask, ...) that differs between the two traces, if any. Arrays
    the forward computes for its VJP (``op.saved``) and integer graph inputs held as parameters (token ids)
    may differ."""
    exempt = _TRACE_DEPENDENT_PARAMETERS.get(type(op), set()) | set(getattr(op, "saved", ()))
    given = [a for a in inputs if isinstance(a, np.ndarray)]
    for cls in type(op).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if slot in _RECORDING_SLOTS or slot in exempt or not hasattr(op, slot):
                continue
            if any(getattr(op, slot) is a for a in given):
                continue
            if sequence and _follows_the_length(op, slot, getattr(twin, slot, None)):
                continue
            if not _same_parameter(getattr(op, slot), getattr(twin, slot, None)):
                return slot
    return None


def _is_positions(a) -> bool:
    return isinstance(a, np.ndarray) and a.ndim == 1 and np.array_equal(a, np.arange(a.size))


def _is_causal(a) -> bool:
    return isinstance(a, np.ndarray) and a.ndim == 2 and np.array_equal(a, np.tril(np.ones(a.shape, bool)))


def _follows_the_length(op: ops.Op, slot: str, other) -> bool:
    """Parameters the exporters build from the sequence length at run time: an embedding's positions
    0..T-1 (``Range``) and a causal mask (``Trilu``)."""
    value = getattr(op, slot)
    if isinstance(op, ops.Embedding) and slot == "indices":
        return _is_positions(value) and _is_positions(other)
    if isinstance(op, ops.MaskedSoftmax) and slot == "keep":
        return _is_causal(value) and _is_causal(other)
    return False


def _same_parameter(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and np.array_equal(a, b)
        )
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_same_parameter(x, y) for x, y in zip(a, b, strict=True))
        )
    return type(a) is type(b) and a == b


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f"the leaf {value.name!r}" if value.name else "a leaf tensor"
    return f"the {value.label()} op"
