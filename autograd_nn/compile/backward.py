"""The backward's construction: the graph's nodes as one straight-line list of steps.

First the forward steps, one per node. Then, for every node that leads from a leaf needing a
gradient to the result, in reverse order, its VJP step, and for a value used more than once a step
summing its gradient contributions (which may overwrite one of the first two parts). The result's
gradient is a value of its own, the seed. Each step also says how its op runs (``Step.how``):
arithmetic on 0-d values of one dtype as Python expressions on NumPy scalars (``SCALAR_RULES``, the
same numbers as the ufuncs in a tenth of the time), a fused op written out as an expression, an op
writing into a buffer (``Op.forward_into``, ``Op.vjp_into``, and where declared over an input it
may overwrite), a VJP that hands g on (``Op.vjp_passes_g``), or the plain ``forward`` and ``vjp``.
That choice decides each value's kind: "buffer" (written into: the planner gives it an array),
"fresh" (a new array, or a view of an input) or "external" (the caller's).
"""

from __future__ import annotations

from collections import defaultdict

from .. import ops
from .graph import Graph, Stand, Step

# Arithmetic on 0-d values of one dtype as Python expressions on NumPy scalars (same numbers as the
# ufuncs, a tenth of the time): the result, then each input's gradient, with the eager VJPs' formulas.
SCALAR_RULES = {
    ops.Add: ("{a} + {b}", ("{g}", "{g}")),
    ops.Sub: ("{a} - {b}", ("{g}", "-{g}")),
    ops.Mul: ("{a} * {b}", ("{g} * {b}", "{g} * {a}")),
    ops.Div: ("{a} / {b}", ("{g} / {b}", "-({g} * {out}) / {b}")),
    ops.Neg: ("-{a}", ("-{g}",)),
}


def mark_gradients(graph: Graph) -> None:
    """Which values carry a gradient: the leaves needing one, and what recorded ops make from them."""
    graph.needs_grad = set(graph.grad_leaf)
    for _, ins, out, recorded in graph.nodes:
        if recorded and any(i in graph.needs_grad for i in ins):
            graph.needs_grad.add(out)
    graph.differentiable = graph.result in graph.needs_grad


def build_steps(graph: Graph) -> None:
    """Forward steps for every node; VJP and fan-out-sum steps for the gradients; the values' kinds."""
    graph.ops, graph.steps, graph.kind = [], [], {}
    for v, _ in graph.arg_values:
        graph.kind[v] = "external"
    for v, _ in graph.leaf_values:
        graph.kind[v] = "external"
    for index, (op, ins, out, _) in enumerate(graph.nodes):
        op.targets = tuple([True if i in graph.needs_grad else None for i in ins])  # for op.needs_grad
        graph.ops.append(op)
        if scalar_rule(graph, op, ins, out) is not None:
            how = "scalar"
        elif getattr(op, "expression", None) is not None:
            how = "expression"
        else:
            how = "plain" if fast_path(op, "forward_into", "forward") is None else "into"
        into = how == "into" and out != graph.result  # (the result is a new array at every call)
        graph.kind[out] = "buffer" if into else "fresh"
        inplace = ((out, ins),) if into and fast_path(op, "forward_in_place", "forward") else ()
        step = Step(op.label(), ins, [out], inplace, node=index, how=how)
        scratch = fast_path(op, "forward_scratch", "forward")
        if scratch is not None:
            step.scratch = tuple(scratch(op, *[Stand(graph.shapes[i], graph.dtypes[i]) for i in ins]))
        graph.steps.append(step)
    graph.forward_steps = len(graph.steps)
    graph.seed = graph.new_value(graph.shapes[graph.result], graph.dtypes[graph.result])
    graph.kind[graph.seed] = "external"
    contributions: dict[int, list[int]] = defaultdict(list)
    grad_of: dict[int, int] = {graph.result: graph.seed}
    graph.summed_from_g = set()
    for index in reversed(range(len(graph.nodes))):
        op, ins, out, recorded = graph.nodes[index]
        if not recorded or out not in graph.needs_grad:
            continue
        g = _gradient(graph, out, contributions, grad_of)
        if g is None:  # every use of out was inside no_grad
            continue
        op = graph.ops[index]
        reads = [g]
        if op.keeps_output:
            reads.append(out)
        if op.keeps_inputs:
            reads.extend(ins)
        grads = []
        for i in ins:
            if i in graph.needs_grad:
                c = graph.new_value(graph.shapes[i], graph.dtypes[i])
                contributions[i].append(c)
                grads.append(c)
            else:
                grads.append(None)
        if scalar_rule(graph, op, ins, out) is not None:  # Python expressions on NumPy scalars
            how = "scalar"
        elif _passes_gradient(graph, op, ins, out):  # next best: no call, no pass over g
            how = "passes"
        else:
            how = "plain" if fast_path(op, "vjp_into", "vjp") is None else "into"
        into = how == "into"
        for c in grads:
            if c is not None:
                graph.kind[c] = "buffer" if into else "fresh"
        if how == "passes":
            for c, i in zip(grads, ins, strict=True):
                if c is not None and graph.shapes[i] != graph.shapes[out]:
                    graph.summed_from_g.add(c)  # g summed to a smaller shape: a new array
        inplace = ()
        if into and grads[0] is not None:
            overwritable = fast_path(op, "vjp_in_place", "vjp") or ()
            given = {"g": g, **({k: i for k, i in enumerate(ins)} if op.keeps_inputs else {})}
            inplace = ((grads[0], [given[w] for w in overwritable if w in given]),)
        step = Step(f"vjp of {op.label()}", reads, [c for c in grads if c is not None], inplace, index, how)
        step.node = index
        graph.steps.append(step)
    graph.leaf_grads = []  # for the leaves a gradient reaches
    for v in list(graph.grad_leaf):
        g = _gradient(graph, v, contributions, grad_of)
        if g is None:
            del graph.grad_leaf[v]
        else:
            graph.leaf_grads.append((v, g))


def scalar_rule(graph: Graph, op: ops.Op, ins: list[int], out: int) -> tuple | None:
    """``SCALAR_RULES``' entry for arithmetic on 0-d values of one dtype (an L2 term's
    ``lam / (2 * m) * total``), else None."""
    rule = SCALAR_RULES.get(type(op))
    if rule is None or graph.shapes[out] or any(graph.shapes[i] for i in ins):
        return None
    return rule if all(graph.dtypes[i] == graph.dtypes[out] for i in ins) else None


def scalar_operands(g: int | None, out: int, ins: list[int]) -> dict[str, str]:
    """The names a scalar rule's expressions use, as the program's values."""
    return {"g": f"e[{g}]", "out": f"e[{out}]", "a": f"e[{ins[0]}]", "b": f"e[{ins[-1]}]"}


def _passes_gradient(graph: Graph, op: ops.Op, ins: list[int], out: int) -> bool:
    """Whether each gradient op's VJP gives is g itself (``Op.vjp_passes_g``), summed to its input's
    shape: the program then passes g on (or sums it) without calling the VJP."""
    passes = fast_path(op, "vjp_passes_g", "vjp") or ()
    return all(
        k in passes and graph.dtypes[i] == graph.dtypes[out]
        for k, i in enumerate(ins)
        if i in graph.needs_grad
    )


def _gradient(graph: Graph, v: int, contributions: dict, grad_of: dict) -> int | None:
    """The value holding v's whole gradient: its one contribution, or a step summing them."""
    if v in grad_of:
        return grad_of[v]
    parts = contributions.pop(v, None)
    if not parts:
        return None
    if len(parts) == 1:
        grad_of[v] = parts[0]
        return parts[0]
    total = graph.new_value(graph.shapes[v], graph.dtypes[v])
    graph.kind[total] = "buffer"
    # It may overwrite one of the two parts its first addition reads, never a later one
    graph.steps.append(Step("sum of gradients", parts, [total], ((total, parts[:2]),)))
    grad_of[v] = total
    return total


def fast_path(op: ops.Op, name: str, beside: str):
    """``op``'s ``forward_into``/``vjp_into`` (or its in-place flag) only where the class that defines
    its ``forward``/``vjp`` defines it too: a subclass with a new forward never runs its parent's."""
    for cls in type(op).__mro__:
        if beside in vars(cls):
            return vars(cls).get(name)
    return None
