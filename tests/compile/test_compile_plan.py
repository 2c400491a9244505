"""ag.compile's buffer planning: arrays shared by values whose lifetimes do not overlap, and never the caller's."""

from __future__ import annotations

import numpy as np
from compile_helpers import assert_close, clear, gradients, one_hot_batch

import autograd_nn as ag
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
