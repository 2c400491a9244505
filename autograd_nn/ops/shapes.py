"""Shapes and indexing: reshape, transpose, broadcast_to, getitem and its adjoint scatter_add."""

from __future__ import annotations

import numpy as np

from .. import tensor as _tensor
from .base import Op, _is_array


def _broadcast_to(v, shape: tuple[int, ...]):
    if _is_array(v):
        return np.broadcast_to(v, shape)
    return _tensor.apply(BroadcastTo(shape), v)


def _scatter_add(g, index, shape: tuple[int, ...]):
    if _is_array(g):
        return ScatterAdd(index, shape).forward(g)
    return _tensor.apply(ScatterAdd(index, shape), g)


class Reshape(Op):
    __slots__ = ("new_shape",)
    name = "reshape"
    keeps_inputs = False

    def __init__(self, new_shape: tuple[int, ...]) -> None:
        self.new_shape = new_shape

    def details(self) -> str:
        return str(self.new_shape)

    def shape_error(self, shape) -> str:
        return f"reshape: cannot reshape a tensor of shape {shape} into shape {self.new_shape}"

    def forward(self, x):
        return x.reshape(self.new_shape)

    def vjp(self, g, out, x):
        return (g.reshape(x.shape),)


class Transpose(Op):
    __slots__ = ("axes",)
    keeps_inputs = False
    name = "transpose"

    def __init__(self, axes: tuple[int, ...] | None) -> None:
        self.axes = axes

    def details(self) -> str:
        return "" if self.axes is None else str(self.axes)

    def shape_error(self, shape) -> str:
        return f"transpose: axes {self.axes} do not fit a tensor of shape {shape}"

    def forward(self, x):
        return x.transpose(self.axes)

    def vjp(self, g, out, x):
        if self.axes is None:
            return (g.transpose(),)
        return (g.transpose(tuple(int(i) for i in np.argsort([a % x.ndim for a in self.axes]))),)


class BroadcastTo(Op):
    __slots__ = ("target_shape",)
    name = "broadcast_to"
    keeps_inputs = False

    def __init__(self, target_shape: tuple[int, ...]) -> None:
        self.target_shape = target_shape

    def details(self) -> str:
        return str(self.target_shape)

    def shape_error(self, shape) -> str:
        return f"broadcast_to: cannot broadcast a tensor of shape {shape} to shape {self.target_shape}"

    def forward(self, x):
        return np.broadcast_to(x, self.target_shape)

    def vjp(self, g, out, x):
        return (g,)  # the engine sums the broadcast axes back


def _is_basic_index(index) -> bool:
    """True for ints, slices, None and Ellipsis: such an index never names an element twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


def _normalize_index(index):
    """Unwrap Tensors and lists in an index; turn boolean masks into integer arrays (for np.add.at)."""
    parts = index if isinstance(index, tuple) else (index,)
    normalized = []
    for p in parts:
        if isinstance(p, _tensor.Tensor):
            p = p.data
        if isinstance(p, list):
            p = np.asarray(p) if p else np.zeros(0, dtype=np.intp)  # [] selects nothing, as in NumPy
        if isinstance(p, np.ndarray) and p.dtype == bool:
            normalized.extend(np.nonzero(p))
        elif isinstance(p, np.ndarray) and p.dtype.kind not in "iu":
            raise TypeError(f"getitem: index arrays must hold integers or booleans, got dtype {p.dtype}")
        else:
            normalized.append(p)
    return tuple(normalized) if isinstance(index, tuple) or len(normalized) != 1 else normalized[0]


class Index(Op):
    """``x[index]``: ints, slices, None, Ellipsis, integer arrays and boolean masks."""

    __slots__ = ("index",)
    name = "getitem"
    keeps_inputs = False

    def __init__(self, index) -> None:
        self.index = _normalize_index(index)

    def details(self) -> str:
        return "" if not _is_basic_index(self.index) else _describe_index(self.index)

    def forward(self, x):
        return x[self.index]

    def vjp(self, g, out, x):
        return (_scatter_add(g, self.index, x.shape),)


class ScatterAdd(Op):
    """Zeros of ``shape`` with ``g`` added at ``index``; repeated indices accumulate (``np.add.at``)."""

    __slots__ = ("index", "target_shape")
    name = "scatter_add"
    keeps_inputs = False

    def __init__(self, index, target_shape: tuple[int, ...]) -> None:
        self.index, self.target_shape = index, target_shape

    def forward(self, g):
        result = np.zeros(self.target_shape, dtype=g.dtype)
        if _is_basic_index(self.index):
            result[self.index] = g
        else:
            np.add.at(result, self.index, g)
        return result

    def vjp(self, gg, out, g):
        return (gg[self.index],)


def _describe_index(index) -> str:
    parts = index if isinstance(index, tuple) else (index,)

    def one(p) -> str:
        if isinstance(p, slice):
            text = ":".join("" if v is None else str(v) for v in (p.start, p.stop, p.step))
            return text[:-1] if text.endswith(":") and p.step is None else text
        return "..." if p is Ellipsis else repr(p)

    return ", ".join(one(p) for p in parts)
