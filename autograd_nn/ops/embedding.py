"""Integer indices into tables: embedding (rows of a weight picked by token ids) and one_hot.

The indices are integer ndarrays and stay so: they are part of the op (as ``nll_loss``'s labels), not an
input, and nothing flows back to them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import recording
from ..errors import ShapeError
from ..recording import apply
from .base import Op, _is_array
from .shapes import _scatter_add

if TYPE_CHECKING:
    from ..recording import Tensor

# Measured (rows N, vocabulary V, width 10-64): a one-hot product wins up to about N * V = 2**15 (96 x 27:
# 6 vs 15 µs); beyond, sorting does (1024 x 5000: 0.44 ms, where np.add.at takes 0.8 ms and one-hot 200 ms).
_ONE_HOT_LIMIT = 2**15


def _indices(indices, size: int, op: str) -> np.ndarray:
    """``indices`` checked: an integer array with values in 0..size-1."""
    if isinstance(indices, recording.Tensor):
        raise TypeError(
            f"{op}: indices must be an integer ndarray (a Tensor holds floats); keep token ids as np.int64 arrays"
        )
    array = np.asarray(indices)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must hold integers, got dtype {array.dtype}")
    _check_range(array, size, op)
    return array


def _check_range(array: np.ndarray, size: int, op: str) -> None:
    """Refuse an index outside 0..size-1 (NumPy would read a negative one from the end, silently)."""
    if array.size and (array.min() < 0 or array.max() >= size):
        bad = array[(array < 0) | (array >= size)].flat[0]
        raise IndexError(f"{op}: index {bad} is out of range for {size} rows (0..{size - 1})")


def _rows_added(g: np.ndarray, indices: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of ``shape`` (V, E) with row ``g[i]`` added at row ``indices[i]``, repeated indices summed.

    np.add.at does this but slowly (an indexed loop); a one-hot matrix times g is one BLAS call when the
    vocabulary is small, and otherwise sorting the indices lets np.add.reduceat sum each run of equal ones.
    """
    rows = g.reshape(-1, shape[1])
    flat = indices.reshape(-1)
    if flat.size * shape[0] <= _ONE_HOT_LIMIT:
        one_hot = np.equal.outer(np.arange(shape[0]), flat).astype(g.dtype)  # (V, N)
        return one_hot @ rows
    result = np.zeros(shape, dtype=g.dtype)
    if flat.size == 0:
        return result
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    result[ordered[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return result


class Embedding(Op):
    """``weight[indices]``: row ``indices[...]`` of weight (V, E) for every index, shape (*indices.shape, E)."""

    __slots__ = ("indices",)
    keeps_inputs = False
    name = "embedding"

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices

    def forward(self, weight):
        if weight.ndim != 2:
            raise ShapeError(
                f"embedding: weight must be a (num_embeddings, embedding_dim) table, got {weight.shape}"
            )
        _check_range(self.indices, weight.shape[0], "embedding")  # again: a compiled replay brings new ids
        return np.take(weight, self.indices, axis=0)

    def vjp(self, g, out, weight):
        if _is_array(g):
            return (_rows_added(g, self.indices, weight.shape),)
        return (_scatter_add(g, self.indices, weight.shape),)  # recorded: its VJP gathers the rows again


def embedding(indices, weight) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer array ``indices`` (any shape),
    as PyTorch's ``F.embedding``: shape (*indices.shape, embedding_dim). Repeated indices sum their gradients."""
    shape = weight.shape if isinstance(weight, recording.Tensor) else np.shape(weight)
    if len(shape) != 2:
        raise ShapeError(
            f"embedding: weight must be a (num_embeddings, embedding_dim) table, got shape {shape}"
        )
    return apply(Embedding(_indices(indices, shape[0], "embedding")), weight)


def one_hot(labels, num_classes: int = -1) -> np.ndarray:
    """An int64 array of shape (*labels.shape, num_classes) with 1 at each label and 0 elsewhere, as PyTorch's
    ``F.one_hot`` (``num_classes=-1``: the largest label + 1). Not differentiable: labels are integers."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    given = np.asanyarray(labels.data if isinstance(labels, recording.Tensor) else labels)
    array = np.asarray(given)
    if array.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must hold integers, got dtype {array.dtype}")
    if num_classes == -1:
        num_classes = int(array.max()) + 1 if array.size else 0
    _indices(array, int(num_classes), "one_hot")
    # computed from ``given``: labels ag.compile traces (an ndarray subclass) mark the result as theirs
    return np.equal.outer(given, np.arange(num_classes)).astype(np.int64)
