"""Contractions: dot, vdot, inner, outer, tensordot and einsum, as NumPy defines them.

Each is a sum of products over paired axes, so each VJP is the same kind of contraction of g with the
other operand: tensordot's with tensordot, einsum's with one einsum per operand. ``np.dot`` of
matrices and vectors is a matrix product and reuses ``MatMul``'s VJP (and its compiled fast path).
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ShapeError
from ..recording import _as_tensor, apply
from .arithmetic import MatMul, Mul
from .base import Op, _is_array, _normalize_axes

if TYPE_CHECKING:
    from ..recording import Tensor


class Dot(MatMul):
    """``np.dot(a, b)`` of vectors and matrices, where it is ``a @ b``."""

    __slots__ = ()
    name = "dot"

    def forward(self, a, b):
        return np.dot(a, b)


class TensorDot(Op):
    """``np.tensordot(a, b, (axes_a, axes_b))``: the sum over the paired axes; the result has a's
    remaining axes, then b's."""

    __slots__ = ("axes_a", "axes_b", "name")

    def __init__(self, axes_a: tuple[int, ...], axes_b: tuple[int, ...], name: str = "tensordot") -> None:
        self.axes_a, self.axes_b, self.name = axes_a, axes_b, name

    def details(self) -> str:
        return "" if self.name != "tensordot" else f"axes=({list(self.axes_a)}, {list(self.axes_b)})"

    def shape_error(self, a_shape, b_shape) -> str:
        return (
            f"{self.name}: axes {list(self.axes_a)} of shape {a_shape} do not match "
            f"axes {list(self.axes_b)} of shape {b_shape}"
        )

    def forward(self, a, b):
        return np.tensordot(a, b, (self.axes_a, self.axes_b))

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        paired_a = [i % a.ndim for i in self.axes_a]
        paired_b = [i % b.ndim for i in self.axes_b]
        free_a = [i for i in range(a.ndim) if i not in paired_a]
        free_b = [i for i in range(b.ndim) if i not in paired_b]
        g_a, g_b = list(range(len(free_a))), list(range(len(free_a), g.ndim))
        ga = gb = None
        if need_a:  # g's b-part against b's free axes; what is left is a's free axes, then b's paired ones
            ga = _tensordot(g, b, g_b, free_b)
            order = free_a + [paired_a[paired_b.index(j)] for j in sorted(paired_b)]
            ga = ga.transpose(tuple(int(i) for i in np.argsort(order)))
        if need_b:  # a's free axes against g's a-part; what is left is a's paired axes, then b's free ones
            gb = _tensordot(a, g, free_a, g_a)
            order = [paired_b[paired_a.index(i)] for i in sorted(paired_a)] + free_b
            gb = gb.transpose(tuple(int(i) for i in np.argsort(order)))
        return ga, gb


def _tensordot(a, b, axes_a, axes_b):
    if _is_array(a) and _is_array(b):
        return np.tensordot(a, b, (axes_a, axes_b))
    return apply(TensorDot(tuple(axes_a), tuple(axes_b)), a, b)


class VDot(Op):
    """``np.vdot(a, b)``: the sum of a * b over all entries (both flattened; same size)."""

    __slots__ = ()
    name = "vdot"

    def forward(self, a, b):
        return np.vdot(a, b)

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        return (g * b.reshape(a.shape) if need_a else None), (g * a.reshape(b.shape) if need_b else None)


class Outer(Op):
    """``np.outer(a, b)``: out[i, j] = a.flat[i] * b.flat[j]."""

    __slots__ = ()
    name = "outer"

    def forward(self, a, b):
        return np.outer(a, b)

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        ga = (g @ b.reshape(-1)).reshape(a.shape) if need_a else None
        gb = (a.reshape(-1) @ g).reshape(b.shape) if need_b else None
        return ga, gb


class Einsum(Op):
    """``np.einsum(subscripts, *operands)`` in explicit form (``"ij,jk->ik"``, every letter once per
    operand). Operand k's gradient is the einsum of g with the other operands giving k's letters; letters
    only k has (summed away in the forward pass) come back by broadcasting."""

    __slots__ = ("inputs", "optimize", "result")  # (Op.output is the saved output array)
    name = "einsum"

    def __init__(self, inputs: tuple[str, ...], output: str, optimize=False) -> None:
        self.inputs, self.result, self.optimize = inputs, output, optimize

    def details(self) -> str:
        return f"{','.join(self.inputs)}->{self.result}"

    def shape_error(self, *shapes) -> str:
        return f"einsum: operands of shapes {' and '.join(map(str, shapes))} do not fit {self.details()!r}"

    def forward(self, *xs):
        return np.einsum(self.details(), *xs, optimize=self.optimize)

    def vjp(self, g, out, *xs):
        grads = []
        for k, need in enumerate(self.needs_grad):
            if not need:
                grads.append(None)
                continue
            others = [i for i in range(len(xs)) if i != k]
            known = set(self.result).union(*(self.inputs[i] for i in others))
            kept = "".join(letter for letter in self.inputs[k] if letter in known)
            gk = _einsum((self.result, *(self.inputs[i] for i in others)), kept, g, *(xs[i] for i in others))
            if kept != self.inputs[k]:  # letters only operand k has: each of its entries got g's value
                shape = tuple(xs[k].shape)
                gk = gk.reshape(
                    tuple(n if c in kept else 1 for c, n in zip(self.inputs[k], shape, strict=True))
                )
                gk = gk * np.ones(shape, dtype=out.dtype) if not _is_array(gk) else np.broadcast_to(gk, shape)
            grads.append(gk)
        return tuple(grads)


def _einsum(inputs, output, *xs):
    if all(_is_array(x) for x in xs):
        return np.einsum(f"{','.join(inputs)}->{output}", *xs)
    return apply(Einsum(tuple(inputs), output), *xs)


def _explicit_einsum(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[tuple[str, ...], str]:
    """``subscripts`` as (one letter string per operand, output letters): ``...`` written out with unused
    letters, the implicit output (the letters used once, sorted) made explicit."""
    subscripts = subscripts.replace(" ", "")
    left, arrow, right = subscripts.partition("->")
    inputs = left.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: {subscripts!r} names {len(inputs)} operands, but {len(shapes)} were given")
    spare = [c for c in string.ascii_letters if c not in subscripts]
    broadcast = max(
        (
            len(s) - len(term.replace("...", ""))
            for term, s in zip(inputs, shapes, strict=True)
            if "..." in term
        ),
        default=0,
    )
    ellipsis = "".join(spare[:broadcast])
    written = []
    for term, shape in zip(inputs, shapes, strict=True):
        if "..." in term:
            count = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ellipsis[broadcast - count :] if count else "")
        if len(term) != len(shape):
            raise ShapeError(f"einsum: {term!r} names {len(term)} axes of an operand of shape {shape}")
        written.append(term)
    if arrow:
        output = right.replace("...", ellipsis)
    else:
        counts = "".join(written)
        output = ellipsis + "".join(
            sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis)
        )
    return tuple(written), output


def einsum(subscripts: str, *operands, optimize=False) -> Tensor:
    """``np.einsum(subscripts, *operands)`` recorded; a letter repeated within one operand (a diagonal,
    ``"ii->i"``) takes that diagonal first, as a recorded ``diagonal``."""
    from .shapes import diagonal  # (shapes is imported by everything else in ops)

    if not isinstance(subscripts, str):
        raise TypeError(
            "einsum: give the subscripts as a string, e.g. np.einsum('ij,jk->ik', a, b) "
            "(the interleaved operand, sublist form is not supported on Tensors)"
        )
    operands = [_as_tensor(x) for x in operands]
    inputs, output = _explicit_einsum(subscripts, [x.shape for x in operands])
    inputs = list(inputs)
    for k, term in enumerate(inputs):
        while len(set(term)) < len(term):  # take the diagonal of a repeated letter's two axes
            letter = next(c for c in term if term.count(c) > 1)
            first = term.index(letter)
            second = term.index(letter, first + 1)
            operands[k] = diagonal(operands[k], 0, first, second)
            term = term[:first] + term[first + 1 : second] + term[second + 1 :] + letter
        inputs[k] = term
    return apply(Einsum(tuple(inputs), output, optimize), *operands)


def dot(a, b) -> Tensor:
    """``np.dot(a, b)``: a product with a scalar, the matrix product of vectors and matrices, and for
    N-D operands the sum over a's last axis and b's second-to-last."""
    a, b = _as_tensor(a), _as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return apply(Mul(), a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return apply(Dot(), a, b)
    return apply(TensorDot((a.ndim - 1,), (max(b.ndim - 2, 0),), "dot"), a, b)


def inner(a, b) -> Tensor:
    """``np.inner(a, b)``: the sum over both operands' last axes (a product with a scalar)."""
    a, b = _as_tensor(a), _as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return apply(Mul(), a, b)
    return apply(TensorDot((a.ndim - 1,), (b.ndim - 1,), "inner"), a, b)


def vdot(a, b) -> Tensor:
    """``np.vdot(a, b)``: the sum of the products of all entries, both flattened (real numbers)."""
    return apply(VDot(), a, b)


def outer(a, b) -> Tensor:
    """``np.outer(a, b)``: the matrix of products a.flat[i] * b.flat[j]."""
    return apply(Outer(), a, b)


def tensordot(a, b, axes=2) -> Tensor:
    """``np.tensordot(a, b, axes)``: an int N pairs a's last N axes with b's first N; a pair of sequences
    names the paired axes."""
    a, b = _as_tensor(a), _as_tensor(b)
    if np.ndim(axes) == 0:
        n = int(axes)
        axes_a, axes_b = tuple(range(a.ndim - n, a.ndim)), tuple(range(n))
    else:
        axes_a, axes_b = axes
        axes_a = (axes_a,) if np.ndim(axes_a) == 0 else tuple(axes_a)
        axes_b = (axes_b,) if np.ndim(axes_b) == 0 else tuple(axes_b)
    if len(axes_a) != len(axes_b):
        raise ShapeError(f"tensordot: {len(axes_a)} axes of a cannot pair with {len(axes_b)} axes of b")
    axes_a = tuple(int(i) % max(a.ndim, 1) for i in axes_a)
    axes_b = tuple(int(i) % max(b.ndim, 1) for i in axes_b)
    _normalize_axes(axes_a, a.ndim, "tensordot")
    _normalize_axes(axes_b, b.ndim, "tensordot")
    return apply(TensorDot(axes_a, axes_b), a, b)
