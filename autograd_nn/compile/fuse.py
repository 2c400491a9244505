"""Fusion: three patterns of traced ops that the program runs as one op each.

``x @ w.T`` (``ProductWithTransposed``: w's gradient comes out in w's layout, and x of more axes is
taken as the matrix of its rows), a layer ``x @ w.T + b`` (``Affine``: the bias added into the
product's buffer, its gradient one matrix-vector product) and ``(x**2).sum()`` (``SumOfSquares``: one
dot product, an L2 term). A pattern replaces a node and the one node feeding it; the value between
them is dropped, so it must have no other use, be recorded alike, and not be the function's result.
The fused ops compute what the eager ops compute, with the eager ops' arithmetic.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .. import ops
from ..broadcasting import _sum_over
from .graph import Graph


def fuse_patterns(graph: Graph, nodes: list) -> list:
    """``nodes`` with each pattern's matches fused, the patterns tried in turn."""
    for pattern in (_product_with_transposed, _affine, _sum_of_squares):
        nodes = _fuse(graph, nodes, pattern)
    return nodes


def _fuse(graph: Graph, nodes: list, pattern) -> list:
    """Replace each node that ``pattern`` matches, with the one value feeding it, by one fused op.

    ``pattern(graph, op, ins, made_by)`` sees a node and the (op, ins, recorded) that made its
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
        match = pattern(graph, op, ins, made_by)
        if match is not None:
            k, fused_op, fused_ins = match
            if made_by[ins[k]][2] == recorded and uses[ins[k]] == 1 and ins[k] != graph.result:
                dropped.add(ins[k])
                op, ins = fused_op, fused_ins
        fused.append((op, ins, out, recorded))
    return [n for n in fused if n[2] not in dropped]


def _product_with_transposed(graph: Graph, op, ins, made_by):
    """``x @ w.T`` with 2-D w and x of 2 or more axes (a layer on a batch of sequences: its rows) as one
    op, so w's gradient comes out in w's layout (g.T @ x)."""
    if type(op) is not ops.MatMul or len(graph.shapes[ins[0]]) < 2:
        return None
    transpose = made_by.get(ins[1])
    if (
        transpose is None
        or type(transpose[0]) is not ops.Transpose
        or transpose[0].axes is not None
        or len(graph.shapes[transpose[1][0]]) != 2
    ):
        return None
    x, w = ins[0], transpose[1][0]
    return 1, ProductWithTransposed(graph.dtypes[x] == graph.dtypes[w]), [x, w]


def _affine(graph: Graph, op, ins, made_by):
    """``x @ w.T + b`` with b of shape (units,) as one op: the bias added into the product's buffer,
    and its gradient taken from g directly."""
    if type(op) is not ops.Add:
        return None
    for k in (0, 1):
        product, bias = made_by.get(ins[k]), ins[1 - k]
        if product is None or type(product[0]) is not ProductWithTransposed:
            continue
        shape = graph.shapes[ins[k]]
        if graph.shapes[bias] == shape[-1:] and graph.dtypes[bias] == graph.dtypes[ins[k]]:
            return k, Affine(product[0].product is np.dot), [*product[1], bias]
    return None


def _sum_of_squares(graph: Graph, op, ins, made_by):
    """``(x**2).sum()`` (an L2 penalty) as one op: one dot product forward, one pass backward."""
    if type(op) is not ops.Sum or op.axis is not None or op.keepdims:
        return None
    square = made_by.get(ins[0])
    if square is None or type(square[0]) is not ops.Pow or square[0].exponent != 2:
        return None
    return 0, SumOfSquares(), [square[1][0]]


class ProductWithTransposed(ops.Op):
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
        need_x, need_w = self.needs_grad[:2]  # Affine's third flag is its bias's
        rows = _rows(g)
        return ((rows @ w).reshape(x.shape) if need_x else None), (rows.T @ _rows(x) if need_w else None)

    def vjp_into(self, grads, g, out, x, w):
        gx, gw = grads
        if gx is not None:
            self.product(_rows(g), w, out=_rows(gx))
        if gw is not None:
            self.product(_rows(g).T, _rows(x), out=gw)


class Affine(ProductWithTransposed):
    """``x @ w.T + b`` for 2-D w and 1-D b (x as in ``ProductWithTransposed``) as one op: what a compiled
    program runs for a layer
    (``Linear``, the tutorial's ``a @ theta.T + b``), with the eager ops' arithmetic (products as
    ``ProductWithTransposed``'s)."""

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


class SumOfSquares(ops.Op):
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
