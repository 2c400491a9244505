"""ag.compile's fusion: ``x @ w.T``, a layer ``x @ w.T + b`` and ``(x**2).sum()`` run as one op each, with eager's
values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from compile_helpers import assert_close, clear, one_hot_batch

import autograd_nn as ag
from autograd_nn import Tensor, ops
from autograd_nn.compile.fuse import Affine, ProductWithTransposed, SumOfSquares, fuse_patterns
from autograd_nn.compile.graph import Graph
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


# ------------------------------------------------------------------ the patterns alone, on hand-built nodes

F64 = np.dtype(np.float64)


def values(graph: Graph, *shapes: tuple[int, ...], dtype=F64) -> list[int]:
    return [graph.new_value(shape, dtype) for shape in shapes]


def layer_nodes(graph: Graph, *, bias_shape=(3,)) -> tuple[list, list[int]]:
    """x @ w.T + b as the eager ops record it: transpose, matmul, add."""
    x, w, b, wt, product, out = values(graph, (5, 4), (3, 4), bias_shape, (4, 3), (5, 3), (5, 3))
    nodes = [
        (ops.Transpose(None), [w], wt, True),
        (ops.MatMul(), [x, wt], product, True),
        (ops.Add(), [product, b], out, True),
    ]
    graph.result = out
    return nodes, [x, w, b, wt, product, out]


def test_a_layer_becomes_one_affine_op_reading_x_w_and_b():
    graph = Graph("hand-built")
    nodes, (x, w, b, _, _, out) = layer_nodes(graph)
    (fused,) = fuse_patterns(graph, nodes)
    op, ins, made, recorded = fused
    assert type(op) is Affine and ins == [x, w, b] and made == out and recorded
    assert op.product is np.dot  # x and w share a dtype: the product is one np.dot


def test_a_bias_of_another_shape_leaves_the_product_fused_and_the_addition_as_it_is():
    graph = Graph("hand-built")
    nodes, (x, w, b, _, product, out) = layer_nodes(graph, bias_shape=(5, 3))
    fused = fuse_patterns(graph, nodes)
    assert [(type(op), ins, made) for op, ins, made, _ in fused] == [
        (ProductWithTransposed, [x, w], product),
        (ops.Add, [product, b], out),
    ]


def test_a_transpose_used_elsewhere_is_kept_and_not_fused():
    graph = Graph("hand-built")
    nodes, graph_values = layer_nodes(graph)
    wt = graph_values[3]
    (also,) = values(graph, (4, 3))
    nodes.append((ops.Neg(), [wt], also, True))  # w.T read a second time
    fused = fuse_patterns(graph, nodes)
    assert [type(op) for op, *_ in fused] == [ops.Transpose, ops.MatMul, ops.Add, ops.Neg]


def test_nodes_recorded_differently_are_not_fused():
    graph = Graph("hand-built")
    nodes, _ = layer_nodes(graph)
    nodes[0] = (*nodes[0][:3], False)  # the transpose was made under no_grad
    assert [type(op) for op, *_ in fuse_patterns(graph, nodes)] == [ops.Transpose, ops.MatMul, ops.Add]


def test_a_square_summed_whole_becomes_one_dot_product_unless_it_is_the_result():
    graph = Graph("hand-built")
    x, square, total = values(graph, (5, 4), (5, 4), ())
    nodes = [(ops.Pow(2), [x], square, True), (ops.Sum(), [square], total, True)]
    graph.result = total
    ((op, ins, made, _),) = fuse_patterns(graph, nodes)
    assert type(op) is SumOfSquares and ins == [x] and made == total
    graph.result = square  # the square is what fn returns: it must be computed
    assert [type(op) for op, *_ in fuse_patterns(graph, nodes)] == [ops.Pow, ops.Sum]


def test_the_fused_layer_writes_into_buffers_what_the_eager_ops_compute():
    # (a program runs Affine through forward_into and vjp_into; its plain vjp, the Op interface, must agree)
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 5, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    g = rng.normal(size=(2, 5, 3))
    affine = Affine(True)
    affine.targets = (True, True, True)  # every input needs its gradient
    out = np.empty((2, 5, 3))
    affine.forward_into(out, x, w, b)
    np.testing.assert_allclose(out, x @ w.T + b, rtol=1e-12)
    grads = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    affine.vjp_into(grads, g, out, x, w, b)
    eager = g @ w, np.einsum("bij,bik->jk", g, x), g.sum(axis=(0, 1))
    for into_buffer, expected in zip(grads, eager, strict=True):
        np.testing.assert_allclose(into_buffer, expected, rtol=1e-12)
    for plain, expected in zip(affine.vjp(g, out, x, w, b), eager, strict=True):
        np.testing.assert_allclose(plain, expected, rtol=1e-12)
    product = ProductWithTransposed(True)
    product.targets = (True, True)
    for plain, expected in zip(product.vjp(g, out, x, w), eager[:2], strict=True):
        np.testing.assert_allclose(plain, expected, rtol=1e-12)
    np.testing.assert_allclose(SumOfSquares().forward(x), (x**2).sum(), rtol=1e-12)
