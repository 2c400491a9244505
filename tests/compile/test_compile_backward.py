"""ag.compile's backward construction, on hand-built graphs: which values carry a gradient, the steps
in order (forward, VJPs in reverse, sums of fan-out gradients), and how each step runs."""

from __future__ import annotations

import numpy as np

from autograd_nn import ops
from autograd_nn.compile.backward import build_steps, mark_gradients
from autograd_nn.compile.graph import Graph

F64 = np.dtype(np.float64)


def graph_of(shapes: list[tuple[int, ...]], nodes: list, *, result: int, grad_leaves=(), args=()) -> Graph:
    """A traced graph by hand: values of these shapes, the first ones leaves (``grad_leaves`` need a
    gradient, ``args`` are arguments that do not), and ``nodes`` as (op, ins, out, recorded)."""
    graph = Graph("hand-built")
    for shape in shapes:
        graph.new_value(shape, F64)
    graph.nodes = nodes
    graph.result = result
    graph.leaf_values = [(v, None) for v in grad_leaves]
    graph.grad_leaf = {v: object() for v in grad_leaves}
    graph.arg_values = [(v, k) for k, v in enumerate(args)]
    return graph


def test_gradients_flow_through_recorded_ops_from_the_leaves_that_need_them():
    # p needs a gradient, x does not; z = exp(x) was made under no_grad
    p, x, y, z, out = range(5)
    nodes = [
        (ops.Mul(), [p, x], y, True),
        (ops.Exp(), [x], z, False),
        (ops.Add(), [y, z], out, True),
    ]
    graph = graph_of([(4,)] * 5, nodes, result=out, grad_leaves=[p], args=[x])
    mark_gradients(graph)
    assert graph.needs_grad == {p, y, out} and graph.differentiable
    graph = graph_of([(4,)] * 5, nodes, result=out, args=[p, x])
    mark_gradients(graph)
    assert graph.needs_grad == set() and not graph.differentiable


def test_the_steps_are_the_forward_then_the_vjps_in_reverse_then_a_sum_for_a_value_used_twice():
    # s = p + p * x; total = s.sum(): p's gradient has two contributions, summed by a step of its own
    p, x, y, s, total = range(5)
    nodes = [
        (ops.Mul(), [p, x], y, True),
        (ops.Add(), [p, y], s, True),
        (ops.Sum(), [s], total, True),
    ]
    graph = graph_of([(4,), (4,), (4,), (4,), ()], nodes, result=total, grad_leaves=[p], args=[x])
    mark_gradients(graph)
    build_steps(graph)
    assert graph.forward_steps == 3
    assert [step.label for step in graph.steps[:3]] == [op.label() for op, *_ in nodes]
    backward = graph.steps[3:]
    assert [step.label for step in backward] == [
        f"vjp of {nodes[2][0].label()}",
        f"vjp of {nodes[1][0].label()}",
        f"vjp of {nodes[0][0].label()}",
        "sum of gradients",
    ]
    assert backward[0].ins[0] == graph.seed and graph.shapes[graph.seed] == ()
    assert graph.kind[graph.seed] == graph.kind[p] == graph.kind[x] == "external"
    from_add, to_y = backward[1].outs  # p's and y's: both inputs of the addition need a gradient
    assert backward[2].ins[0] == to_y
    (from_mul,) = backward[2].outs  # only p's: x needs no gradient
    summed = backward[3]
    assert summed.ins == [from_add, from_mul] and summed.node is None
    assert graph.leaf_grads == [(p, summed.outs[0])] and graph.kind[summed.outs[0]] == "buffer"


def test_arithmetic_on_0d_values_runs_as_scalar_expressions_and_on_arrays_as_ops():
    a, b, c, d = range(4)
    scalar = graph_of(
        [(), (), (), ()],
        [(ops.Mul(), [a, b], c, True), (ops.Neg(), [c], d, True)],
        result=d,
        grad_leaves=[a, b],
    )
    mark_gradients(scalar)
    build_steps(scalar)
    assert {step.how for step in scalar.steps} == {"scalar"}
    array = graph_of(
        [(3,), (3,), (3,), (3,)],
        [(ops.Mul(), [a, b], c, True), (ops.Neg(), [c], d, True)],
        result=d,
        grad_leaves=[a, b],
    )
    mark_gradients(array)
    build_steps(array)
    assert "scalar" not in {step.how for step in array.steps}
    assert array.kind[d] == "fresh"  # the result is a new array at every call, never a buffer
