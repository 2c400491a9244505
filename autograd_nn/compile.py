"""``ag.compile``: trace a function once per input signature, plan its buffers, then replay it.

Tracing. The first call for a signature (the shapes, dtypes and ``requires_grad`` of its Tensor and
ndarray arguments; every other argument by value) runs ``fn`` eagerly while ``tensor.apply`` appends
every op to a tape, recorded or not (``grad_mode.STATE.tape``). Each op input that no earlier op made
is a leaf: an argument (the very Tensor passed, or a Tensor around the very array passed), or a tensor
``fn`` reached otherwise (a parameter, a constant), held by identity with its ``.data`` read again at
every call, so in-place optimizer updates just work. Float ndarray arguments reach ``fn`` as Tensors
around the same array, so arithmetic on them is recorded too (and compile notes whether ``fn`` read
their values outside the ops). Integer and boolean ndarray arguments (labels, masks) reach it as a
view that marks every array NumPy derives from them: an op's index array that is such an argument, a
view of it (``reshape``, slicing, transpose: gathered by its elements' positions) or an ``astype`` of
one, is computed anew from each call's argument; one derived any other way is refused at the trace. A leaf whose ``.data`` changed shape,
dtype or ``requires_grad`` since, or a new signature, traces again; the cache keeps the ``cache_size``
most recently used signatures. The second call runs ``fn`` eagerly once more and compares it with
the trace: a constant it holds (a leaf or an op's array parameter) that came out different was
computed outside the ops, and the program is refused rather than replayed with the first value.

Planning. The recorded ops become one straight-line program: the forward steps, then for every op
that leads from a leaf needing a gradient to the result, its VJP, then the sums of fan-out gradients.
Each intermediate value and gradient gets a buffer, and a buffer is reused by a later value once every
value that may share its memory is dead (a linear scan, as a register allocator does). An op may write
straight into its buffer (``Op.forward_into``, ``Op.vjp_into``) and, where it declares so, into the
buffer of an input the program no longer needs: the sigmoid overwrites its layer's output. Every other
op runs its plain ``forward`` and ``vjp``. Three patterns run fused: ``x @ w.T`` (w's gradient in w's
layout), a layer ``x @ w.T + b`` (the bias added into the product's buffer, its gradient one
matrix-vector product) and ``(x**2).sum()`` (one dot product). Arithmetic on 0-d values and its
gradients are Python expressions on NumPy scalars (``_SCALAR_RULES``). The program is generated as
straight-line Python (``CompiledFunction.source()``), its entry (reading the leaves, their versions
and where their gradients go) too.

Replay. A later call fills the leaves and runs the forward steps. The result it returns, and the
gradients its ``backward()`` leaves in ``.grad``, are fresh arrays that belong to the caller: the
program never writes into them. The result's node is one ``CompiledCall`` op whose VJP runs the
planned backward, so ``backward()``, ``ag.grad`` and further eager ops on the result work as in
eager mode (the engine accumulates into ``.grad`` with its usual rules). Under ``no_grad`` only the
forward runs. Backward through an older result whose buffers a newer call has reused replays that
call's forward first; a leaf changed in place since the forward (its ``_version``) is an error.

What cannot be captured (as with jax.jit and tinygrad's TinyJit): Python control flow that depends
on tensor values, values read with ``.item()``/``.data``/NumPy outside the ops, and any other side
effect of ``fn`` are frozen at trace time; the second-call check catches a frozen value that
changes, and ``check=True`` runs ``fn`` eagerly beside the next replays of each signature and raises,
naming the first op that differs, when they disagree (a branch taken differently later). Under
``detect_anomaly`` and inside another trace, the function runs eagerly.

State outside the graph: an op whose forward updates arrays it was given (``updates_state``: BatchNorm's
running statistics in training) runs its plain forward at every replay, so the update happens once per call
as in eager mode; ``check=True`` refuses such a function (it would run each checked call twice). Dropout is
refused at trace time (a replay would reuse one mask). Arrays an op's forward computes for its own VJP
(``op.saved``, e.g. LayerNorm's mean and inverse std) are not constants: the second-call check skips them.
"""

from __future__ import annotations

import builtins
import copy
import functools
import operator
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import ops
from .errors import AutogradError
from .grad_mode import STATE
from .tensor import (
    _HOOKS,
    Tensor,
    _accumulate_into_leaf,
    _new,
    _sum_over,
    _summed_axes,
    _target,
    _TracedMask,
    _unbroadcast,
)

__all__ = ["CompiledCall", "CompiledFunction", "compile"]

CHECKED_CALLS = 3  # replays of each signature that check=True compares with eager
_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}
_DRAWN_OUTSIDE_THE_OP = {"dropout"}  # ops whose per-call random state a trace would freeze
# Arithmetic on 0-d values of one dtype as Python expressions on NumPy scalars (same numbers as the
# ufuncs, a tenth of the time): the result, then each input's gradient, with the eager VJPs' formulas.
_SCALAR_RULES = {
    ops.Add: ("{a} + {b}", ("{g}", "{g}")),
    ops.Sub: ("{a} - {b}", ("{g}", "-{g}")),
    ops.Mul: ("{a} * {b}", ("{g} * {b}", "{g} * {a}")),
    ops.Div: ("{a} / {b}", ("{g} / {b}", "-({g} * {out}) / {b}")),
    ops.Neg: ("-{a}", ("-{g}",)),
}


def compile(fn: Callable | None = None, *, check: bool = False, cache_size: int = 8):
    """``fn`` as a ``CompiledFunction``: traced once per input signature, then replayed into reused buffers.

    Use it as ``step = ag.compile(fn)``, ``@ag.compile`` or ``@ag.compile(check=True)``. ``fn`` returns
    one Tensor; see this module's docstring for what is captured and what is frozen at trace time.
    """
    if fn is None:
        return functools.partial(compile, check=check, cache_size=cache_size)
    return CompiledFunction(fn, check=check, cache_size=cache_size)


class CompiledFunction:
    """A function traced per input signature and replayed; ``traces`` and ``replays`` count the calls."""

    def __init__(self, fn: Callable, *, check: bool = False, cache_size: int = 8) -> None:
        if not callable(fn):
            raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
        if cache_size < 1:
            raise ValueError(f"compile: cache_size must be at least 1, got {cache_size}")
        self.fn, self.check, self.cache_size = fn, check, cache_size
        self.traces = self.replays = 0
        self._programs: OrderedDict[tuple, _Program] = OrderedDict()
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<compiled {_name_of(self.fn)}: {len(self._programs)} signature(s) cached>"

    def __get__(self, instance, owner=None):
        """As a method decorator: the instance is one more argument, keyed by identity."""
        return self if instance is None else functools.partial(self, instance)

    def source(self) -> str:
        """The straight-line Python each cached program runs (forward, checked forward, backward)."""
        return "\n\n".join(program.source for program in self._programs.values())

    def __call__(self, *args, **kwargs) -> Tensor:
        if STATE.tape is not None or STATE.anomaly:  # inside another trace, or hunting NaNs: run as written
            return self.fn(*args, **kwargs)
        if kwargs:
            names = tuple(sorted(kwargs))
            arguments = (*args, *(kwargs[k] for k in names))
        else:
            names, arguments = (), args
        key = (
            names,
            *[  # (the common case inline: an array)
                ("array", a.shape, a.dtype, a.strides) if type(a) is np.ndarray else _describe(a, i)
                for i, a in enumerate(arguments)
            ],
        )
        program = self._programs.get(key)
        if program is not None:
            if len(self._programs) > 1:  # (least recently used goes first when the cache is full)
                self._programs.move_to_end(key)
            if program.confirmed:
                check = self.check and program.replays < CHECKED_CALLS
                result = program.replay(args, kwargs, arguments, check, self.fn)
                if result is not None:
                    self.replays += 1
                    return result
            elif program.fits():  # the second call runs eagerly and is compared with the trace
                return program.confirm(self.fn, args, kwargs)
            del self._programs[key]  # a leaf changed shape, dtype or requires_grad: trace again
        result, program = self._trace(args, kwargs, arguments)
        self._programs[key] = program
        if len(self._programs) > self.cache_size:
            self._programs.popitem(last=False)
        self.traces += 1
        return result

    def _trace(self, args, kwargs, given: tuple) -> tuple[Tensor, _Program]:
        result, tape, arguments, outside = _run_on_tape(self.fn, args, kwargs)
        if not isinstance(result, Tensor):
            raise TypeError(
                f"compile: {_name_of(self.fn)} must return one Tensor, got {type(result).__name__}"
            )
        wrapped = {id(a): a is not g for a, g in zip(arguments, given, strict=True)}
        if self.check:
            _refuse_state_updates_under_check(tape, _name_of(self.fn))
        program = _Program(tape, result, arguments, _name_of(self.fn), wrapped, outside)
        return program.as_eager_gives(result), program


def _refuse_state_updates_under_check(tape: list, name: str) -> None:
    """check=True runs each checked call eagerly and replayed: an op that updates state outside the graph
    (BatchNorm's running statistics in training) would be updated twice, so it is refused."""
    for op, *_ in tape:
        if getattr(op, "updates_state", False) and getattr(op, "training", False):
            raise AutogradError(
                f"compile: {name} uses {op.label()}, which updates running statistics in place; check=True "
                "would run each checked call twice (eagerly and replayed) and update them twice: compile it "
                "without check=True, or check it in evaluation mode (model.eval())"
            )


class CompiledCall(ops.Op):
    """One replay, and the node of its result: its VJP runs the planned backward of that call. It holds
    the call's arguments, the arrays its leaves had and their versions (to replay the forward again,
    and to check the leaves were not changed in place since)."""

    __slots__ = ("arguments", "externals", "parameters", "program", "versions")
    name = "compiled"
    keeps_inputs = False

    def __init__(self, program: _Program, arguments: tuple, externals: list) -> None:
        self.program, self.arguments, self.externals = program, arguments, externals
        self.versions: tuple = ()
        self.parameters: list = []  # the argument arrays its ops took as parameters (an index, say)

    def details(self) -> str:
        return self.program.name

    def forward(self, *xs):
        raise AutogradError("compiled: a compiled call's node is created by its replay, never applied")

    def vjp(self, g, out, *leaves):
        if not isinstance(g, np.ndarray):
            raise AutogradError(
                f"compiled {self.program.name}: backward(create_graph=True) cannot go through a compiled "
                "call; call the function uncompiled to differentiate its gradients"
            )
        return self.program.backward(self, g)


class _CompiledResult(Tensor):
    """The result of a replay that records a gradient: ``backward()`` on it runs the planned backward
    directly and gives the leaves their gradients as the engine would (used, not copied: they are fresh)."""

    __slots__ = ()

    def backward(self, grad=None, create_graph: bool = False) -> None:
        node = self._op
        if grad is not None or create_graph or STATE.anomaly or self.data.size != 1:
            return super().backward(grad, create_graph)
        leaves = node.targets
        if not (node.program.leaves_only or all([isinstance(t, Tensor) for t in leaves])) or (
            _HOOKS and any(id(t) in _HOOKS for t in leaves)
        ):
            return super().backward(grad, create_graph)  # a node of an eager graph, or hooks: the engine
        recording = STATE.enabled
        STATE.enabled = False
        seed = node.program.unit_seed
        try:
            grads = node.program.backward(node, seed)
        finally:
            STATE.enabled = recording
        for leaf, g in zip(leaves, grads, strict=True):
            if g is seed or g.base is seed:  # the seed passed straight through: the caller's own array
                g = g.copy()
            if leaf._grad is None:  # the common case, as _accumulate_into_leaf does it
                leaf._grad = g
            else:
                _accumulate_into_leaf(leaf, g, True, False)


# ---------------------------------------------------------------------------------------- tracing


def _name_of(fn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _describe(value, index: int):
    """The part of the cache key that argument ``index`` decides."""
    if type(value) is np.ndarray:  # strides too: whether a reshape gives a view depends on them
        return ("array", value.shape, value.dtype, value.strides)
    if isinstance(value, Tensor):
        data = value.data
        return ("tensor", data.shape, data.dtype, data.strides, value.requires_grad)
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype, value.strides)
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"compile: argument {index} is a {type(value).__name__}, which is neither a Tensor, an ndarray "
            "nor a hashable value (numbers, strings, tuples) the cache could key on; pass it as an array"
        ) from None
    return ("value", type(value), value)


def _traceable(value):
    """An ndarray argument as the traced function gets it: a float array as a Tensor around the same
    array (so arithmetic on it is recorded), an integer or boolean one as a view that marks what NumPy
    derives from it (labels reshaped, sliced or converted before a loss); anything else as it is."""
    if type(value) is np.ndarray:
        if value.dtype.kind == "f":
            argument = _FloatArgument(value)
            argument.read_outside = False
            return argument
        if value.dtype.kind in "biu":
            return value.view(_IntegerArgument)
    return value


_DATA = Tensor.data  # the slot holding a Tensor's array, read below without the property


class _FloatArgument(Tensor):
    """A float ndarray argument during a trace: a Tensor around the caller's array that notes whether
    ``fn`` read its values outside the ops (``.data``, ``.numpy()``, ``np.asarray``, ``.item()``).
    Its shape, dtype and size are free to read: they belong to the signature."""

    __slots__ = ("read_outside",)

    @property
    def data(self) -> np.ndarray:
        self.read_outside = True
        return _DATA.__get__(self)

    @data.setter
    def data(self, value: np.ndarray) -> None:
        _DATA.__set__(self, value)

    @property
    def shape(self) -> tuple[int, ...]:
        return _DATA.__get__(self).shape

    @property
    def ndim(self) -> int:
        return _DATA.__get__(self).ndim

    @property
    def size(self) -> int:
        return _DATA.__get__(self).size

    @property
    def dtype(self) -> np.dtype:
        return _DATA.__get__(self).dtype

    def __len__(self) -> int:
        return len(_DATA.__get__(self))


class _IntegerArgument(np.ndarray):
    """An integer or boolean ndarray argument during a trace: a view of the caller's array. Arrays
    NumPy derives from it keep this class, and a copy ``astype`` makes remembers its source
    (``converted_from``), so the trace can recompute an op's index array from each call's argument
    (a view by the positions of its elements, a conversion by astype) or refuse it."""

    def __array_finalize__(self, obj) -> None:
        derived = getattr(_TRACING, "derived", None)
        if derived is not None:  # every array of this class made during the trace
            derived.append(self)

    def astype(self, dtype, *args, **kwargs):
        result = super().astype(dtype, *args, **kwargs)
        if result is not self and not np.may_share_memory(result, self):
            result.converted_from = self
        return result


_TRACING = threading.local()  # .derived: the arrays NumPy derived from integer arguments during a trace


class _Tape(list):
    """The ops a trace applied, in order, and what tensor.py notes beside them while it traces."""

    def __init__(self) -> None:
        super().__init__()
        self.masks: list = []  # the comparison results of traced tensors, and arrays NumPy derived from them
        self.sources: dict = {}  # id(an op's constant or index) -> (it, the array it was converted from)


class _Outside(NamedTuple):
    """What a traced run of fn did with its arguments outside the ops."""

    read: frozenset  # the float arguments whose values it read
    derived: list  # the arrays NumPy derived from its integer arguments
    masks: list  # the comparison masks of traced values (tensor.py's _TracedMask)
    sources: dict  # what each constant operand or index was converted from


def _read_outside(argument) -> bool:
    """Whether fn read a float argument's values outside the ops during the trace."""
    return isinstance(argument, _FloatArgument) and argument.read_outside


def _run_on_tape(fn, args, kwargs) -> tuple[object, list, tuple, _Outside]:
    """Run ``fn`` eagerly with recording on; its result, every op it applied, the arguments it got, and
    what it did with them outside the ops."""
    derived: list = []
    saved_derived, _TRACING.derived = getattr(_TRACING, "derived", None), derived
    try:
        args = tuple([_traceable(a) for a in args])
        kwargs = {k: _traceable(v) for k, v in kwargs.items()}
        tape = _Tape()
        saved = STATE.tape, STATE.enabled
        STATE.tape, STATE.enabled = tape, True  # record all: a later call may need gradients
        try:
            result = fn(*args, **kwargs)
        finally:
            STATE.tape, STATE.enabled = saved
    finally:
        _TRACING.derived = saved_derived
    arguments = (*args, *(kwargs[k] for k in sorted(kwargs)))
    read = frozenset([i for i, a in enumerate(arguments) if _read_outside(a)])  # before the trace reads them
    return result, tape, arguments, _Outside(read, derived, tape.masks, tape.sources)


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


class _Stand:
    """What a VJP gets for a value its op does not keep: only the shape and dtype."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


class _Step:
    """One instruction of the program: ``run(env)`` reads values ``ins`` and writes values ``outs``."""

    __slots__ = ("how", "inplace", "ins", "label", "node", "outs", "scratch")

    def __init__(
        self, label: str, ins: list[int], outs: list[int], inplace=(), node: int | None = None, how: str = ""
    ):
        self.label, self.ins, self.outs = label, ins, outs
        self.inplace = inplace  # (out, candidate inputs it may overwrite) pairs
        self.node = node  # the index of the traced op it runs (None: a sum of gradients)
        self.scratch: tuple = ()  # (shape, dtype) of each buffer the step needs only while it runs
        # How its op runs: "scalar" (a _SCALAR_RULES expression), "expression" (this module's op written
        # out), "into" (forward_into/vjp_into a buffer), "passes" (g handed on) or "plain" (forward/vjp)
        self.how = how


class _Program:
    """The traced ops of one signature as a planned straight-line program (see the module docstring)."""

    def __init__(
        self, tape: list, result: Tensor, arguments: tuple, name: str, wrapped: dict, outside: _Outside
    ) -> None:
        self.name = name
        self.read_outside = outside.read  # the float arguments fn read outside the ops at the trace
        self.derived = outside.derived  # (only while the program is built)
        self.masks, self.sources = outside.masks, outside.sources
        self.wrapped_arguments = wrapped  # id(argument as fn got it) -> whether compile wrapped an array
        self.replays = 0
        self.lock = threading.Lock()
        self.owner: CompiledCall | None = None  # the call whose values the buffers hold
        self.shapes: list[tuple[int, ...]] = []
        self.dtypes: list[np.dtype] = []
        self._record(tape, result, arguments)
        self._build_backward()
        self._plan_buffers()
        self._generate_code()

    # ------------------------------------------------------------------ the traced graph
    def _new_value(self, shape: tuple[int, ...], dtype: np.dtype) -> int:
        self.shapes.append(shape)
        self.dtypes.append(dtype)
        return len(self.shapes) - 1

    def _record(self, tape: list, result: Tensor, arguments: tuple) -> None:
        produced: dict[int, int] = {}  # id(tensor) -> value made by an earlier op
        made_array: dict[int, int] = {}  # id(array) -> that value, to see a detached intermediate
        arg_tensor = {id(a): i for i, a in enumerate(arguments) if isinstance(a, Tensor)}
        arg_array = {
            id(a.data if isinstance(a, Tensor) else a): i
            for i, a in enumerate(arguments)
            if isinstance(a, (Tensor, np.ndarray))
        }
        self.arg_values: list[tuple[int, int]] = []  # (value, argument index)
        self.leaf_values: list[tuple[int, Tensor]] = []  # (value, tensor held by identity)
        self.grad_leaf: dict[int, object] = {}  # value -> argument index or Tensor, for leaves needing grad
        leaf_of: dict[int, int] = {}  # id(tensor or array) -> value
        self.tape_position: dict[int, int] = {}  # value -> the index of the tape entry that made it
        self.fresh_at_trace: set[int] = set()  # values whose op gave a new array, sharing no input's memory
        # (op, attribute, position or None, read(arguments) -> the array, the argument's index)
        self.parameters_from_arguments: list[tuple] = []
        nodes: list[tuple[ops.Op, list[int], int, bool]] = []
        # whether argument i came as a Tensor (its .data is read), not as an array compile wrapped
        self.given_tensor = [
            isinstance(a, Tensor) and not self.wrapped_arguments.get(id(a), False) for a in arguments
        ]
        self.tape_labels = [entry[0].label() for entry in tape]  # what check=True compares a call's ops with
        for position, (op, inputs, output, recorded) in enumerate(tape):
            ins = []
            for t in inputs:
                v = produced.get(id(t))
                if v is None:
                    v = self._leaf(t, arg_tensor, arg_array, made_array, leaf_of, nodes, arguments)
                ins.append(v)
            out = self._new_value(output.data.shape, output.data.dtype)
            if not any(np.may_share_memory(output.data, t.data) for t in inputs):
                self.fresh_at_trace.add(out)  # a new array, not a view (the same again for the same strides)
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
            self.tape_position[out] = position
        v = produced.get(id(result))
        if v is None:  # fn returned a leaf itself, or a detached value
            v = self._leaf(result, arg_tensor, arg_array, made_array, leaf_of, nodes, arguments)
        self.result, self.result_name = v, result.name
        # Keep only what the result depends on, in order; then which values carry a gradient.
        needed = {v}
        for _, ins, out, _ in reversed(nodes):
            if out in needed:
                needed.update(ins)
        self._note_what_the_second_call_must_repeat(tape, nodes, needed)
        kept = [n for n in nodes if n[2] in needed]
        for pattern in (self._product_with_transposed, self._affine, self._sum_of_squares):
            kept = self._fuse(kept, pattern)
        self.nodes = kept
        self.arg_values = [(v, i) for v, i in self.arg_values if v in needed]
        self.leaf_values = [(v, t) for v, t in self.leaf_values if v in needed]
        self.grad_leaf = {v: who for v, who in self.grad_leaf.items() if v in needed}
        self.needs_grad = set(self.grad_leaf)
        for _, ins, out, recorded in self.nodes:
            if recorded and any(i in self.needs_grad for i in ins):
                self.needs_grad.add(out)
        self.differentiable = self.result in self.needs_grad
        self._check_arguments_reach_the_graph(arguments)
        self.derived, self.masks, self.sources = [], [], {}  # the trace's arrays are not kept
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
        for attribute, part, array in _array_parameters(op):
            self._refuse_a_traced_mask(array, op, position, f"its {attribute}")
            if id(array) in arg_array:
                i = arg_array[id(array)]
                self.parameters_from_arguments.append((op, attribute, part, operator.itemgetter(i), i))
                continue
            found = self._derivation(array, arguments)
            if found is not None:
                self.parameters_from_arguments.append((op, attribute, part, *found))
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
            array = _DATA.__get__(t)
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
        if isinstance(array, _IntegerArgument) or any(np.may_share_memory(array, d) for d in self.derived):
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
            if not isinstance(argument, _IntegerArgument):
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
            isinstance(a, _IntegerArgument) and a.shape == array.shape and np.array_equal(a, array)
            for a in arguments
        )

    def _note_what_the_second_call_must_repeat(self, tape: list, nodes: list, needed: set) -> None:
        """The held leaves and array parameters of the ops that matter, by tape position: the second
        call's eager run must give them the same values, or they were frozen by this trace."""
        held = dict(self.leaf_values)
        bound = {(id(op), attribute, part) for op, attribute, part, _, _ in self.parameters_from_arguments}
        self.confirm_leaves, self.confirm_parameters = [], []
        for op, ins, out, _ in nodes:
            position = self.tape_position.get(out)
            if out not in needed or position is None:
                continue
            self.confirm_leaves += [(position, k, held[v]) for k, v in enumerate(ins) if v in held]
            for attribute, part, array in _array_parameters(op):
                if (id(op), attribute, part) not in bound:
                    self.confirm_parameters.append((position, attribute, part, array))
        self.confirmed = False

    def _fuse(self, nodes: list, pattern) -> list:
        """Replace each node that ``pattern`` matches, with the one value feeding it, by one fused op.

        ``pattern(op, ins, producer)`` sees a node and the (op, ins, recorded) that made its
        ``ins[k]``; it returns ``(k, fused_op, fused_ins)`` or None. The feeding value is dropped, so
        it must have no other use, be recorded alike, and not be the function's result.
        """
        uses: dict[int, int] = defaultdict(int)
        for _, ins, _, _ in nodes:
            for i in ins:
                uses[i] += 1
        made_by = {out: (op, ins, recorded) for op, ins, out, recorded in nodes}
        fused, dropped = [], set()
        for op, ins, out, recorded in nodes:
            match = pattern(op, ins, made_by)
            if match is not None:
                k, fused_op, fused_ins = match
                if made_by[ins[k]][2] == recorded and uses[ins[k]] == 1 and ins[k] != self.result:
                    dropped.add(ins[k])
                    op, ins = fused_op, fused_ins
            fused.append((op, ins, out, recorded))
        return [n for n in fused if n[2] not in dropped]

    def _product_with_transposed(self, op, ins, made_by):
        """``x @ w.T`` with 2-D w and x of 2 or more axes (a layer on a batch of sequences: its rows) as one
        op, so w's gradient comes out in w's layout (g.T @ x)."""
        if type(op) is not ops.MatMul or len(self.shapes[ins[0]]) < 2:
            return None
        transpose = made_by.get(ins[1])
        if (
            transpose is None
            or type(transpose[0]) is not ops.Transpose
            or transpose[0].axes is not None
            or len(self.shapes[transpose[1][0]]) != 2
        ):
            return None
        x, w = ins[0], transpose[1][0]
        return 1, _ProductWithTransposed(self.dtypes[x] == self.dtypes[w]), [x, w]

    def _affine(self, op, ins, made_by):
        """``x @ w.T + b`` with b of shape (units,) as one op: the bias added into the product's buffer,
        and its gradient taken from g directly."""
        if type(op) is not ops.Add:
            return None
        for k in (0, 1):
            product, bias = made_by.get(ins[k]), ins[1 - k]
            if product is None or type(product[0]) is not _ProductWithTransposed:
                continue
            shape = self.shapes[ins[k]]
            if self.shapes[bias] == shape[-1:] and self.dtypes[bias] == self.dtypes[ins[k]]:
                return k, _Affine(product[0].product is np.dot), [*product[1], bias]
        return None

    def _sum_of_squares(self, op, ins, made_by):
        """``(x**2).sum()`` (an L2 penalty) as one op: one dot product forward, one pass backward."""
        if type(op) is not ops.Sum or op.axis is not None or op.keepdims:
            return None
        square = made_by.get(ins[0])
        if square is None or type(square[0]) is not ops.Pow or square[0].exponent != 2:
            return None
        return 0, _SumOfSquares(), [square[1][0]]

    def _leaf(self, t: Tensor, arg_tensor, arg_array, made_array, leaf_of, nodes, arguments) -> int:
        """The value of a tensor no recorded op made: an argument, a detached intermediate or a held leaf."""
        if id(t) in leaf_of:
            return leaf_of[id(t)]
        if id(t) in arg_tensor:  # the Tensor passed: gradients reach it, as in eager mode
            v = self._new_value(t.data.shape, t.data.dtype)
            self.arg_values.append((v, arg_tensor[id(t)]))
            if t.requires_grad:
                self.grad_leaf[v] = arg_tensor[id(t)]
        elif id(t.data) in arg_array:  # a new Tensor around an argument's array: a constant per call
            v = self._new_value(t.data.shape, t.data.dtype)
            self.arg_values.append((v, arg_array[id(t.data)]))
        elif id(t.data) in made_array:  # t.detach() of an intermediate: its value, without gradient
            v = self._new_value(t.data.shape, t.data.dtype)
            nodes.append((_StopGradient(), [made_array[id(t.data)]], v, False))
        else:
            v = self._new_value(t.data.shape, t.data.dtype)
            self.leaf_values.append((v, t))
            if t.requires_grad:
                self.grad_leaf[v] = t
        leaf_of[id(t)] = v
        return v

    def _check_arguments_reach_the_graph(self, arguments: tuple) -> None:
        """Refuse an argument ``fn`` turned into a constant outside the ops: replays would freeze it."""
        used = {i for _, i in self.arg_values} | {entry[4] for entry in self.parameters_from_arguments}
        for i, a in enumerate(arguments):
            if i in used or not isinstance(a, (Tensor, np.ndarray)):
                continue
            if isinstance(a, _FloatArgument) and i not in self.read_outside:
                continue  # fn never read it: an unused argument, whatever constants it holds
            array = _DATA.__get__(a) if isinstance(a, Tensor) else a
            for _, t in self.leaf_values:
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
        if isinstance(argument, _FloatArgument):
            return True
        return np.array_equal(constant, array.astype(constant.dtype), equal_nan=constant.dtype.kind == "f")

    # ------------------------------------------------------------------ the program
    def _build_backward(self) -> None:
        """Forward steps for every node; VJP and fan-out-sum steps for the gradients; the values' kinds."""
        self.ops: list[ops.Op] = []
        self.steps: list[_Step] = []
        self.kind: dict[int, str] = {}  # value -> "external" | "buffer" | "fresh"
        for v, _ in self.arg_values:
            self.kind[v] = "external"
        for v, _ in self.leaf_values:
            self.kind[v] = "external"
        for index, (op, ins, out, _) in enumerate(self.nodes):
            op.targets = tuple([True if i in self.needs_grad else None for i in ins])  # for op.needs_grad
            self.ops.append(op)
            if self._scalar_rule(op, ins, out) is not None:
                how = "scalar"
            elif getattr(op, "expression", None) is not None:
                how = "expression"
            else:
                how = "plain" if _fast_path(op, "forward_into", "forward") is None else "into"
            into = how == "into" and out != self.result  # (the result is a new array at every call)
            self.kind[out] = "buffer" if into else "fresh"
            inplace = ((out, ins),) if into and _fast_path(op, "forward_in_place", "forward") else ()
            step = _Step(op.label(), ins, [out], inplace, node=index, how=how)
            scratch = _fast_path(op, "forward_scratch", "forward")
            if scratch is not None:
                step.scratch = tuple(scratch(op, *[_Stand(self.shapes[i], self.dtypes[i]) for i in ins]))
            self.steps.append(step)
        self.forward_steps = len(self.steps)
        self.seed = self._new_value(self.shapes[self.result], self.dtypes[self.result])
        self.kind[self.seed] = "external"
        contributions: dict[int, list[int]] = defaultdict(list)
        grad_of: dict[int, int] = {self.result: self.seed}
        self.summed_from_g: set[int] = set()  # gradient values a passed-through g was summed into
        for index in reversed(range(len(self.nodes))):
            op, ins, out, recorded = self.nodes[index]
            if not recorded or out not in self.needs_grad:
                continue
            g = self._gradient(out, contributions, grad_of)
            if g is None:  # every use of out was inside no_grad
                continue
            op = self.ops[index]
            reads = [g]
            if op.keeps_output:
                reads.append(out)
            if op.keeps_inputs:
                reads.extend(ins)
            grads = []
            for i in ins:
                if i in self.needs_grad:
                    c = self._new_value(self.shapes[i], self.dtypes[i])
                    contributions[i].append(c)
                    grads.append(c)
                else:
                    grads.append(None)
            if self._scalar_rule(op, ins, out) is not None:  # Python expressions on NumPy scalars
                how = "scalar"
            elif self._passes_gradient(op, ins, out):  # next best: no call, no pass over g
                how = "passes"
            else:
                how = "plain" if _fast_path(op, "vjp_into", "vjp") is None else "into"
            into = how == "into"
            for c in grads:
                if c is not None:
                    self.kind[c] = "buffer" if into else "fresh"
            if how == "passes":
                for c, i in zip(grads, ins, strict=True):
                    if c is not None and self.shapes[i] != self.shapes[out]:
                        self.summed_from_g.add(c)  # g summed to a smaller shape: a new array
            inplace = ()
            if into and grads[0] is not None:
                overwritable = _fast_path(op, "vjp_in_place", "vjp") or ()
                given = {"g": g, **({k: i for k, i in enumerate(ins)} if op.keeps_inputs else {})}
                inplace = ((grads[0], [given[w] for w in overwritable if w in given]),)
            step = _Step(
                f"vjp of {op.label()}", reads, [c for c in grads if c is not None], inplace, index, how
            )
            step.node = index
            self.steps.append(step)
        self.leaf_grads = []  # (leaf value, its gradient's value), for leaves a gradient reaches
        for v in list(self.grad_leaf):
            g = self._gradient(v, contributions, grad_of)
            if g is None:
                del self.grad_leaf[v]
            else:
                self.leaf_grads.append((v, g))

    def _scalar_rule(self, op: ops.Op, ins: list[int], out: int) -> tuple | None:
        """``_SCALAR_RULES``' entry for arithmetic on 0-d values of one dtype (an L2 term's
        ``lam / (2 * m) * total``), else None."""
        rule = _SCALAR_RULES.get(type(op))
        if rule is None or self.shapes[out] or any(self.shapes[i] for i in ins):
            return None
        return rule if all(self.dtypes[i] == self.dtypes[out] for i in ins) else None

    @staticmethod
    def _operands(g: int | None, out: int, ins: list[int]) -> dict[str, str]:
        """The names a scalar rule's expressions use, as the program's values."""
        return {"g": f"e[{g}]", "out": f"e[{out}]", "a": f"e[{ins[0]}]", "b": f"e[{ins[-1]}]"}

    def _passes_gradient(self, op: ops.Op, ins: list[int], out: int) -> bool:
        """Whether each gradient op's VJP gives is g itself (``Op.vjp_passes_g``), summed to its input's
        shape: the program then passes g on (or sums it) without calling the VJP."""
        passes = _fast_path(op, "vjp_passes_g", "vjp") or ()
        return all(
            k in passes and self.dtypes[i] == self.dtypes[out]
            for k, i in enumerate(ins)
            if i in self.needs_grad
        )

    def _gradient(self, v: int, contributions: dict, grad_of: dict) -> int | None:
        """The value holding v's whole gradient: its one contribution, or a step summing them."""
        if v in grad_of:
            return grad_of[v]
        parts = contributions.pop(v, None)
        if not parts:
            return None
        if len(parts) == 1:
            grad_of[v] = parts[0]
            return parts[0]
        total = self._new_value(self.shapes[v], self.dtypes[v])
        self.kind[total] = "buffer"
        # It may overwrite one of the two parts its first addition reads, never a later one
        self.steps.append(_Step("sum of gradients", parts, [total], ((total, parts[:2]),)))
        grad_of[v] = total
        return total

    # ------------------------------------------------------------------ buffers
    def _plan_buffers(self) -> None:
        """Give every buffer value an array, sharing one array among values whose lifetimes do not overlap.

        A "fresh" value (a plain forward or VJP result) may share memory with any value its step
        read, so it keeps those alive as long as itself. The result and the leaves' gradients
        escape to the caller: they are allocated anew at every call, never taken from the pool.
        """
        steps, kind = self.steps, self.kind
        roots: dict[int, frozenset] = {}  # value -> buffer values whose memory it may share
        for v, k in kind.items():
            if k == "buffer":
                roots[v] = frozenset([v])
            elif k == "external":
                roots[v] = frozenset()
        for s, step in enumerate(steps):
            shared = frozenset().union(*(roots[i] for i in step.ins))
            if s < self.forward_steps and (step.how != "plain" or step.outs[0] in self.fresh_at_trace):
                shared = frozenset()  # its own array (or scalar): written into, or new at the trace
            for o in step.outs:
                if kind[o] == "fresh":
                    roots[o] = frozenset() if o in self.summed_from_g else shared
        self.roots = roots
        last_use = defaultdict(lambda: -1)
        for s, step in enumerate(steps):
            for i in step.ins:
                last_use[i] = s
            for o in step.outs:
                last_use[o] = max(last_use[o], s)
        end = len(steps)
        self.escaping = {self.result} | {g for _, g in self.leaf_grads}
        for v in self.escaping:
            last_use[v] = end
        dies = {}  # buffer value -> the step after which no value sharing its memory is used
        for v, r in roots.items():
            for b in r:
                dies[b] = max(dies.get(b, -1), last_use[v])
        for b in dies:
            if b in self.escaping:
                dies[b] = end
        self.slot: dict[int, int] = {}
        self.scratch_slots: dict[int, list[int]] = {}  # step -> the slots of its scratch buffers
        self.slot_specs: list[tuple[tuple[int, ...], np.dtype]] = []
        free: dict[tuple, list[int]] = defaultdict(list)
        holder: dict[int, int] = {}  # slot -> the value it holds now
        dying_at = defaultdict(list)
        for b, s in dies.items():
            dying_at[s].append(b)
        for s, step in enumerate(steps):
            for o in step.outs:
                if kind[o] != "buffer" or o in self.escaping:
                    continue
                spec = (self.shapes[o], self.dtypes[o])
                slot = self._overwritable(o, step, s, dies, spec)
                if slot is None:
                    pool = free[spec]
                    slot = pool.pop() if pool else len(self.slot_specs)
                    if slot == len(self.slot_specs):
                        self.slot_specs.append(spec)
                self.slot[o] = slot
                holder[slot] = o
            taken = []  # scratch: free slots (never this step's inputs or outputs), free again right after
            for spec in step.scratch:
                pool = free[spec]
                taken.append(pool.pop() if pool else len(self.slot_specs))
                if taken[-1] == len(self.slot_specs):
                    self.slot_specs.append(spec)
            self.scratch_slots[s] = taken
            for b in dying_at[s]:
                slot = self.slot.get(b)
                if slot is not None and holder.get(slot) == b:
                    free[self.slot_specs[slot]].append(slot)
                    holder[slot] = -1
            for slot in taken:
                free[self.slot_specs[slot]].append(slot)
        self.in_place = {o for step in steps for o, _ in step.inplace if o in self.slot}

    def _overwritable(self, o: int, step: _Step, s: int, dies: dict, spec: tuple) -> int | None:
        """The slot of an input ``o`` may overwrite: dead after this step, not shared by other inputs."""
        for out, candidates in step.inplace:
            if out != o:
                continue
            for v in candidates:
                if self.kind.get(v) != "buffer" or v in self.escaping or v not in self.slot:
                    continue
                if (self.shapes[v], self.dtypes[v]) != spec or dies.get(v) != s:
                    continue
                if any(w != v and v in self.roots[w] for w in step.ins):
                    continue
                if (  # a VJP written over g may overwrite everything it gets
                    step.node is not None
                    and s >= self.forward_steps
                    and v == step.ins[0]
                    and not self._vjp_may_overwrite(step, s, dies)
                ):
                    continue
                return self.slot[v]
        return None

    def _vjp_may_overwrite(self, step: _Step, s: int, dies: dict) -> bool:
        """An in-place VJP may overwrite every array it gets: each must be a buffer dying here."""
        return all(self.kind[i] == "buffer" and i not in self.escaping and dies.get(i) == s for i in step.ins)

    # ------------------------------------------------------------------ code
    def _generate_code(self) -> None:
        """Write the program as straight-line Python: ``forward(e)``, ``backward(e)`` (see ``source``).

        ``e`` holds every value by index; a buffer value's entry is its buffer, set once here. One
        line per step, no loop and no dispatch: replaying costs what its NumPy calls cost.
        """
        self.buffers = [np.empty(shape, dtype) for shape, dtype in self.slot_specs]
        self.env: list = [None] * len(self.shapes)
        for v, slot in self.slot.items():
            self.env[v] = self.buffers[slot]
        self.externals = [v for v, _ in self.arg_values] + [v for v, _ in self.leaf_values]
        names = {
            "ndarray": np.ndarray,
            "asarray": np.asarray,
            "array": np.array,
            "version_of": _version_of,
            "target": _target,
            "empty": np.empty,
            "add": np.add,
            "vdot": np.vdot,
            "fit": _fit,
            "axes": {},
        }
        lines = [self._emit(s, step, names) for s, step in enumerate(self.steps)]
        for step, step_lines in zip(self.steps, lines, strict=True):  # so source() says what each line does
            if step.node is not None and step_lines:
                step_lines[-1] += f"  # {step.label}"
        forward, backward = lines[: self.forward_steps], lines[self.forward_steps :]
        enter = self._emit_entry(names)
        result, grads = (self._escaping(v) for v in ([self.result], [g for _, g in self.leaf_grads]))
        result = result[0]
        self.source = "\n".join(
            [
                *enter,
                "",
                "def forward(e):",
                *(f"    {line}" for step in forward for line in step),
                f"    return {result}",
                "",
                "def checked_forward(e, check):",
                *(f"    {line}" for s, step in enumerate(forward) for line in [*step, f"check({s})"]),
                f"    return {result}",
                "",
                "def backward(e):",
                *(f"    {line}" for step in backward for line in step),
                f"    return ({''.join(g + ', ' for g in grads)})",
            ]
        )
        code = builtins.compile(self.source, f"<compiled {self.name}>", "exec")
        exec(code, names)
        self._forward, self._checked_forward, self._backward = (
            names["forward"],
            names["checked_forward"],
            names["backward"],
        )
        self._enter, self._versions, self._targets = names["enter"], names["versions"], names["targets"]
        self.fits = names["fits"]
        self.unit_seed = np.ones(self.shapes[self.result], self.dtypes[self.result])
        self.unit_seed.flags.writeable = False  # the seed of every backward() (a VJP never writes into g)

    def _emit_entry(self, names: dict) -> list[str]:
        """``enter(e, a)`` puts a call's arguments ``a`` and the held leaves' arrays into ``e`` and returns
        those arrays, or None, writing nothing, when a held leaf no longer has the shape, strides, dtype
        or requires_grad of the trace (``fits()`` says only that); ``versions(a)`` reads the version of
        every tensor the call reads (a view's is its base's); ``targets(a)`` says where each leaf's
        gradient goes (``node.targets``)."""
        read, versions, self.read_tensors = [], [], []  # read_tensors: a callable per tensor, for messages
        for k, (v, i) in enumerate(self.arg_values):
            given_tensor = self.given_tensor[i]
            read.append(f"    x{k} = e[{v}] = a[{i}]{'.data' if given_tensor else ''}")
            if given_tensor:
                versions.append(f"version_of(a[{i}])")
                self.read_tensors.append(lambda a, i=i: a[i])
        for k, (v, t) in enumerate(self.leaf_values, start=len(self.arg_values)):
            names[f"h{k}"] = t
            holder = t if t._base is None else t._base  # a view's version is its base's
            names[f"b{k}"] = holder
            read.append(f"    e[{v}] = x{k}")
            versions.append(f"b{k}._version")
            self.read_tensors.append(lambda a, t=t: t)
        held = {id(t): k for k, (_, t) in enumerate(self.leaf_values, start=len(self.arg_values))}
        # A leaf needing a gradient stays a leaf (in-place ops on it are refused); a tensor some eager
        # graph computed (an argument, or one held) sends its gradient to its node, the one it has now
        targets = [
            f"h{held[id(who)]}"
            if type(who) is not int and who._op is None
            else f"target({self._reader(who, held)})"
            for who in self.grad_leaf.values()
        ]
        self.leaves_only = all(type(who) is not int and who._op is None for who in self.grad_leaf.values())
        checks = []  # read each held leaf's array, and return when it no longer fits
        for k, (_, t) in enumerate(self.leaf_values, start=len(self.arg_values)):
            names[f"spec{k}"] = (t.data.shape, t.data.strides, t.data.dtype)
            checks.append(f"    x{k} = h{k}.data")
            checks.append(
                f"    if (x{k}.shape, x{k}.strides, x{k}.dtype) != spec{k} "
                f"or h{k}._requires_grad is not {t.requires_grad}:"
            )
            checks.append("        return {}")
        return [
            "def fits():",
            *[line.format("False") for line in checks],
            "    return True",
            "",
            "def enter(e, a):",
            *[line.format("None") for line in checks],
            *read,
            f"    return [{', '.join(f'x{k}' for k in range(len(read)))}]",
            "",
            "def versions(a):",
            f"    return ({''.join(v + ', ' for v in versions)})",
            "",
            "def targets(a):",
            f"    return ({''.join(t + ', ' for t in targets)})",
        ]

    @staticmethod
    def _reader(who, held: dict) -> str:
        """How generated code names a leaf: argument ``who`` of the call, or the held tensor ``who``."""
        return f"a[{who}]" if type(who) is int else f"h{held[id(who)]}"

    def _escaping(self, values: list[int]) -> list[str]:
        """How the program hands values to the caller: arrays of their own (0-d values may be scalars)."""
        return [
            f"e[{v}]" + (".copy()" if self._shared(v) else "")
            if self.shapes[v]
            else f"{'array' if self._shared(v) else 'asarray'}(e[{v}])"
            for v in values
        ]

    def _shared(self, v: int) -> bool:
        """Whether value v may share memory with a buffer (then the caller gets a copy)."""
        return any(b in self.slot for b in self.roots.get(v, ()))

    def _allocate(self, v: int, names: dict) -> list[str]:
        """The line giving an escaping or fresh value with a buffer-writing producer a new array."""
        if v in self.slot:
            return []
        names[f"S{v}"], names[f"D{v}"] = self.shapes[v], self.dtypes[v]
        return [f"e[{v}] = empty(S{v}, D{v})"]

    def _emit(self, s: int, step: _Step, names: dict) -> list[str]:
        """The Python lines of step ``s``; the functions and constants they name go into ``names``."""
        if step.node is None:  # the sum of a value's gradient contributions
            (total,), parts = step.outs, step.ins
            if total in self.slot or not self.shapes[total]:  # (0-d: add would give a NumPy scalar)
                lines = [*self._allocate(total, names), f"add(e[{parts[0]}], e[{parts[1]}], out=e[{total}])"]
            else:  # a new array (it escapes): the first addition makes it
                lines = [f"e[{total}] = add(e[{parts[0]}], e[{parts[1]}])"]
            lines += [f"add(e[{total}], e[{p}], out=e[{total}])" for p in parts[2:]]
            return lines
        op = names[f"op{s}"] = self.ops[step.node]
        if s < self.forward_steps:
            (out,), args = step.outs, ", ".join(f"e[{i}]" for i in step.ins)
            if step.how == "scalar":  # a NumPy scalar: every op takes one, and the caller gets an array
                rule = self._scalar_rule(op, step.ins, out)
                return [f"e[{out}] = {rule[0].format(**self._operands(None, out, step.ins))}"]
            if step.how == "expression":  # one of this module's ops, written out
                return [f"e[{out}] = {op.expression.format(*[f'e[{i}]' for i in step.ins])}"]
            if step.how == "plain":
                return [f"r = op{s}.forward({args})", f"e[{out}] = r if type(r) is ndarray else asarray(r)"]
            if step.scratch:
                names[f"scratch{s}"] = tuple([self.buffers[slot] for slot in self.scratch_slots[s]])
                args += f", scratch=scratch{s}"
            return [*self._allocate(out, names), f"op{s}.forward_into(e[{out}], {args})"]
        _, ins, out, _ = self.nodes[step.node]
        if op.keeps_output:
            given = [f"e[{out}]"]
        else:
            names[f"out{s}"] = _Stand(self.shapes[out], self.dtypes[out])
            given = [f"out{s}"]
        for k, i in enumerate(ins):
            if op.keeps_inputs:
                given.append(f"e[{i}]")
            else:
                names[f"in{s}_{k}"] = _Stand(self.shapes[i], self.dtypes[i])
                given.append(f"in{s}_{k}")
        contributions = iter(step.outs)  # in input order
        grads = [next(contributions) if i in self.needs_grad else None for i in ins]
        g = step.ins[0]
        if step.how == "scalar":
            rule, operands = self._scalar_rule(op, ins, out), self._operands(g, out, ins)
            return [f"e[{c}] = {rule[1][k].format(**operands)}" for k, c in enumerate(grads) if c is not None]
        if step.how == "into":
            lines = [line for c in grads if c is not None for line in self._allocate(c, names)]
            buffers = ", ".join("None" if c is None else f"e[{c}]" for c in grads)
            return [*lines, f"op{s}.vjp_into(({buffers},), e[{g}], {', '.join(given)})"]
        if step.how == "passes":  # g itself, or g summed to the input's shape
            lines = []
            for c, i in zip(grads, ins, strict=True):
                if c is not None and self.shapes[i] == self.shapes[out]:
                    lines.append(f"e[{c}] = e[{g}]")
                elif c is not None:
                    names[f"S{i}"], names[f"D{i}"] = self.shapes[i], self.dtypes[i]
                    lines.append(f"e[{c}] = fit(e[{g}], S{i}, D{i}, op{s}, axes)")
            return lines
        lines = [f"r = op{s}.vjp(e[{g}], {', '.join(given)})"]
        for k, (c, i) in enumerate(zip(grads, ins, strict=True)):
            if c is not None:
                names[f"S{i}"], names[f"D{i}"] = self.shapes[i], self.dtypes[i]
                lines.append(f"e[{c}] = fit(r[{k}], S{i}, D{i}, op{s}, axes)")
        return lines

    def as_eager_gives(self, result: Tensor) -> Tensor:
        """A result of ``fn`` run on the tape (recording on), as eager mode under the caller's mode gives it."""
        if STATE.enabled and self.differentiable:
            return result
        detached = result.detach()  # nothing would have been recorded
        detached._name = None
        return detached

    def confirm(self, fn: Callable, args: tuple, kwargs: dict) -> Tensor:
        """The second call: run ``fn`` eagerly again, and refuse the program if a value it holds as a
        constant came out different (NumPy on an argument, ``.item()``, a mask, a random draw)."""
        result, tape, _, _ = _run_on_tape(fn, args, kwargs)
        self._check_same_ops([entry[0].label() for entry in tape])
        for position, k, first in self.confirm_leaves:
            now = tape[position][1][k]
            if now is first:
                continue
            same = not first._requires_grad and now.data.shape == first.data.shape
            if not (same and np.array_equal(now.data, first.data, equal_nan=True)):
                self._refuse(position, tape, f"its input {k}")
        for position, attribute, part, first in self.confirm_parameters:
            now = getattr(tape[position][0], attribute, None)
            now = now[part] if part is not None and isinstance(now, tuple) else now
            if not (isinstance(now, np.ndarray) and now.shape == first.shape and np.array_equal(now, first)):
                self._refuse(position, tape, f"its parameter {attribute}")
        self.confirmed = True
        return self.as_eager_gives(result)

    def _refuse(self, position: int, tape: list, what: str) -> None:
        raise AutogradError(
            f"compile: {self.name}: op {position} ({tape[position][0].label()}) got {what} as a value computed "
            "outside the ops, and it changed between the first two calls (NumPy on an argument, .item(), a "
            "mask from a comparison, a random draw); a replay would freeze the first call's value. Compute "
            "it with tensor ops or pass it as an argument, or call the function uncompiled"
        )

    def replay(self, args: tuple, kwargs: dict, arguments: tuple, check: bool, fn: Callable) -> Tensor | None:
        """Run the forward for these arguments; None when a held leaf no longer fits the trace."""
        env = self.env
        reference = self._eager_reference(fn, args, kwargs) if check else None
        with self.lock:
            externals = self._enter(env, arguments)
            if externals is None:
                return None
            call = CompiledCall(self, arguments, externals)
            if self.parameters_from_arguments:
                call.parameters = [entry[3](arguments) for entry in self.parameters_from_arguments]
                self._set_parameters(call.parameters)
            if reference is None:
                data = self._forward(env)
            else:
                data = self._checked_forward(env, lambda s: self._compare(self.steps[s], reference))
            self.owner = call
        self.replays += 1
        if not (STATE.enabled and self.differentiable):
            result = _new(data, False)
            result._name = self.result_name
            return result
        result = _new(data, True)
        result.__class__ = _CompiledResult
        result._name = self.result_name
        node = call
        node.versions = self._versions(arguments)
        node.targets = node.parents = self._targets(arguments)
        node.output, node.output_name, node.scope = None, self.result_name, STATE.scope
        node.shape, node.dtype = data.shape, data.dtype
        result._op = node
        return result

    def _set_parameters(self, values: list) -> None:
        for (op, attribute, position, _, _), value in zip(
            self.parameters_from_arguments, values, strict=True
        ):
            if position is None:
                setattr(op, attribute, value)
            else:
                parts = list(getattr(op, attribute))
                parts[position] = value
                setattr(op, attribute, tuple(parts))

    def backward(self, call: CompiledCall, g: np.ndarray) -> tuple:
        """The gradients of the call's leaves (``node.targets`` order), given g for its result."""
        if self._versions(call.arguments) != call.versions:
            self._changed_in_place(call)
        with self.lock:
            env = self.env
            if self.owner is not call:  # a later call reused the buffers: this call's forward again
                for v, array in zip(self.externals, call.externals, strict=True):
                    env[v] = array
                if self.parameters_from_arguments:
                    self._set_parameters(call.parameters)
                self._forward(env)
            env[self.seed] = g
            grads = self._backward(env)
            self.owner = None  # the backward overwrote values the forward left
        return grads

    def _changed_in_place(self, call: CompiledCall) -> None:
        """Raise, naming the tensor the call read that was changed in place since."""
        for read, then, now in zip(
            self.read_tensors, call.versions, self._versions(call.arguments), strict=True
        ):
            if then != now:
                t = read(call.arguments)
                label = f" ({t.name})" if t.name else ""
                raise AutogradError(
                    f"compiled {self.name}: a tensor of shape {t.shape}{label} that the call read was changed "
                    "in place after the call and before its backward, so the gradients would be wrong; "
                    "call backward before changing it (e.g. before optimizer.step())"
                )

    # ------------------------------------------------------------------ check=True
    def _eager_reference(self, fn: Callable, args: tuple, kwargs: dict) -> list:
        """Each op's output when ``fn`` runs eagerly now; raises if it runs other ops than the trace."""
        _, tape, _, _ = _run_on_tape(fn, args, kwargs)
        self._check_same_ops([entry[0].label() for entry in tape])
        return [entry[2].data for entry in tape]

    def _check_same_ops(self, labels: list[str]) -> None:
        """Raise when an eager run applied other ops than the trace (a branch on tensor values)."""
        for k, (traced, now) in enumerate(zip(self.tape_labels, [*labels, None], strict=False)):
            if traced != now:
                raise AutogradError(
                    f"compile(check=True): {self.name} ran other ops than at its trace: op {k} was {traced}, "
                    f"now {now or 'nothing'}; Python control flow that depends on tensor values is frozen "
                    "at trace time, so this function cannot be compiled as it is"
                )
        if len(labels) > len(self.tape_labels):
            raise AutogradError(
                f"compile(check=True): {self.name} ran more ops than at its trace (from op "
                f"{len(self.tape_labels)}, {labels[len(self.tape_labels)]}); Python control flow that "
                "depends on tensor values is frozen at trace time"
            )

    def _compare(self, step: _Step, reference: list) -> None:
        (out,) = step.outs
        position = self.tape_position.get(out)
        if position is None:
            return
        replayed, eager = self.env[out], reference[position]
        rtol = _RTOL.get(np.dtype(eager.dtype), 1e-9)
        if replayed.shape != eager.shape or not np.allclose(
            replayed, eager, rtol=rtol, atol=rtol, equal_nan=True
        ):
            difference = (
                np.max(np.abs(np.asarray(replayed, np.float64) - eager))
                if replayed.shape == eager.shape
                else "shape"
            )
            raise AutogradError(
                f"compile(check=True): {self.name}: op {position} ({step.label}) gives other values when "
                f"replayed than eagerly (largest difference {difference}): a value fn computes outside the "
                "ops, or a branch on tensor values, was frozen at trace time"
            )


def _version_of(t: Tensor) -> int:
    """The version counter that guards t's array: its own, or its base's for a view (``w.T``)."""
    return t._version if t._base is None else t._base._version


def _array_parameters(op: ops.Op):
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


def _fast_path(op: ops.Op, name: str, beside: str):
    """``op``'s ``forward_into``/``vjp_into`` (or its in-place flag) only where the class that defines
    its ``forward``/``vjp`` defines it too: a subclass with a new forward never runs its parent's."""
    for cls in type(op).__mro__:
        if beside in vars(cls):
            return vars(cls).get(name)
    return None


def _fit(c, shape: tuple[int, ...], dtype: np.dtype, op: ops.Op, summed_axes: dict) -> np.ndarray:
    """A plain VJP's contribution summed back to its input's shape and cast to its dtype, as the engine does."""
    if c.shape != shape:
        axes = summed_axes.get((c.shape, shape))  # this program's: (contribution, input shape) -> axes
        if axes is None:  # the engine's rule (and its error for a shape that does not fit), then remembered
            given = c.shape
            c = _unbroadcast(c, shape, op)
            summed_axes[(given, shape)] = _summed_axes(given, shape)
        else:
            c = _sum_over(c, axes, shape)
    if type(c) is not np.ndarray or c.dtype != dtype:
        c = np.asarray(c, dtype=dtype)
    return c


class _ProductWithTransposed(ops.Op):
    """``x @ w.T`` for 2-D w as one op: what a compiled program runs for a matmul whose right operand is a
    transpose used nowhere else (``Linear``, the tutorial's ``a @ theta.T``). An x of more axes is taken
    as the matrix of its rows (one BLAS product, not one per leading index; a view of a contiguous x).

    Its products go through ``np.dot`` when x and w share a dtype (the same BLAS call as ``@``, bit
    for bit, with less dispatch: 0.3 µs a product on a mini-batch; it needs a buffer of exactly the
    result's dtype), else ``np.matmul``."""

    __slots__ = ("product",)
    name = "matmul"

    def __init__(self, one_dtype: bool) -> None:
        self.product = np.dot if one_dtype else np.matmul

    def details(self) -> str:
        return "x, w.T"

    def forward(self, x, w):
        return (_rows(x) @ w.T).reshape((*x.shape[:-1], w.shape[0]))

    def forward_into(self, out, x, w):
        self.product(_rows(x), w.T, out=_rows(out))

    def vjp(self, g, out, x, w):
        need_x, need_w = self.needs_grad
        rows = _rows(g)
        return ((rows @ w).reshape(x.shape) if need_x else None), (rows.T @ _rows(x) if need_w else None)

    def vjp_into(self, grads, g, out, x, w):
        gx, gw = grads
        if gx is not None:
            self.product(_rows(g), w, out=_rows(gx))
        if gw is not None:
            self.product(_rows(g).T, _rows(x), out=gw)


class _Affine(_ProductWithTransposed):
    """``x @ w.T + b`` for 2-D w and 1-D b (x as in ``_ProductWithTransposed``) as one op: what a compiled
    program runs for a layer
    (``Linear``, the tutorial's ``a @ theta.T + b``), with the eager ops' arithmetic (products as
    ``_ProductWithTransposed``'s)."""

    __slots__ = ()
    name = "linear"

    def details(self) -> str:
        return "x @ w.T + b"

    def forward(self, x, w, b):
        return super().forward(x, w) + b

    def forward_into(self, out, x, w, b):
        self.product(_rows(x), w.T, out=_rows(out))
        out += b

    def vjp(self, g, out, x, w, b):
        need_b = self.needs_grad[2]
        return (*super().vjp(g, out, x, w), _sum_over(_rows(g), (0,), b.shape) if need_b else None)

    def vjp_into(self, grads, g, out, x, w, b):
        super().vjp_into(grads[:2], g, out, x, w)
        if grads[2] is not None:
            _sum_over(_rows(g), (0,), grads[2].shape, out=grads[2])


def _rows(a: np.ndarray) -> np.ndarray:
    """The matrix of ``a``'s rows (its last axis): a view of a 2-D or C-contiguous array, else a copy. A
    buffer written through it is always one of the program's own, C-contiguous ones."""
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])


class _SumOfSquares(ops.Op):
    """``(x**2).sum()`` as one op: what a compiled program runs for a square summed whole (L2 terms)."""

    __slots__ = ()
    name = "sum"
    expression = "vdot({0}, {0})"  # what the program runs: a NumPy scalar, no call of forward

    def details(self) -> str:
        return "x**2"

    def forward(self, x):
        return np.asarray(np.vdot(x, x))

    def vjp(self, g, out, x):
        return (g * 2 * x,)

    def vjp_into(self, grads, g, out, x):
        np.multiply(x, g * 2, out=grads[0])


class _StopGradient(ops.Op):
    """``detach()`` of an intermediate inside a traced function: the same values, no gradient."""

    __slots__ = ()
    name = "detach"
    keeps_inputs = False

    def forward(self, x):
        return x

    def vjp(self, g, out, x):
        return (None,)
