"""``ag.compile``: trace a function once per input signature, plan its buffers, then replay it.

Tracing. The first call for a signature (the shapes, dtypes and ``requires_grad`` of its Tensor and
ndarray arguments; every other argument by value) runs ``fn`` eagerly while ``tensor.apply`` appends
every op to a tape, recorded or not (``grad_mode.STATE.tape``). Each op input that no earlier op made
is a leaf: an argument (the very Tensor passed, or a Tensor around the very array passed), or a tensor
``fn`` reached otherwise (a parameter, a constant), held by identity with its ``.data`` read again at
every call, so in-place optimizer updates just work. A leaf whose ``.data`` changed shape, dtype or
``requires_grad`` since, or a new signature, traces again; the cache keeps the ``cache_size`` most
recently used signatures.

Planning. The recorded ops become one straight-line program: the forward steps, then for every op
that leads from a leaf needing a gradient to the result, its VJP, then the sums of fan-out gradients.
Each intermediate value and gradient gets a buffer, and a buffer is reused by a later value once every
value that may share its memory is dead (a linear scan, as a register allocator does). An op may write
straight into its buffer (``Op.forward_into``, ``Op.vjp_into``) and, where it declares so, into the
buffer of an input the program no longer needs: ``x @ W.T + b`` adds the bias into the product's
buffer and the sigmoid overwrites it. Every other op runs its plain ``forward`` and ``vjp``.

Replay. A later call fills the leaves and runs the forward steps. The result it returns, and the
gradients its ``backward()`` leaves in ``.grad``, are fresh arrays that belong to the caller: the
program never writes into them. The result's node is one ``CompiledCall`` op whose VJP runs the
planned backward, so ``backward()``, ``ag.grad`` and further eager ops on the result work as in
eager mode (the engine accumulates into ``.grad`` with its usual rules). Under ``no_grad`` only the
forward runs. Backward through an older result whose buffers a newer call has reused replays that
call's forward first; a leaf changed in place since the forward (its ``_version``) is an error.

What cannot be captured (as with jax.jit and tinygrad's TinyJit): Python control flow that depends
on tensor values, values read with ``.item()``/``.data``/NumPy outside the ops, and any other side
effect of ``fn`` are frozen at trace time. ``check=True`` runs ``fn`` eagerly beside the first replays
of each signature and raises, naming the first op that differs, when they disagree. Under
``detect_anomaly`` and inside another trace, the function runs eagerly.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable

import numpy as np

from . import ops
from .errors import AutogradError
from .grad_mode import STATE
from .tensor import Tensor, _new, _target, _unbroadcast

__all__ = ["CompiledCall", "CompiledFunction", "compile"]

CHECKED_CALLS = 3  # replays of each signature that check=True compares with eager
_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


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

    def __call__(self, *args, **kwargs) -> Tensor:
        if STATE.tape is not None or STATE.anomaly:  # inside another trace, or hunting NaNs: run as written
            return self.fn(*args, **kwargs)
        arguments = (*args, *(kwargs[k] for k in sorted(kwargs)))
        key = (len(args), tuple(sorted(kwargs)), *(_describe(a, i) for i, a in enumerate(arguments)))
        program = self._programs.get(key)
        if program is not None:
            check = self.check and program.replays < CHECKED_CALLS
            result = program.replay(args, kwargs, arguments, check, self.fn)
            if result is not None:
                self._programs.move_to_end(key)
                self.replays += 1
                return result
            del self._programs[key]  # a leaf changed shape, dtype or requires_grad: trace again
        result, program = self._trace(args, kwargs, arguments)
        self._programs[key] = program
        if len(self._programs) > self.cache_size:
            self._programs.popitem(last=False)
        self.traces += 1
        return result

    def _trace(self, args, kwargs, arguments) -> tuple[Tensor, _Program]:
        result, tape = _run_on_tape(self.fn, args, kwargs)
        if not isinstance(result, Tensor):
            raise TypeError(
                f"compile: {_name_of(self.fn)} must return one Tensor, got {type(result).__name__}"
            )
        program = _Program(tape, result, arguments, _name_of(self.fn))
        if not STATE.enabled or not program.differentiable:
            result = result.detach()  # what eager gives: nothing was recorded
            result._name = None
        return result, program


class CompiledCall(ops.Op):
    """The node of a compiled call's result: its VJP runs the planned backward of that call."""

    __slots__ = ("call",)
    name = "compiled"
    keeps_inputs = False

    def details(self) -> str:
        return self.call.program.name

    def forward(self, *xs):
        raise AutogradError("compiled: a compiled call's node is created by its replay, never applied")

    def vjp(self, g, out, *leaves):
        if not isinstance(g, np.ndarray):
            raise AutogradError(
                f"compiled {self.call.program.name}: backward(create_graph=True) cannot go through a compiled "
                "call; call the function uncompiled to differentiate its gradients"
            )
        return self.call.program.backward(self.call, g)


# ---------------------------------------------------------------------------------------- tracing


def _name_of(fn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _describe(value, index: int):
    """The part of the cache key that argument ``index`` decides."""
    if isinstance(value, Tensor):
        return ("tensor", value.data.shape, value.data.dtype.str, value.requires_grad)
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str)
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"compile: argument {index} is a {type(value).__name__}, which is neither a Tensor, an ndarray "
            "nor a hashable value (numbers, strings, tuples) the cache could key on; pass it as an array"
        ) from None
    return ("value", type(value), value)


def _run_on_tape(fn, args, kwargs) -> tuple[object, list]:
    """Run ``fn`` eagerly with recording on, returning its result and every op it applied."""
    tape: list = []
    saved = STATE.tape, STATE.enabled
    STATE.tape, STATE.enabled = tape, True  # record all: a later call may need gradients
    try:
        result = fn(*args, **kwargs)
    finally:
        STATE.tape, STATE.enabled = saved
    return result, tape


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

    __slots__ = ("inplace", "ins", "label", "node", "outs", "run")

    def __init__(self, label: str, ins: list[int], outs: list[int], inplace=(), node: int | None = None):
        self.label, self.ins, self.outs = label, ins, outs
        self.inplace = inplace  # (out, candidate inputs it may overwrite) pairs
        self.node = node  # the traced op's index, for forward steps
        self.run = None


class _Call:
    """One replay: the arrays its leaves had, and their versions, for its backward."""

    __slots__ = ("externals", "program", "versions")

    def __init__(self, program: _Program, externals: list, versions: list) -> None:
        self.program, self.externals, self.versions = program, externals, versions


class _Program:
    """The traced ops of one signature as a planned straight-line program (see the module docstring)."""

    def __init__(self, tape: list, result: Tensor, arguments: tuple, name: str) -> None:
        self.name = name
        self.replays = 0
        self.lock = threading.Lock()
        self.owner: _Call | None = None  # the call whose values the buffers hold
        self.shapes: list[tuple[int, ...]] = []
        self.dtypes: list[np.dtype] = []
        self._record(tape, result, arguments)
        self._build_backward()
        self._plan_buffers()
        self._compile_steps()

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
        nodes: list[tuple[ops.Op, list[int], int, bool]] = []
        self.tape_labels = [entry[0].label() for entry in tape]  # what check=True compares a call's ops with
        for position, (op, inputs, output, recorded) in enumerate(tape):
            ins = []
            for t in inputs:
                v = produced.get(id(t))
                if v is None:
                    v = self._leaf(t, arg_tensor, arg_array, made_array, leaf_of, nodes, arguments)
                ins.append(v)
            out = self._new_value(output.data.shape, output.data.dtype)
            produced[id(output)] = out
            made_array[id(output.data)] = out
            op = copy.copy(op)  # the trace's node may still be in the caller's graph: never change it
            op.parents, op.output = None, None
            op.targets = ()
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
        self.nodes = [n for n in nodes if n[2] in needed]
        self.arg_values = [(v, i) for v, i in self.arg_values if v in needed]
        self.leaf_values = [(v, t) for v, t in self.leaf_values if v in needed]
        self.grad_leaf = {v: who for v, who in self.grad_leaf.items() if v in needed}
        self.needs_grad = set(self.grad_leaf)
        for _, ins, out, recorded in self.nodes:
            if recorded and any(i in self.needs_grad for i in ins):
                self.needs_grad.add(out)
        self.differentiable = self.result in self.needs_grad
        self._check_arguments_reach_the_graph(arguments)

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
        used = {i for _, i in self.arg_values}
        for i, a in enumerate(arguments):
            if i in used or not isinstance(a, (Tensor, np.ndarray)):
                continue
            array = a.data if isinstance(a, Tensor) else a
            for _, t in self.leaf_values:
                if np.may_share_memory(t.data, array) or (
                    not t.requires_grad and t.data.shape == array.shape
                ):
                    raise AutogradError(
                        f"compile: {self.name}: argument {i} (shape {array.shape}, {array.dtype}) reaches the "
                        "graph only as a NumPy copy or view made outside the ops (astype, np.asarray with "
                        "another dtype, arithmetic or slicing on the array), which a replay would freeze; "
                        "wrap the argument itself with Tensor(x) and compute with tensor ops"
                    )

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
            into = type(op).forward_into is not None and out != self.result
            self.kind[out] = "buffer" if into else "fresh"
            inplace = ((out, ins),) if into and op.forward_in_place else ()
            self.steps.append(_Step(op.label(), ins, [out], inplace, node=index))
        self.forward_steps = len(self.steps)
        self.seed = self._new_value(self.shapes[self.result], self.dtypes[self.result])
        self.kind[self.seed] = "external"
        contributions: dict[int, list[int]] = defaultdict(list)
        grad_of: dict[int, int] = {self.result: self.seed}
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
            into = type(op).vjp_into is not None
            for c in grads:
                if c is not None:
                    self.kind[c] = "buffer" if into else "fresh"
            inplace = ()
            if into and op.vjp_in_place and grads[0] is not None:
                inplace = ((grads[0], [g]),)
            step = _Step(f"vjp of {op.label()}", reads, [c for c in grads if c is not None], inplace, index)
            step.node = index
            self.steps.append(step)
        self.leaf_grads = []  # (leaf value, its gradient's value), for leaves a gradient reaches
        for v in list(self.grad_leaf):
            g = self._gradient(v, contributions, grad_of)
            if g is None:
                del self.grad_leaf[v]
            else:
                self.leaf_grads.append((v, g))

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
        self.steps.append(_Step("sum of gradients", parts, [total], ((total, parts),)))
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
        for step in steps:
            shared = frozenset().union(*(roots[i] for i in step.ins))
            for o in step.outs:
                if kind[o] == "fresh":
                    roots[o] = shared
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
            for b in dying_at[s]:
                slot = self.slot.get(b)
                if slot is not None and holder.get(slot) == b:
                    free[self.slot_specs[slot]].append(slot)
                    holder[slot] = -1
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
                if (
                    step.node is not None
                    and s >= self.forward_steps
                    and not self._vjp_may_overwrite(step, s, dies)
                ):
                    continue
                return self.slot[v]
        return None

    def _vjp_may_overwrite(self, step: _Step, s: int, dies: dict) -> bool:
        """An in-place VJP may overwrite every array it gets: each must be a buffer dying here."""
        return all(self.kind[i] == "buffer" and i not in self.escaping and dies.get(i) == s for i in step.ins)

    # ------------------------------------------------------------------ running
    def _compile_steps(self) -> None:
        """Turn each step into a closure over its op, its value indices and its buffers."""
        self.buffers = [np.empty(shape, dtype) for shape, dtype in self.slot_specs]
        self.env: list = [None] * len(self.shapes)
        for v, slot in self.slot.items():
            self.env[v] = self.buffers[slot]
        self.externals = [v for v, _ in self.arg_values] + [v for v, _ in self.leaf_values]
        for s, step in enumerate(self.steps):
            if s < self.forward_steps:
                step.run = self._forward_closure(step)
            elif step.node is not None:
                step.run = self._vjp_closure(step)
            else:
                step.run = self._sum_closure(step)
        self.leaf_specs = [(t, t.data.shape, t.data.dtype, t.requires_grad) for _, t in self.leaf_values]

    def _fresh_or_buffer(self, v: int) -> Callable[[list], np.ndarray]:
        if v in self.slot:
            buffer = self.buffers[self.slot[v]]
            return lambda env: buffer
        shape, dtype = self.shapes[v], self.dtypes[v]
        return lambda env: np.empty(shape, dtype)

    def _forward_closure(self, step: _Step):
        op, (out,), ins = self.ops[step.node], step.outs, step.ins
        if type(op).forward_into is None:
            forward = op.forward

            def run(env):
                r = forward(*[env[i] for i in ins])
                env[out] = r if type(r) is np.ndarray else np.asarray(r)  # reductions give NumPy scalars

            return run
        forward_into, target = op.forward_into, self._fresh_or_buffer(out)

        def run_into(env):
            buffer = target(env)
            forward_into(buffer, *[env[i] for i in ins])
            env[out] = buffer

        return run_into

    def _vjp_closure(self, step: _Step):
        index = step.node
        op, (_, ins, out, _) = self.ops[index], self.nodes[index]
        g = step.ins[0]
        stand_out = None if op.keeps_output else _Stand(self.shapes[out], self.dtypes[out])
        stands = None if op.keeps_inputs else [_Stand(self.shapes[i], self.dtypes[i]) for i in ins]
        outs = iter(step.outs)  # the contributions, in input order
        grads = [next(outs) if i in self.needs_grad else None for i in ins]

        def arguments(env):
            o = env[out] if stand_out is None else stand_out
            xs = [env[i] for i in ins] if stands is None else stands
            return env[g], o, xs

        if type(op).vjp_into is not None:
            vjp_into = op.vjp_into
            targets = [None if c is None else self._fresh_or_buffer(c) for c in grads]

            def run_into(env):
                buffers = [None if t is None else t(env) for t in targets]
                gv, o, xs = arguments(env)
                vjp_into(buffers, gv, o, *xs)
                for c, b in zip(grads, buffers, strict=True):
                    if c is not None:
                        env[c] = b

            return run_into
        vjp = op.vjp
        shapes = [
            None if c is None else (self.shapes[i], self.dtypes[i]) for c, i in zip(grads, ins, strict=True)
        ]

        def run(env):
            gv, o, xs = arguments(env)
            results = vjp(gv, o, *xs)
            for c, r, spec in zip(grads, results, shapes, strict=True):
                if c is None:
                    continue
                shape, dtype = spec
                if r.shape != shape:
                    r = _unbroadcast(r, shape, op)
                if type(r) is not np.ndarray or r.dtype != dtype:
                    r = np.asarray(r, dtype=dtype)
                env[c] = r

        return run

    def _sum_closure(self, step: _Step):
        (total,), parts = step.outs, step.ins
        first, second, rest = parts[0], parts[1], parts[2:]
        target = self._fresh_or_buffer(total)

        def run(env):
            buffer = target(env)
            np.add(env[first], env[second], out=buffer)
            for p in rest:
                np.add(buffer, env[p], out=buffer)
            env[total] = buffer

        return run

    def _own(self, v: int, env: list) -> np.ndarray:
        """``env[v]`` as an array the caller may keep: copied when it may share a buffer's memory."""
        array = env[v]
        if any(np.may_share_memory(array, self.env[b]) for b in self.roots.get(v, ()) if b in self.slot):
            return array.copy()
        return array

    def replay(self, args: tuple, kwargs: dict, arguments: tuple, check: bool, fn: Callable) -> Tensor | None:
        """Run the forward for these arguments; None when a held leaf no longer fits the trace."""
        for t, shape, dtype, requires_grad in self.leaf_specs:
            data = t.data
            if data.shape != shape or data.dtype != dtype or t.requires_grad != requires_grad:
                return None
        reference = self._eager_reference(fn, args, kwargs) if check else None
        with self.lock:
            env = self.env
            for v, i in self.arg_values:
                a = arguments[i]
                env[v] = a.data if type(a) is Tensor else a
            for v, t in self.leaf_values:
                env[v] = t.data
            call = _Call(self, [env[v] for v in self.externals], None)
            self._run_forward(reference)
            data = self._own(self.result, env)
            self.owner = call
        self.replays += 1
        requires_grad = STATE.enabled and self.differentiable
        result = _new(data, requires_grad)
        result._name = self.result_name
        if requires_grad:
            held = [arguments[i] for _, i in self.arg_values if isinstance(arguments[i], Tensor)]
            held += [t for _, t in self.leaf_values]
            call.versions = [(t, getattr(t, "_version", 0)) for t in held]
            node = CompiledCall()
            node.call = call
            leaves = [arguments[who] if isinstance(who, int) else who for who in self.grad_leaf.values()]
            node.targets = node.parents = tuple([_target(t) for t in leaves])
            node.output, node.output_name, node.scope = None, self.result_name, STATE.scope
            node.shape, node.dtype = data.shape, data.dtype
            result._op = node
        return result

    def _run_forward(self, reference: list | None = None) -> None:
        env = self.env
        for s in range(self.forward_steps):
            step = self.steps[s]
            step.run(env)
            if reference is not None:
                self._compare(step, reference)

    def backward(self, call: _Call, g: np.ndarray) -> tuple:
        """The gradients of the call's leaves (``node.targets`` order), given g for its result."""
        for t, version in call.versions:
            if getattr(t, "_version", 0) != version:
                label = f" ({t.name})" if t.name else ""
                raise AutogradError(
                    f"compiled {self.name}: a tensor of shape {t.shape}{label} that the call read was changed "
                    "in place after the call and before its backward, so the gradients would be wrong; "
                    "call backward before changing it (e.g. before optimizer.step())"
                )
        with self.lock:
            env = self.env
            if self.owner is not call:  # a later call reused the buffers: this call's forward again
                for v, array in zip(self.externals, call.externals, strict=True):
                    env[v] = array
                self._run_forward()
            env[self.seed] = g
            for s in range(self.forward_steps, len(self.steps)):
                self.steps[s].run(env)
            grads = tuple([self._own(v, env) for _, v in self.leaf_grads])
            self.owner = None  # the backward overwrote values the forward left
        return grads

    # ------------------------------------------------------------------ check=True
    def _eager_reference(self, fn: Callable, args: tuple, kwargs: dict) -> list:
        """Each op's output when ``fn`` runs eagerly now; raises if it runs other ops than the trace."""
        _, tape = _run_on_tape(fn, args, kwargs)
        labels = [entry[0].label() for entry in tape]
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
        return [entry[2].data for entry in tape]

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


class _StopGradient(ops.Op):
    """``detach()`` of an intermediate inside a traced function: the same values, no gradient."""

    __slots__ = ()
    name = "detach"
    keeps_inputs = False

    def forward(self, x):
        return x

    def vjp(self, g, out, x):
        return (None,)
