"""Undoing broadcasting: a gradient summed back to the shape of the operand it belongs to.

An op whose operands broadcast gets a gradient of the broadcast shape; the operand's gradient is that
summed over the axes broadcasting added (extra leading axes, and axes where the operand has size 1).
Backward does it for every op in one place (``_unbroadcast``), and the VJPs ``ag.compile`` runs into
preallocated buffers do it with the same sum (``_sum_into``), so compiled and eager gradients agree
bit for bit.
"""

from __future__ import annotations

import functools

import numpy as np

from .errors import ShapeError


def _unbroadcast(g, shape: tuple[int, ...], op):
    """Sum ``g`` over the axes broadcasting added, so it has the operand's ``shape`` again.

    The one place broadcasting is undone: extra leading axes and size-1 axes are summed away.
    ``op`` (the node whose VJP gave ``g``) names the operation in the error.
    """
    g_shape = g.shape
    if g_shape == shape:
        return g
    extra = len(g_shape) - len(shape)
    if extra < 0 or any(gs != s and s != 1 for gs, s in zip(g_shape[extra:], shape, strict=True)):
        raise ShapeError(
            f"{op.name}: the gradient of shape {g_shape} does not fit the operand's shape {shape}"
        )
    return _sum_over(g, _summed_axes(g_shape, shape), shape)


def _summed_axes(g_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of a gradient of ``g_shape`` that broadcasting to it added to an operand of ``shape``:
    the extra leading ones and those where the operand has size 1."""
    extra = len(g_shape) - len(shape)
    stretched = tuple(extra + i for i, s in enumerate(shape) if s == 1 and g_shape[extra + i] != 1)
    return tuple(range(extra)) + stretched


def _sum_into(out: np.ndarray, value) -> None:
    """Write ``value`` into ``out``, summed over the axes broadcasting added (a VJP-into-buffer's
    unbroadcast, with the engine's own sum, so compiled and eager gradients agree bit for bit)."""
    value = value if isinstance(value, (np.ndarray, np.generic)) else value.data
    if value.shape == out.shape:
        np.copyto(out, value)
        return
    _sum_over(value, _summed_axes(value.shape, out.shape), out.shape, out=out)


_ROWS_BY_PRODUCT = 16 * 2**20  # measured: below this many bytes BLAS sums rows 2-5x faster than NumPy


def _sum_over(g, axes: tuple[int, ...], shape: tuple[int, ...], out: np.ndarray | None = None):
    """``g`` summed over ``axes`` and reshaped to ``shape`` (into ``out`` when given). A bias gradient (the
    rows of a 2-D array) is one matrix-vector product with ones: NumPy's sum walks it row by row, several
    times slower."""
    if axes == (0,) and type(g) is np.ndarray and g.ndim == 2 and g.nbytes <= _ROWS_BY_PRODUCT:
        if out is not None and out.shape == g.shape[1:] and out.dtype == g.dtype:
            return np.matmul(_ones(g.shape[0], g.dtype), g, out=out)
        total = (_ones(g.shape[0], g.dtype) @ g).reshape(shape)
    elif out is not None and out.flags.c_contiguous:  # summed straight into out, seen with g's rank
        kept = tuple(1 if i in axes else n for i, n in enumerate(g.shape))
        np.sum(g, axis=axes, keepdims=True, out=out.reshape(kept))
        return out
    else:
        total = g.sum(axis=axes, keepdims=True).reshape(shape)
    if out is None:
        return total
    out[...] = total
    return out


@functools.lru_cache(maxsize=32)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones: ``_ones(n) @ rows`` sums the rows of a matrix as one product."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False  # shared by every caller
    return ones
