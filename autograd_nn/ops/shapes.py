"""Shapes and indexing: reshape, transpose, broadcast_to, getitem and its adjoint scatter_add,
concatenate and stack."""

from __future__ import annotations

import numpy as np

from .. import tensor as _tensor
from ..errors import ShapeError
from .base import Op, _is_array, _normalize_axes


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


class Concatenate(Op):
    """Join tensors along an existing axis; each input's gradient is its own slice of g."""

    __slots__ = ("axis", "bounds", "position")
    keeps_inputs = False
    name = "concatenate"

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def details(self) -> str:
        return f"axis={self.axis}"

    def forward(self, *xs):
        if any(x.ndim == 0 for x in xs):
            raise ShapeError(f"concatenate: 0-d tensors cannot be concatenated (shapes {_shapes(xs)})")
        (self.position,) = _normalize_axes(self.axis, xs[0].ndim, self.name)
        others = {x.shape[: self.position] + x.shape[self.position + 1 :] for x in xs}
        if len({x.ndim for x in xs}) > 1 or len(others) > 1:
            raise ShapeError(f"concatenate: shapes {_shapes(xs)} must match except along axis {self.axis}")
        ends = np.cumsum([x.shape[self.position] for x in xs]).tolist()
        self.bounds = list(zip([0, *ends[:-1]], ends, strict=True))
        return np.concatenate(xs, axis=self.position)

    def vjp(self, g, out, *xs):
        lead = (slice(None),) * self.position
        return tuple(
            g[(*lead, slice(start, stop))] if need else None
            for (start, stop), need in zip(self.bounds, self.needs_grad, strict=True)
        )


class Stack(Op):
    """Join tensors of one shape along a new axis; input i's gradient is g's entry i along it."""

    __slots__ = ("axis", "position")
    keeps_inputs = False
    name = "stack"

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def details(self) -> str:
        return f"axis={self.axis}"

    def forward(self, *xs):
        if len({x.shape for x in xs}) > 1:
            raise ShapeError(f"stack: every tensor must have the same shape, got shapes {_shapes(xs)}")
        (self.position,) = _normalize_axes(self.axis, xs[0].ndim + 1, self.name)
        return np.stack(xs, axis=self.position)

    def vjp(self, g, out, *xs):
        lead = (slice(None),) * self.position
        return tuple(g[(*lead, i)] if need else None for i, need in enumerate(self.needs_grad))


def _shapes(xs) -> str:
    return ", ".join(str(x.shape) for x in xs)


def _sequence(seq, op: str) -> list:
    tensors = list(seq)
    if not tensors:
        raise ValueError(f"{op}: needs at least one tensor, got an empty sequence")
    return tensors


def concatenate(seq, axis: int = 0) -> _tensor.Tensor:
    """Join a sequence of tensors (or arrays) along an existing ``axis``, as ``np.concatenate``."""
    return _tensor.apply(Concatenate(axis), *_sequence(seq, "concatenate"))


def stack(seq, axis: int = 0) -> _tensor.Tensor:
    """Join a sequence of tensors (or arrays) of one shape along a new ``axis``, as ``np.stack``."""
    return _tensor.apply(Stack(axis), *_sequence(seq, "stack"))


def _describe_index(index) -> str:
    parts = index if isinstance(index, tuple) else (index,)

    def one(p) -> str:
        if isinstance(p, slice):
            text = ":".join("" if v is None else str(v) for v in (p.start, p.stop, p.step))
            return text[:-1] if text.endswith(":") and p.step is None else text
        return "..." if p is Ellipsis else repr(p)

    return ", ".join(one(p) for p in parts)
