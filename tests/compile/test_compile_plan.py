"""ag.compile's buffer planning: arrays shared by values whose lifetimes do not overlap, and never the caller's."""

from __future__ import annotations

import numpy as np
from compile_helpers import assert_close, clear, gradients, one_hot_batch

import autograd_nn as ag
from autograd_nn.compile.graph import Graph, Step
from autograd_nn.compile.plan import plan_buffers
from autograd_nn.digits.network import Network


def test_the_loss_and_gradients_a_caller_holds_are_never_overwritten():
    net = Network([6, 5, 3], seed=0)
    step = ag.compile(lambda X, Y: net.cost(X, Y, lam=0.1))
    rng = np.random.default_rng(3)
    held = []
    for _ in range(4):
        clear(net.parameters())
        loss = step(rng.random((8, 6)), one_hot_batch(rng, 8, 3))
        loss.backward()
        grads = [p.grad for p in net.parameters()]
        held.append((loss, loss.data.copy(), grads, [g.copy() for g in grads]))
    for loss, value, grads, copies in held:
        np.testing.assert_array_equal(loss.data, value)
        for g, c in zip(grads, copies, strict=True):
            np.testing.assert_array_equal(g, c)
    arrays = [a for loss, _, grads, _ in held for a in (loss.data, *grads)]
    program = next(iter(step._programs.values()))
    assert not any(np.may_share_memory(a, b) for a in arrays for b in program.buffers)


def test_the_layer_adds_its_bias_into_the_products_buffer_and_the_sigmoid_overwrites_it():
    net = Network([8, 6, 3], seed=0)
    step = ag.compile(lambda X, Y: net.cost(X, Y, lam=0.2))
    X, Y = np.ones((5, 8)), np.eye(3)[[0, 1, 2, 0, 1]]
    step(X, Y)
    program = next(iter(step._programs.values()))
    labels = [s.label for s in program.steps[: program.forward_steps]]
    forward = program.steps[: program.forward_steps]
    assert all(program.shapes[s.outs[0]] == () for s in forward if s.label == "add")  # x @ w.T + b: one op
    layer, sigmoid = (
        program.steps[labels.index(name)].outs[0] for name in ("linear(x @ w.T + b)", "sigmoid")
    )
    assert program.slot[layer] == program.slot[sigmoid]
    hidden = [spec for spec in program.slot_specs if spec[0] == (5, 6)]
    assert len(hidden) == 2  # the activation and one gradient buffer, nothing more of that size


def test_the_cross_entropy_forward_computes_in_scratch_buffers_the_planner_lends():
    net = Network([8, 6, 3], seed=0)
    step = ag.compile(lambda X, Y: net.cost(X, Y, lam=0.2))
    X, Y = np.random.default_rng(0).normal(size=(5, 8)), np.eye(3)[[0, 1, 2, 0, 1]]
    step(X, Y)
    program = next(iter(step._programs.values()))
    (s,) = [s for s, st in enumerate(program.steps) if st.label.startswith("bce_with_logits")]
    scratch = [program.buffers[slot] for slot in program.scratch_slots[s]]
    assert [b.shape for b in scratch] == [(5, 3)] * 2  # the elementwise loss and log1p(e^-|z|)
    step_arrays = [program.env[v] for v in program.steps[s].ins + program.steps[s].outs]
    for b in scratch:  # lent for this step only: never an input, the output or another scratch buffer
        assert not any(np.may_share_memory(b, a) for a in step_arrays if a is not None)
        assert sum(np.may_share_memory(b, other) for other in scratch) == 1
    for _ in range(3):
        clear(net.parameters())
        compiled = step(X, Y)
        compiled.backward()
        got = gradients(net.parameters())
        clear(net.parameters())
        eager = net.cost(X, Y, lam=0.2)
        eager.backward()
        assert compiled.item() == eager.item()
        for a, b in zip(got, gradients(net.parameters()), strict=True):
            assert_close(a, b)


# ------------------------------------------------------------------ the planner alone, on hand-built graphs
# Each graph below is a straight line of steps over numbered values, with each value's kind given as
# the backward's construction would give it: "external" (the caller's), "buffer" (written into),
# "fresh" (a new array or a view of what its step read).

VECTOR = ((4,), np.dtype(np.float64))


def line_of_steps(kinds: list[str], steps: list[Step], *, specs=None, fresh_at_trace=(), grads=()) -> Graph:
    """A forward-only graph: value i has kind ``kinds[i]`` and spec ``specs[i]`` (a vector by default);
    its result is the last step's output, and ``grads`` lists (leaf, gradient) pairs that escape."""
    graph = Graph("hand-built")
    for i, kind in enumerate(kinds):
        graph.new_value(*(specs[i] if specs else VECTOR))
        graph.kind[i] = kind
    graph.steps = steps
    graph.forward_steps = len(steps)
    graph.result = steps[-1].outs[0]
    graph.fresh_at_trace = set(fresh_at_trace)
    graph.leaf_grads = list(grads)
    return graph


def into(label: str, ins: list[int], out: int, inplace=()) -> Step:
    return Step(label, ins, [out], inplace, node=0, how="into")


def plain(label: str, ins: list[int], out: int) -> Step:
    return Step(label, ins, [out], node=0, how="plain")


def test_values_whose_lifetimes_do_not_overlap_share_a_buffer_and_overlapping_ones_do_not():
    # x -> a -> b -> c -> result: a is dead once b is made, so c takes a's buffer; b overlaps both
    x, a, b, c, result = range(5)
    graph = line_of_steps(
        ["external", "buffer", "buffer", "buffer", "fresh"],
        [into("f", [x], a), into("g", [a], b), into("h", [b], c), plain("k", [c], result)],
        fresh_at_trace=[result],
    )
    plan = plan_buffers(graph)
    assert plan.slot[a] == plan.slot[c]
    assert len({plan.slot[a], plan.slot[b]}) == 2 and plan.slot[b] != plan.slot[c]
    assert plan.slot_specs == [VECTOR, VECTOR]


def test_a_dead_buffer_is_reused_only_by_a_value_of_its_shape_and_dtype():
    x, a, b, c, result = range(5)
    matrix, float32 = ((2, 2), np.dtype(np.float64)), ((4,), np.dtype(np.float32))
    for spec in (matrix, float32):
        graph = line_of_steps(
            ["external", "buffer", "buffer", "buffer", "fresh"],
            [into("f", [x], a), into("g", [a], b), into("h", [b], c), plain("k", [c], result)],
            specs=[VECTOR, VECTOR, VECTOR, spec, spec],
            fresh_at_trace=[result],
        )
        plan = plan_buffers(graph)
        assert len({plan.slot[a], plan.slot[b], plan.slot[c]}) == 3
        assert plan.slot_specs[plan.slot[c]] == spec


def test_a_fresh_value_that_may_view_a_buffer_keeps_that_buffer_alive():
    # v = view(a) is read at the last step, so b (made in between) must not take a's buffer; when v is
    # known to be a new array (it shared no input's memory at the trace), b may
    x, a, v, b, result = range(5)
    steps = [into("f", [x], a), plain("view", [a], v), into("g", [x], b), plain("k", [v, b], result)]
    kinds = ["external", "buffer", "fresh", "buffer", "fresh"]
    viewing = plan_buffers(line_of_steps(kinds, steps, fresh_at_trace=[result]))
    assert viewing.roots[v] == {a}
    assert viewing.slot[b] != viewing.slot[a]
    copying = plan_buffers(line_of_steps(kinds, steps, fresh_at_trace=[v, result]))
    assert copying.roots[v] == frozenset()
    assert copying.slot[b] == copying.slot[a]


def test_a_step_may_write_over_an_input_that_dies_there_and_no_other():
    x, a, b, result = range(4)
    over_a = [into("f", [x], a), into("sigmoid", [a], b, inplace=((b, [a]),)), plain("k", [b], result)]
    plan = plan_buffers(line_of_steps(["external", "buffer", "buffer", "fresh"], over_a, fresh_at_trace=[3]))
    assert plan.slot[b] == plan.slot[a]
    # a read again after the step is still alive: b gets a buffer of its own
    a_later = [*over_a[:2], plain("k", [b, a], result)]
    plan = plan_buffers(line_of_steps(["external", "buffer", "buffer", "fresh"], a_later, fresh_at_trace=[3]))
    assert plan.slot[b] != plan.slot[a]


def test_values_the_caller_gets_never_take_a_buffer_and_keep_what_they_view_alive():
    # the result is a buffer value (written into) and a leaf's gradient views buffer a: neither is pooled
    x, a, grad, result = range(4)
    steps = [into("f", [x], a), plain("view", [a], grad), into("g", [x], result)]
    graph = line_of_steps(["external", "buffer", "fresh", "buffer"], steps, grads=[(x, grad)])
    plan = plan_buffers(graph)
    assert plan.escaping == {result, grad}
    assert result not in plan.slot and grad not in plan.slot
    assert plan.slot == {a: 0}  # only a is pooled


def test_scratch_buffers_are_lent_for_their_step_only():
    x, a, b, c, result = range(5)
    with_scratch = into("loss", [a], b)
    with_scratch.scratch = (VECTOR,)
    steps = [into("f", [x], a), with_scratch, into("h", [b], c), plain("k", [c], result)]
    graph = line_of_steps(["external", "buffer", "buffer", "buffer", "fresh"], steps, fresh_at_trace=[result])
    plan = plan_buffers(graph)
    (scratch,) = plan.scratch_slots[1]
    assert scratch not in (plan.slot[a], plan.slot[b])  # never the step's input or output
    assert plan.scratch_slots[0] == plan.scratch_slots[2] == []
    assert plan.slot[c] in (scratch, plan.slot[a])  # free again after its step
    assert len(plan.slot_specs) == 3
