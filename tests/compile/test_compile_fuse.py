"""ag.compile's fusion: ``x @ w.T``, a layer ``x @ w.T + b`` and ``(x**2).sum()`` run as one op each, with eager's
values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from compile_helpers import assert_close, clear, one_hot_batch

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.digits.network import Network


def test_the_tutorial_step_runs_fused_products_and_l2_terms_and_source_names_every_op():
    net = Network([64, 25, 10], seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.random((64, 64)), one_hot_batch(rng, 64)
    step = ag.compile(lambda X, Y: net.cost(X, Y, lam=0.3, num_examples=1000))
    for _ in range(3):  # trace, check, replay
        clear(net.parameters())
        step(X, Y).backward()
    forward = step.source().split("def checked_forward")[0]
    assert forward.count("# linear(x @ w.T + b)") == 2  # a @ theta.T + b per layer: one op, no transpose
    assert forward.count("# sum(x**2)") == 2  # the L2 term of each theta in one pass
    assert "# transpose" not in forward and "# pow" not in forward
    assert "# sigmoid" in forward and "# bce_with_logits(sum)" in forward


@pytest.mark.parametrize(
    ("form", "x_dtype"),
    [("x @ w.T + b", np.float64), ("b + x @ w.T", np.float64), ("x @ w.T + b", np.float32)],
)
def test_a_layer_runs_as_one_fused_op_with_eagers_values_and_gradients(form, x_dtype):
    rng = np.random.default_rng(2)
    x, w, b = (Tensor(rng.normal(size=shape), requires_grad=True) for shape in [(7, 4), (3, 4), (3,)])
    x = Tensor(x.data.astype(x_dtype), requires_grad=True)  # float32 rows against float64 weights too
    layer = (lambda x: x @ w.T + b) if form == "x @ w.T + b" else (lambda x: b + x @ w.T)

    def cost(x):
        return (layer(x).sigmoid() * np.arange(3.0)).sum()

    step = ag.compile(cost)
    eager = cost(x)
    eager.backward()
    expected = [x.grad, w.grad, b.grad]
    for _ in range(3):
        clear([x, w, b])
        loss = step(x)
        loss.backward()
    assert_close(loss.data, eager.data)
    for got, want, name in zip([x.grad, w.grad, b.grad], expected, "xwb", strict=True):
        assert_close(got, want, name)
    assert "# linear(x @ w.T + b)" in step.source()


def test_a_layer_on_a_batch_of_sequences_and_attention_heads_replay_with_eagers_gradients():
    # x (batch, time, features) @ w.T + b runs as one fused op over x's rows; the heads' q @ k^T and
    # weights @ v (4-D stacks) write their gradients straight into the program's buffers
    rng = np.random.default_rng(3)
    x, w, b = (Tensor(rng.normal(size=shape), requires_grad=True) for shape in [(2, 5, 8), (12, 8), (12,)])

    def cost(x):
        qkv = (x @ w.T + b).reshape(2, 5, 3, 2, 2).transpose((2, 0, 3, 1, 4))  # (3, batch, heads, time, 2)
        q, k, v = qkv[0], qkv[1], qkv[2]
        weights = ag.softmax(q @ k.transpose((0, 1, 3, 2)), axis=-1)
        return ((weights @ v).tanh() * np.arange(2.0)).sum()

    step = ag.compile(cost)
    eager = cost(x)
    eager.backward()
    expected = [x.grad, w.grad, b.grad]
    for _ in range(3):  # trace, check, replay
        clear([x, w, b])
        loss = step(x)
        loss.backward()
    assert_close(loss.data, eager.data)
    for got, want, name in zip([x.grad, w.grad, b.grad], expected, "xwb", strict=True):
        assert_close(got, want, name)
    source = step.source()
    assert "# linear(x @ w.T + b)" in source
    heads = [line for line in source.splitlines() if line.endswith("# vjp of matmul")]
    assert len(heads) == 2 and all(".vjp_into(" in line for line in heads)
