"""ag.compile's code generation: the straight-line Python a compiled function runs."""

from __future__ import annotations

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor, ops
from autograd_nn.compile.backward import build_steps, mark_gradients
from autograd_nn.compile.codegen import generate_code
from autograd_nn.compile.graph import Graph
from autograd_nn.compile.plan import BufferPlan, plan_buffers


def test_the_program_a_compiled_function_runs_can_be_read():
    w = Tensor(np.ones(3), requires_grad=True)
    step = ag.compile(lambda X: (Tensor(X) * w).sigmoid().sum())
    step(np.ones(3))
    source = step.source()
    assert "def forward(e):" in source and "def backward(e):" in source
    assert "forward_into" in source and "vjp_into" in source  # the sigmoid's fast paths


# ------------------------------------------------------------------ code generation alone, on a hand-built graph


def planned_graph(nodes: list, shapes: list[tuple[int, ...]], result: int) -> tuple[Graph, BufferPlan]:
    """Arguments 0 and 1 (arrays, no gradient) and ``nodes``, built and planned as the program would."""
    graph = Graph("hand_built")
    for shape in shapes:
        graph.new_value(shape, np.dtype(np.float64))
    graph.arg_values = [(0, 0), (1, 1)]
    graph.given_tensor = [False, False]
    graph.nodes, graph.result = nodes, result
    mark_gradients(graph)
    build_steps(graph)
    return graph, plan_buffers(graph)


def test_the_generated_forward_runs_one_labelled_line_per_step_and_computes_the_ops():
    total = ops.Sum()
    total.forward(np.ones((2, 3)))  # as the trace ran it: the forward notes the axes it sums
    nodes = [(ops.Mul(), [0, 1], 2, True), (ops.Exp(), [2], 3, True), (total, [3], 4, True)]
    graph, plan = planned_graph(nodes, [(2, 3)] * 4 + [()], result=4)
    code = generate_code(graph, plan)
    forward = code.source.split("def forward(e):\n")[1].split("\n\n")[0].splitlines()
    assert [line.rsplit("# ", 1)[1] for line in forward if "# " in line] == ["mul", "exp", "sum"]
    assert forward[-1] == "    return asarray(e[4])"
    rng = np.random.default_rng(0)
    for _ in range(2):  # the buffers are reused by the next call
        a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
        assert code.enter(code.env, (a, b)) == [a, b]
        np.testing.assert_allclose(code.forward(code.env), np.exp(a * b).sum(), rtol=1e-12)


def test_a_result_that_may_view_a_buffer_is_handed_to_the_caller_as_a_copy():
    nodes = [(ops.Exp(), [0], 2, True), (ops.Reshape((3, 2)), [2], 3, True)]  # exp writes into a buffer
    graph, plan = planned_graph(nodes, [(2, 3), (2, 3), (2, 3), (3, 2)], result=3)
    assert 2 in plan.slot and plan.roots[3] == {2}
    code = generate_code(graph, plan)
    assert "    return e[3].copy()" in code.source.splitlines()
    a = np.arange(6.0).reshape(2, 3)
    code.enter(code.env, (a, a))
    result = code.forward(code.env)
    np.testing.assert_array_equal(result, np.exp(a).reshape(3, 2))
    assert not any(np.may_share_memory(result, buffer) for buffer in code.buffers)
