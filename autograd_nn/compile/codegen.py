"""Code generation: the planned steps written out as straight-line Python, one line or two a step.

``generate_code`` reads the graph, its steps and its ``BufferPlan`` and writes seven functions over
``e``, the list holding every value by index (a buffer value's entry is its buffer, set once):
``fits()`` and ``enter(e, a)`` check the held leaves still have the shapes, strides, dtypes and
``requires_grad`` of the trace, and put a call's arguments and the leaves' arrays into ``e``;
``versions(a)`` and ``targets(a)`` read the version counters a backward checks and say where each
leaf's gradient goes; ``forward(e)``, ``checked_forward(e, check)`` (the forward with a check after
every step, for ``check=True``) and ``backward(e)`` run the steps. No loop and no dispatch: replaying
costs what its NumPy calls cost. Values handed to the caller (the result, the leaves' gradients) are
arrays of their own: a copy where a value may share a buffer. The source is what
``CompiledFunction.source()`` shows.
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import ops
from ..broadcasting import _sum_over, _summed_axes, _unbroadcast
from ..recording import _target
from ..tensor import Tensor
from .backward import scalar_operands, scalar_rule
from .graph import Graph, Stand, Step
from .plan import BufferPlan


class GeneratedCode:
    """The program's source, the functions compiled from it, and the arrays they run on."""

    def __init__(self) -> None:
        self.source = ""
        self.buffers: list[np.ndarray] = []  # one array per slot of the plan
        self.env: list = []  # every value by index: what the functions read and write
        self.externals: list[int] = []  # the values a call fills: its arguments, then the held leaves
        self.read_tensors: list = []  # per tensor whose version a backward checks: how to get it, for messages
        self.leaves_only = False  # whether every gradient goes to a leaf (no eager graph to go on through)
        self.unit_seed: np.ndarray | None = None  # the read-only ones of a plain backward()
        self.forward = self.checked_forward = self.backward = None
        self.enter = self.versions = self.targets = self.fits = None


def generate_code(graph: Graph, plan: BufferPlan) -> GeneratedCode:
    """Write the program as straight-line Python: ``forward(e)``, ``backward(e)`` (see ``source``).

    ``e`` holds every value by index; a buffer value's entry is its buffer, set once here. One
    line per step, no loop and no dispatch: replaying costs what its NumPy calls cost.
    """
    code = GeneratedCode()
    code.buffers = [np.empty(shape, dtype) for shape, dtype in plan.slot_specs]
    code.env = [None] * len(graph.shapes)
    for v, slot in plan.slot.items():
        code.env[v] = code.buffers[slot]
    code.externals = [v for v, _ in graph.arg_values] + [v for v, _ in graph.leaf_values]
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
    lines = [_emit(graph, plan, code, s, step, names) for s, step in enumerate(graph.steps)]
    for step, step_lines in zip(graph.steps, lines, strict=True):  # so source() says what each line does
        if step.node is not None and step_lines:
            step_lines[-1] += f"  # {step.label}"
    forward, backward = lines[: graph.forward_steps], lines[graph.forward_steps :]
    enter = _emit_entry(graph, code, names)
    result, grads = (_escaping(graph, plan, v) for v in ([graph.result], [g for _, g in graph.leaf_grads]))
    result = result[0]
    code.source = "\n".join(
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
    compiled = builtins.compile(code.source, f"<compiled {graph.name}>", "exec")
    exec(compiled, names)
    code.forward, code.checked_forward, code.backward = (
        names["forward"],
        names["checked_forward"],
        names["backward"],
    )
    code.enter, code.versions, code.targets = names["enter"], names["versions"], names["targets"]
    code.fits = names["fits"]
    code.unit_seed = np.ones(graph.shapes[graph.result], graph.dtypes[graph.result])
    code.unit_seed.flags.writeable = False  # the seed of every backward() (a VJP never writes into g)
    return code


def _emit_entry(graph: Graph, code: GeneratedCode, names: dict) -> list[str]:
    """``enter(e, a)`` puts a call's arguments ``a`` and the held leaves' arrays into ``e`` and returns
    those arrays, or None, writing nothing, when a held leaf no longer has the shape, strides, dtype
    or requires_grad of the trace (``fits()`` says only that); ``versions(a)`` reads the version of
    every tensor the call reads (a view's is its base's); ``targets(a)`` says where each leaf's
    gradient goes (``node.targets``)."""
    read, versions, code.read_tensors = [], [], []  # read_tensors: a callable per tensor, for messages
    for k, (v, i) in enumerate(graph.arg_values):
        given_tensor = graph.given_tensor[i]
        read.append(f"    x{k} = e[{v}] = a[{i}]{'.data' if given_tensor else ''}")
        if given_tensor:
            versions.append(f"version_of(a[{i}])")
            code.read_tensors.append(lambda a, i=i: a[i])
    for k, (v, t) in enumerate(graph.leaf_values, start=len(graph.arg_values)):
        names[f"h{k}"] = t
        holder = t if t._base is None else t._base  # a view's version is its base's
        names[f"b{k}"] = holder
        read.append(f"    e[{v}] = x{k}")
        versions.append(f"b{k}._version")
        code.read_tensors.append(lambda a, t=t: t)
    held = {id(t): k for k, (_, t) in enumerate(graph.leaf_values, start=len(graph.arg_values))}
    # A leaf needing a gradient stays a leaf (in-place ops on it are refused); a tensor some eager
    # graph computed (an argument, or one held) sends its gradient to its node, the one it has now
    targets = [
        f"h{held[id(who)]}" if type(who) is not int and who._op is None else f"target({_reader(who, held)})"
        for who in graph.grad_leaf.values()
    ]
    code.leaves_only = all(type(who) is not int and who._op is None for who in graph.grad_leaf.values())
    checks = []  # read each held leaf's array, and return when it no longer fits
    for k, (_, t) in enumerate(graph.leaf_values, start=len(graph.arg_values)):
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


def _reader(who, held: dict) -> str:
    """How generated code names a leaf: argument ``who`` of the call, or the held tensor ``who``."""
    return f"a[{who}]" if type(who) is int else f"h{held[id(who)]}"


def _escaping(graph: Graph, plan: BufferPlan, values: list[int]) -> list[str]:
    """How the program hands values to the caller: arrays of their own (0-d values may be scalars)."""
    return [
        f"e[{v}]" + (".copy()" if _shared(plan, v) else "")
        if graph.shapes[v]
        else f"{'array' if _shared(plan, v) else 'asarray'}(e[{v}])"
        for v in values
    ]


def _shared(plan: BufferPlan, v: int) -> bool:
    """Whether value v may share memory with a buffer (then the caller gets a copy)."""
    return any(b in plan.slot for b in plan.roots.get(v, ()))


def _allocate(graph: Graph, plan: BufferPlan, v: int, names: dict) -> list[str]:
    """The line giving an escaping or fresh value with a buffer-writing producer a new array."""
    if v in plan.slot:
        return []
    names[f"S{v}"], names[f"D{v}"] = graph.shapes[v], graph.dtypes[v]
    return [f"e[{v}] = empty(S{v}, D{v})"]


def _emit(graph: Graph, plan: BufferPlan, code: GeneratedCode, s: int, step: Step, names: dict) -> list[str]:
    """The Python lines of step ``s``; the functions and constants they name go into ``names``."""
    if step.node is None:  # the sum of a value's gradient contributions
        (total,), parts = step.outs, step.ins
        if total in plan.slot or not graph.shapes[total]:  # (0-d: add would give a NumPy scalar)
            lines = [
                *_allocate(graph, plan, total, names),
                f"add(e[{parts[0]}], e[{parts[1]}], out=e[{total}])",
            ]
        else:  # a new array (it escapes): the first addition makes it
            lines = [f"e[{total}] = add(e[{parts[0]}], e[{parts[1]}])"]
        lines += [f"add(e[{total}], e[{p}], out=e[{total}])" for p in parts[2:]]
        return lines
    op = names[f"op{s}"] = graph.ops[step.node]
    if s < graph.forward_steps:
        (out,), args = step.outs, ", ".join(f"e[{i}]" for i in step.ins)
        if step.how == "scalar":  # a NumPy scalar: every op takes one, and the caller gets an array
            rule = scalar_rule(graph, op, step.ins, out)
            return [f"e[{out}] = {rule[0].format(**scalar_operands(None, out, step.ins))}"]
        if step.how == "expression":  # a fused op, written out
            return [f"e[{out}] = {op.expression.format(*[f'e[{i}]' for i in step.ins])}"]
        if step.how == "plain":
            return [f"r = op{s}.forward({args})", f"e[{out}] = r if type(r) is ndarray else asarray(r)"]
        if step.scratch:
            names[f"scratch{s}"] = tuple([code.buffers[slot] for slot in plan.scratch_slots[s]])
            args += f", scratch=scratch{s}"
        return [*_allocate(graph, plan, out, names), f"op{s}.forward_into(e[{out}], {args})"]
    _, ins, out, _ = graph.nodes[step.node]
    if op.keeps_output:
        given = [f"e[{out}]"]
    else:
        names[f"out{s}"] = Stand(graph.shapes[out], graph.dtypes[out])
        given = [f"out{s}"]
    for k, i in enumerate(ins):
        if op.keeps_inputs:
            given.append(f"e[{i}]")
        else:
            names[f"in{s}_{k}"] = Stand(graph.shapes[i], graph.dtypes[i])
            given.append(f"in{s}_{k}")
    contributions = iter(step.outs)  # in input order
    grads = [next(contributions) if i in graph.needs_grad else None for i in ins]
    g = step.ins[0]
    if step.how == "scalar":
        rule, names_of = scalar_rule(graph, op, ins, out), scalar_operands(g, out, ins)
        return [f"e[{c}] = {rule[1][k].format(**names_of)}" for k, c in enumerate(grads) if c is not None]
    if step.how == "into":
        lines = [line for c in grads if c is not None for line in _allocate(graph, plan, c, names)]
        buffers = ", ".join("None" if c is None else f"e[{c}]" for c in grads)
        return [*lines, f"op{s}.vjp_into(({buffers},), e[{g}], {', '.join(given)})"]
    if step.how == "passes":  # g itself, or g summed to the input's shape
        lines = []
        for c, i in zip(grads, ins, strict=True):
            if c is not None and graph.shapes[i] == graph.shapes[out]:
                lines.append(f"e[{c}] = e[{g}]")
            elif c is not None:
                names[f"S{i}"], names[f"D{i}"] = graph.shapes[i], graph.dtypes[i]
                lines.append(f"e[{c}] = fit(e[{g}], S{i}, D{i}, op{s}, axes)")
        return lines
    lines = [f"r = op{s}.vjp(e[{g}], {', '.join(given)})"]
    for k, (c, i) in enumerate(zip(grads, ins, strict=True)):
        if c is not None:
            names[f"S{i}"], names[f"D{i}"] = graph.shapes[i], graph.dtypes[i]
            lines.append(f"e[{c}] = fit(r[{k}], S{i}, D{i}, op{s}, axes)")
    return lines


def _version_of(t: Tensor) -> int:
    """The version counter that guards t's array: its own, or its base's for a view (``w.T``)."""
    return t._version if t._base is None else t._base._version


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
