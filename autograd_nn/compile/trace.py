"""Tracing: one run's tape recorded into the graph form, refusing what a replay would freeze.

Each op input that no earlier op made is a leaf: an argument (the very Tensor passed, or a Tensor
around the very array passed), or a tensor ``fn`` reached otherwise (a parameter, a constant), held
by identity with its ``.data`` read again at every call, so in-place optimizer updates just work. A
``detach()`` of an intermediate becomes a node that stops the gradient. Only the nodes the result
depends on are kept. An op's array parameter that is an integer argument, a view of one (``reshape``,
slicing, transpose: gathered by its elements' positions) or an ``astype`` of one, is computed anew
from each call's argument; one NumPy derived from an integer argument any other way, a comparison
mask of a traced value, an argument that reaches the graph only as a copy made outside the ops, a
tensor changed in place, and dropout (a replay would reuse one mask) are refused here. The trace
also notes the held leaves and array parameters the second call must find unchanged.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable

import numpy as np

from .. import ops
from ..errors import AutogradError
from ..recording import _TracedMask
from ..tensor import Tensor
from .graph import Graph
from .tape import TENSOR_DATA, FloatArgument, IntegerArgument, Outside

_DRAWN_OUTSIDE_THE_OP = {"dropout"}  # ops whose per-call random state a trace would freeze


def record(
    graph: Graph, tape: list, result: Tensor, arguments: tuple, wrapped: dict, outside: Outside
) -> None:
    """Fill ``graph`` with the values, leaves and nodes of one traced run of ``fn`` (its ``tape``,
    ``result`` and the ``arguments`` it got; ``wrapped``: id(argument) -> whether compile wrapped an
    array), or raise if a replay could not repeat it."""
    _Recorder(graph, wrapped, outside).record(tape, result, arguments)


class _Recorder:
    """One trace's recording: the graph it fills, and what the run did outside the ops (kept only while
    it records)."""

    def __init__(self, graph: Graph, wrapped: dict, outside: Outside) -> None:
        self.graph = graph
        self.name = graph.name
        self.read_outside = outside.read  # the float arguments fn read outside the ops at the trace
        self.derived = outside.derived
        self.masks, self.sources = outside.masks, outside.sources
        self.wrapped_arguments = wrapped  # id(argument as fn got it) -> whether compile wrapped an array

    def record(self, tape: list, result: Tensor, arguments: tuple) -> None:
        """Fill the graph (a new one) from the tape: its values, leaves and the nodes the result needs."""
        graph = self.graph
        produced: dict[int, int] = {}  # id(tensor) -> value made by an earlier op
        made_array: dict[int, int] = {}  # id(array) -> that value, to see a detached intermediate
        arg_tensor = {id(a): i for i, a in enumerate(arguments) if isinstance(a, Tensor)}
        arg_array = {
            id(a.data if isinstance(a, Tensor) else a): i
            for i, a in enumerate(arguments)
            if isinstance(a, (Tensor, np.ndarray))
        }
        leaf_of: dict[int, int] = {}  # id(tensor or array) -> value
        nodes: list[tuple[ops.Op, list[int], int, bool]] = []
        # whether argument i came as a Tensor (its .data is read), not as an array compile wrapped
        graph.given_tensor = [
            isinstance(a, Tensor) and not self.wrapped_arguments.get(id(a), False) for a in arguments
        ]
        graph.tape_labels = [entry[0].label() for entry in tape]
        for position, (op, inputs, output, recorded) in enumerate(tape):
            ins = []
            for t in inputs:
                v = produced.get(id(t))
                if v is None:
                    v = self._leaf(t, arg_tensor, arg_array, made_array, leaf_of, nodes, arguments)
                ins.append(v)
            out = graph.new_value(output.data.shape, output.data.dtype)
            if not any(np.may_share_memory(output.data, t.data) for t in inputs):
                graph.fresh_at_trace.add(out)  # a new array, not a view (the same again for the same strides)
            produced[id(output)] = out
            made_array[id(output.data)] = out
            if op.name in _DRAWN_OUTSIDE_THE_OP:
                raise AutogradError(
                    f"compile: {self.name} uses {op.label()}, whose random mask is drawn outside the op: a "
                    "replay would reuse one mask for every call; compile the function in evaluation mode "
                    "(no dropout), or call it uncompiled"
                )
            op = copy.copy(op)  # the trace's node may still be in the caller's graph: never change it
            op.parents, op.output = None, None
            op.targets = ()
            self._find_argument_parameters(op, arg_array, arguments, position)
            self._refuse_frozen_operands(op, inputs, arguments, position)
            nodes.append((op, ins, out, recorded))
            graph.tape_position[out] = position
        v = produced.get(id(result))
        if v is None:  # fn returned a leaf itself, or a detached value
            v = self._leaf(result, arg_tensor, arg_array, made_array, leaf_of, nodes, arguments)
        graph.result, graph.result_name = v, result.name
        # Keep only what the result depends on, in order.
        needed = {v}
        for _, ins, out, _ in reversed(nodes):
            if out in needed:
                needed.update(ins)
        self._note_what_the_second_call_must_repeat(nodes, needed)
        kept = [n for n in nodes if n[2] in needed]
        graph.nodes = kept  # (fused next)
        graph.arg_values = [(v, i) for v, i in graph.arg_values if v in needed]
        graph.leaf_values = [(v, t) for v, t in graph.leaf_values if v in needed]
        graph.grad_leaf = {v: who for v, who in graph.grad_leaf.items() if v in needed}
        self._check_arguments_reach_the_graph(arguments)
        wrappers = [a for a in arguments if isinstance(a, Tensor) and self.wrapped_arguments.get(id(a))]
        for t in [entry[2] for entry in tape] + wrappers:
            if t._version != 0:
                raise AutogradError(
                    f"compile: {self.name} changes a tensor of shape {t.shape} in place (+=, -=, *=, /=), "
                    "which a replay would not repeat; write y = y + x (a new tensor) instead"
                )

    def _find_argument_parameters(self, op: ops.Op, arg_array: dict, arguments: tuple, position: int) -> None:
        """Note op attributes computed from an argument's array (an index, labels), to compute anew at
        every call: the argument's array itself, or a view or ``astype`` of it; refuse any other
        array NumPy derived from an integer argument, which a replay would freeze."""
        graph = self.graph
        for attribute, part, array in array_parameters(op):
            self._refuse_a_traced_mask(array, op, position, f"its {attribute}")
            if id(array) in arg_array:
                i = arg_array[id(array)]
                graph.parameters_from_arguments.append((op, attribute, part, operator.itemgetter(i), i))
                continue
            found = self._derivation(array, arguments)
            if found is not None:
                graph.parameters_from_arguments.append((op, attribute, part, *found))
            elif any(np.may_share_memory(array, d) for d in self.derived) or (
                self._copies_an_integer_argument(array, arguments)
            ):
                raise AutogradError(
                    f"compile: {self.name}: op {position} ({op.label()}) takes as its {attribute} an array "
                    "computed with NumPy from an integer argument in a way a replay cannot repeat (only "
                    "views such as reshape, slicing or transpose, and astype, are repeated at every call); "
                    "compute it before calling the compiled function and pass it as an argument"
                )

    def _refuse_frozen_operands(self, op: ops.Op, inputs: tuple, arguments: tuple, position: int) -> None:
        """Refuse a constant operand (or a boolean index, held as positions) that a replay would
        freeze although it was computed from a traced value (a comparison mask) or NumPy derived it
        from an integer argument (``one_hot(labels)``, ``labels > 0``)."""
        index = self.sources.get(id(getattr(op, "index", None)))
        if index is not None:
            parts = index[1] if isinstance(index[1], tuple) else (index[1],)
            for part in parts:
                if isinstance(part, np.ndarray) and part.dtype == bool:
                    self._refuse_a_traced_mask(part, op, position, "its boolean index")
                    self._refuse_a_derived_array(part, op, position, "its boolean index")
        for k, t in enumerate(inputs):
            if t.requires_grad or t._op is not None:
                continue
            array = TENSOR_DATA.__get__(t)
            source = self.sources.get(id(array), (None, array))[1]
            if not isinstance(source, np.ndarray) or any(a is t for a in arguments):
                continue
            self._refuse_a_traced_mask(source, op, position, f"its operand {k}")
            self._refuse_a_derived_array(source, op, position, f"its operand {k}")

    def _refuse_a_traced_mask(self, array: np.ndarray, op: ops.Op, position: int, what: str) -> None:
        """Refuse ``array`` when it is, or shares memory with, a comparison result of a traced value."""
        if isinstance(array, _TracedMask) or any(np.may_share_memory(array, m) for m in self.masks):
            raise AutogradError(
                f"compile: {self.name}: op {position} ({op.label()}) takes as {what} an array computed "
                "from a comparison of a traced value (a mask such as x > 0), which a replay would freeze; "
                "write it with tensor ops (ag.relu, ag.maximum), compute the mask before calling the "
                "compiled function and pass it as an argument, or call the function uncompiled"
            )

    def _refuse_a_derived_array(self, array: np.ndarray, op: ops.Op, position: int, what: str) -> None:
        """Refuse ``array`` when NumPy derived it from an integer argument: a replay would freeze it."""
        if isinstance(array, IntegerArgument) or any(np.may_share_memory(array, d) for d in self.derived):
            raise AutogradError(
                f"compile: {self.name}: op {position} ({op.label()}) takes as {what} an array computed "
                "with NumPy from an integer argument (such as one_hot(labels) or labels > 0), which a "
                "replay would freeze; compute it before calling the compiled function and pass it as "
                "an argument, or call the function uncompiled"
            )

    def _derivation(self, array: np.ndarray, arguments: tuple, depth: int = 0) -> tuple | None:
        """``(read, i)``: how to compute ``array`` from a call's arguments (``read(arguments)``) when it
        is argument i's integer array, a view of it, an ``astype`` of one of those, or a view of that;
        None when it comes from no integer argument."""
        source = getattr(array, "converted_from", None)
        if source is not None and depth < 8:  # an astype copy: its source's derivation, converted
            inner = self._derivation(source, arguments, depth + 1)
            if inner is None:
                return None
            read_source, i = inner
            dtype = array.dtype
            return (lambda a: np.asarray(read_source(a)).astype(dtype)), i
        for i, argument in enumerate(arguments):
            if not isinstance(argument, IntegerArgument):
                continue
            if array is argument:
                return operator.itemgetter(i), i
            if np.may_share_memory(array, argument):
                return self._gather(array, argument, operator.itemgetter(i)), i
        for owner in _bases(array):  # a view of an astype copy
            if getattr(owner, "converted_from", None) is not None:
                inner = self._derivation(owner, arguments, depth + 1)
                if inner is not None:
                    return self._gather(array, owner, inner[0]), inner[1]
        return None

    def _gather(self, view: np.ndarray, source: np.ndarray, read_source: Callable):
        """``read`` giving ``view``'s elements from each call's ``source`` (read by ``read_source``)."""
        positions = _element_positions(view, source)
        if positions is None:
            raise AutogradError(
                f"compile: {self.name}: an op takes a view of an integer argument (shape {view.shape}, "
                f"{view.dtype}) that does not pick whole elements of it (another dtype?); a replay cannot "
                "repeat it: pass the array the op needs as an argument"
            )
        if view.shape == source.shape and (positions.reshape(-1) == np.arange(source.size)).all():
            return read_source  # the argument's array itself, seen through np.asarray
        return lambda a: np.asarray(read_source(a)).reshape(-1)[positions]

    @staticmethod
    def _copies_an_integer_argument(array: np.ndarray, arguments: tuple) -> bool:
        """Whether ``array`` (an op's integer array no argument explains) has the shape and values of
        an integer argument: a copy NumPy made of it (``np.array(labels, np.int64)``), which a replay
        would freeze."""
        if array.dtype.kind not in "biu":
            return False
        return any(
            isinstance(a, IntegerArgument) and a.shape == array.shape and np.array_equal(a, array)
            for a in arguments
        )

    def _note_what_the_second_call_must_repeat(self, nodes: list, needed: set) -> None:
        """The held leaves and array parameters of the ops that matter, by tape position: the second
        call's eager run must give them the same values, or they were frozen by this trace."""
        graph = self.graph
        held = dict(graph.leaf_values)
        bound = {(id(op), attribute, part) for op, attribute, part, _, _ in graph.parameters_from_arguments}
        graph.confirm_leaves, graph.confirm_parameters = [], []
        for op, ins, out, _ in nodes:
            position = graph.tape_position.get(out)
            if out not in needed or position is None:
                continue
            graph.confirm_leaves += [(position, k, held[v]) for k, v in enumerate(ins) if v in held]
            for attribute, part, array in array_parameters(op):
                if (id(op), attribute, part) not in bound:
                    graph.confirm_parameters.append((position, attribute, part, array))

    def _leaf(self, t: Tensor, arg_tensor, arg_array, made_array, leaf_of, nodes, arguments) -> int:
        """The value of a tensor no recorded op made: an argument, a detached intermediate or a held leaf."""
        graph = self.graph
        if id(t) in leaf_of:
            return leaf_of[id(t)]
        if id(t) in arg_tensor:  # the Tensor passed: gradients reach it, as in eager mode
            v = graph.new_value(t.data.shape, t.data.dtype)
            graph.arg_values.append((v, arg_tensor[id(t)]))
            if t.requires_grad:
                graph.grad_leaf[v] = arg_tensor[id(t)]
        elif id(t.data) in arg_array:  # a new Tensor around an argument's array: a constant per call
            v = graph.new_value(t.data.shape, t.data.dtype)
            graph.arg_values.append((v, arg_array[id(t.data)]))
        elif id(t.data) in made_array:  # t.detach() of an intermediate: its value, without gradient
            v = graph.new_value(t.data.shape, t.data.dtype)
            nodes.append((_StopGradient(), [made_array[id(t.data)]], v, False))
        else:
            v = graph.new_value(t.data.shape, t.data.dtype)
            graph.leaf_values.append((v, t))
            if t.requires_grad:
                graph.grad_leaf[v] = t
        leaf_of[id(t)] = v
        return v

    def _check_arguments_reach_the_graph(self, arguments: tuple) -> None:
        """Refuse an argument ``fn`` turned into a constant outside the ops: replays would freeze it."""
        graph = self.graph
        used = {i for _, i in graph.arg_values} | {entry[4] for entry in graph.parameters_from_arguments}
        for i, a in enumerate(arguments):
            if i in used or not isinstance(a, (Tensor, np.ndarray)):
                continue
            if isinstance(a, FloatArgument) and i not in self.read_outside:
                continue  # fn never read it: an unused argument, whatever constants it holds
            array = TENSOR_DATA.__get__(a) if isinstance(a, Tensor) else a
            for _, t in graph.leaf_values:
                if np.may_share_memory(t.data, array) or (
                    not t.requires_grad and t.data.shape == array.shape and self._may_copy(t.data, a, array)
                ):
                    raise AutogradError(
                        f"compile: {self.name}: argument {i} (shape {array.shape}, {array.dtype}) reaches the "
                        "graph only as a NumPy copy or view made outside the ops (astype, np.asarray with "
                        "another dtype, arithmetic or slicing on the array), which a replay would freeze; "
                        "wrap the argument itself with Tensor(x) and compute with tensor ops"
                    )

    def _may_copy(self, constant: np.ndarray, argument, array: np.ndarray) -> bool:
        """Whether a held constant of an unused argument's shape may be a copy of it made outside the
        ops: fn read the float argument's values (compile wrapped it, so it knows), or else the constant
        holds the argument's values in its own dtype (a Tensor the caller gave, an integer array)."""
        if isinstance(argument, FloatArgument):
            return True
        return np.array_equal(constant, array.astype(constant.dtype), equal_nan=constant.dtype.kind == "f")


def _bases(array: np.ndarray) -> list[np.ndarray]:
    """The arrays ``array`` is a view of, nearest first (NumPy keeps a subclass instance in the chain)."""
    chain = []
    base = array.base
    while isinstance(base, np.ndarray) and len(chain) < 32:
        chain.append(base)
        base = base.base
    return chain


def _element_positions(view: np.ndarray, source: np.ndarray) -> np.ndarray | None:
    """For each element of ``view``, its position in ``source`` flattened in C order (``view`` is an
    array whose elements lie in ``source``'s memory: a reshape, slice or transpose of it), or None
    when some element is not one of ``source``'s (another dtype, a view cutting across elements)."""
    if view.dtype != source.dtype:
        return None

    def addresses(a: np.ndarray) -> np.ndarray:
        where = np.full(a.shape, a.__array_interface__["data"][0], dtype=np.int64)
        for axis, (n, stride) in enumerate(zip(a.shape, a.strides, strict=True)):
            step = [1] * a.ndim
            step[axis] = n
            where = where + (np.arange(n, dtype=np.int64) * stride).reshape(step)
        return where.reshape(-1)

    mine, theirs = addresses(view), addresses(source)
    order = np.argsort(theirs, kind="stable")
    found = np.searchsorted(theirs[order], mine)
    if found.size and (found.max() >= theirs.size or (theirs[order][found] != mine).any()):
        return None
    return order[found].reshape(view.shape)


def array_parameters(op: ops.Op):
    """(attribute, position in a tuple or None, array) for each ndarray an op holds as a parameter."""
    saved = getattr(op, "saved", ())  # arrays the forward computes for its VJP afresh at every call
    for cls in type(op).__mro__:
        for attribute in getattr(cls, "__slots__", ()):
            if attribute in ("output", "parents", "targets") or attribute in saved:
                continue
            value = getattr(op, attribute, None)
            if isinstance(value, np.ndarray):
                yield attribute, None, value
            elif isinstance(value, tuple):
                for k, part in enumerate(value):
                    if isinstance(part, np.ndarray):
                        yield attribute, k, part


class _StopGradient(ops.Op):
    """``detach()`` of an intermediate inside a traced function: the same values, no gradient."""

    __slots__ = ()
    name = "detach"
    keeps_inputs = False

    def forward(self, x):
        return x

    def vjp(self, g, out, x):
        return (None,)
