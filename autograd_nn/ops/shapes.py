"""Shapes and indexing: reshape, transpose, broadcast_to, getitem and its adjoint scatter_add,
concatenate and stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import recording
from ..errors import ShapeError
from ..recording import _as_tensor, apply
from .base import Op, _is_array, _normalize_axes

if TYPE_CHECKING:
    from ..recording import Tensor


def _broadcast_to(v, shape: tuple[int, ...]):
    if _is_array(v):
        return np.broadcast_to(v, shape)
    return apply(BroadcastTo(shape), v)


def _scatter_add(g, index, shape: tuple[int, ...]):
    if _is_array(g):
        return ScatterAdd(index, shape).forward(g)
    return apply(ScatterAdd(index, shape), g)


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
        if isinstance(p, recording.Tensor):
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


def concatenate(seq, axis: int = 0) -> Tensor:
    """Join a sequence of tensors (or arrays) along an existing ``axis``, as ``np.concatenate``."""
    return apply(Concatenate(axis), *_sequence(seq, "concatenate"))


def stack(seq, axis: int = 0) -> Tensor:
    """Join a sequence of tensors (or arrays) of one shape along a new ``axis``, as ``np.stack``."""
    return apply(Stack(axis), *_sequence(seq, "stack"))


def _describe_index(index) -> str:
    parts = index if isinstance(index, tuple) else (index,)

    def one(p) -> str:
        if isinstance(p, slice):
            text = ":".join("" if v is None else str(v) for v in (p.start, p.stop, p.step))
            return text[:-1] if text.endswith(":") and p.step is None else text
        return "..." if p is Ellipsis else repr(p)

    return ", ".join(one(p) for p in parts)


# ---------------------------------------------------------------- NumPy's other shape functions
# swapaxes, moveaxis, squeeze, expand_dims, ravel, flatten, flip, tile, repeat, pad, take, diag, diagonal,
# split, sort, tril, triu: each under its NumPy name (a drawing names the function the code called).


def _run(op: Op, *vs):
    """``op`` on arrays (a plain backward pass) or recorded on Tensors (``create_graph``)."""
    if all(_is_array(v) for v in vs):
        return op.forward(*vs)
    return apply(op, *vs)


class Permute(Transpose):
    """``swapaxes``/``moveaxis``: a transpose by the permutation they amount to, shown by their arguments."""

    __slots__ = ("arguments", "name")

    def __init__(self, name: str, perm: tuple[int, ...], arguments: str) -> None:
        super().__init__(perm)
        self.name, self.arguments = name, arguments

    def details(self) -> str:
        return self.arguments


class NewShape(Reshape):
    """``squeeze``, ``expand_dims``, ``ravel``: a reshape under the NumPy name that asked for it."""

    __slots__ = ("arguments", "name")

    def __init__(self, name: str, new_shape: tuple[int, ...], arguments: str = "") -> None:
        super().__init__(new_shape)
        self.name, self.arguments = name, arguments

    def details(self) -> str:
        return self.arguments


class Flatten(NewShape):
    """``flatten``: as ``ravel``, but always a copy (as ``ndarray.flatten``): changing it never changes x."""

    __slots__ = ()

    def forward(self, x):
        return x.flatten()


class Flip(Op):
    __slots__ = ("axis",)
    keeps_inputs = False
    name = "flip"

    def __init__(self, axis) -> None:
        self.axis = axis

    def details(self) -> str:
        return "" if self.axis is None else f"axis={self.axis}"

    def forward(self, x):
        return np.flip(x, self.axis)

    def vjp(self, g, out, x):
        return (_run(Flip(self.axis), g),)


class Tile(Op):
    """``np.tile(x, reps)``: each input entry is copied into every tile, so its gradient sums over them."""

    __slots__ = ("reps",)
    keeps_inputs = False
    name = "tile"

    def __init__(self, reps: tuple[int, ...]) -> None:
        self.reps = reps

    def details(self) -> str:
        return str(self.reps)

    def forward(self, x):
        return np.tile(x, self.reps)

    def vjp(self, g, out, x):
        rank = max(len(self.reps), x.ndim)
        shape = (1,) * (rank - x.ndim) + tuple(x.shape)
        reps = (1,) * (rank - len(self.reps)) + self.reps
        interleaved = tuple(n for pair in zip(reps, shape, strict=True) for n in pair)
        summed = g.reshape(interleaved).sum(axis=tuple(range(0, 2 * rank, 2)))
        return (summed.reshape(x.shape),)


class Repeat(Op):
    """``np.repeat(x, repeats, axis)``: each entry's gradient is the sum over its copies."""

    __slots__ = ("axis", "position", "repeats")
    keeps_inputs = False
    name = "repeat"

    def __init__(self, repeats, axis) -> None:
        self.repeats, self.axis = repeats, axis

    def details(self) -> str:
        repeats = self.repeats if np.ndim(self.repeats) == 0 else f"array{np.shape(self.repeats)}"
        return f"{repeats}" + ("" if self.axis is None else f", axis={self.axis}")

    def forward(self, x):
        if self.axis is not None:
            (self.position,) = _normalize_axes(self.axis, x.ndim, self.name)
        return np.repeat(x, self.repeats, self.axis)

    def vjp(self, g, out, x):
        if self.axis is None:  # x was flattened first
            n = int(np.prod(x.shape))  # (x may be the node that computed it: shape only)
            position, shape = 0, (n,)
        else:
            n, position, shape = x.shape[self.position], self.position, tuple(x.shape)
        if np.ndim(self.repeats) == 0:  # every entry the same number of times: a reshape and a sum
            r = int(self.repeats)
            summed = g.reshape((*shape[:position], n, r, *shape[position + 1 :])).sum(axis=position + 1)
        else:  # copy i of entry j went to position i of np.repeat(arange(n), repeats): add them back
            owners = np.repeat(np.arange(n), np.broadcast_to(self.repeats, (n,)))
            summed = _scatter_add(g, (*(slice(None),) * position, owners), shape)
        return (summed.reshape(x.shape),)


class Pad(Op):
    """``np.pad(x, pad_width, constant_values=value)``: the gradient is the middle of g (the padding is constant)."""

    __slots__ = ("pad_width", "value")
    keeps_inputs = False
    name = "pad"

    def __init__(self, pad_width: tuple[tuple[int, int], ...], value: float) -> None:
        self.pad_width, self.value = pad_width, value

    def details(self) -> str:
        return f"{self.pad_width}" + (f", value={self.value:g}" if self.value else "")

    def forward(self, x):
        return np.pad(x, self.pad_width, constant_values=self.value)

    def vjp(self, g, out, x):
        middle = tuple(
            slice(before, before + n) for (before, _), n in zip(self.pad_width, x.shape, strict=True)
        )
        return (g[middle],)


class Diagonal(Op):
    """``np.diagonal(x, offset, axis1, axis2)``: the diagonal becomes the last axis; its gradient goes
    back onto the diagonal of zeros."""

    __slots__ = ("axis1", "axis2", "offset")
    keeps_inputs = False
    name = "diagonal"

    def __init__(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> None:
        self.offset, self.axis1, self.axis2 = offset, axis1, axis2

    def details(self) -> str:
        parts = [f"offset={self.offset}"] if self.offset else []
        if (self.axis1, self.axis2) != (0, 1):
            parts.append(f"axis1={self.axis1}, axis2={self.axis2}")
        return ", ".join(parts)

    def forward(self, x):
        return np.diagonal(x, self.offset, self.axis1, self.axis2)

    def vjp(self, g, out, x):
        axis1, axis2 = (a % x.ndim for a in (self.axis1, self.axis2))
        moved = [n for i, n in enumerate(x.shape) if i not in (axis1, axis2)] + [
            x.shape[axis1],
            x.shape[axis2],
        ]
        steps = np.arange(g.shape[-1])
        rows, cols = steps + max(-self.offset, 0), steps + max(self.offset, 0)
        onto = _scatter_add(g, (Ellipsis, rows, cols), tuple(moved))  # x's axes 1 and 2 moved to the end
        back = [i for i in range(x.ndim) if i not in (axis1, axis2)] + [axis1, axis2]
        return (onto.transpose(tuple(int(i) for i in np.argsort(back))),)


class Diag(Op):
    """``np.diag(v, k)`` of a 1-D v: the square matrix with v on diagonal k (2-D x goes to ``Diagonal``)."""

    __slots__ = ("k",)
    keeps_inputs = False
    name = "diag"

    def __init__(self, k: int = 0) -> None:
        self.k = k

    def details(self) -> str:
        return f"k={self.k}" if self.k else ""

    def forward(self, v):
        return np.diag(v, self.k)

    def vjp(self, g, out, v):
        return (_run(Diagonal(self.k), g),)


class Triangle(Op):
    """``np.tril(x, k)`` / ``np.triu(x, k)``: the entries on one side of diagonal k, zeros elsewhere; the
    gradient is g with the same zeros."""

    __slots__ = ("k", "name")
    keeps_inputs = False

    def __init__(self, name: str, k: int = 0) -> None:
        self.name, self.k = name, k

    def details(self) -> str:
        return f"k={self.k}" if self.k else ""

    def forward(self, x):
        if x.ndim < 2:
            raise ShapeError(f"{self.name}: needs at least 2 dimensions, got a tensor of shape {x.shape}")
        return np.tril(x, self.k) if self.name == "tril" else np.triu(x, self.k)

    def vjp(self, g, out, x):
        return (_run(Triangle(self.name, self.k), g),)


class Sort(Op):
    """``np.sort(x, axis)``: each output entry is one input entry, so g goes back to where it came from
    (the positions a stable argsort gives, computed again in backward from the kept input)."""

    __slots__ = ("axis",)
    name = "sort"

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def details(self) -> str:
        return f"axis={self.axis}"

    def forward(self, x):
        return np.sort(x, axis=self.axis, kind="stable")

    def vjp(self, g, out, x):
        order = np.argsort(_data_of(x), axis=self.axis, kind="stable")
        (axis,) = _normalize_axes(self.axis, x.ndim, self.name)
        index = tuple(
            order if i == axis else np.arange(n).reshape([n if j == i else 1 for j in range(x.ndim)])
            for i, n in enumerate(x.shape)
        )
        return (_scatter_add(g, index, tuple(x.shape)),)


def _data_of(v) -> np.ndarray:
    return v if _is_array(v) else v.data


class Join(Concatenate):
    """``hstack``/``vstack``: a concatenation under the NumPy name the code called."""

    __slots__ = ("name",)

    def __init__(self, name: str, axis: int) -> None:
        super().__init__(axis)
        self.name = name


class Take(Index):
    """``np.take(x, indices, axis)``: indexing along one axis (the whole array flattened when axis is None)."""

    __slots__ = ()
    name = "take"


class Part(Index):
    """One piece of ``split``: a slice along the axis (a view, as NumPy's pieces are)."""

    __slots__ = ()
    name = "split"


def swapaxes(x, axis1: int, axis2: int) -> Tensor:
    """x with two axes exchanged, as ``np.swapaxes`` (PyTorch's ``transpose(a, b)``)."""
    x = _as_tensor(x)
    a, b = (_normalize_axes(axis, x.ndim, "swapaxes")[0] for axis in (axis1, axis2))
    perm = list(range(x.ndim))
    perm[a], perm[b] = b, a
    return apply(Permute("swapaxes", tuple(perm), f"{axis1}, {axis2}"), x)


def moveaxis(x, source, destination) -> Tensor:
    """x with axes moved to new positions, the others keeping their order, as ``np.moveaxis``."""
    x = _as_tensor(x)
    sources = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    destinations = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(sources) != len(destinations):
        raise ValueError(f"moveaxis: source {source} and destination {destination} differ in length")
    src = [_normalize_axes(a, x.ndim, "moveaxis")[0] for a in sources]
    dst = [_normalize_axes(a, x.ndim, "moveaxis")[0] for a in destinations]
    rest = [i for i in range(x.ndim) if i not in src]
    perm = [None] * x.ndim
    for s, d in zip(src, dst, strict=True):
        perm[d] = s
    perm = [p if p is not None else rest.pop(0) for p in perm]
    return apply(Permute("moveaxis", tuple(perm), f"{source}, {destination}"), x)


def squeeze(x, axis=None) -> Tensor:
    """x without its size-1 axes (or only those in ``axis``, which must have size 1), as ``np.squeeze``."""
    x = _as_tensor(x)
    if axis is None:
        dropped = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        dropped = _normalize_axes(axis, x.ndim, "squeeze")
        wrong = [a for a in dropped if x.shape[a] != 1]
        if wrong:
            raise ShapeError(
                f"squeeze: axis {wrong[0]} of a tensor of shape {x.shape} has size {x.shape[wrong[0]]}, not 1"
            )
    shape = tuple(n for i, n in enumerate(x.shape) if i not in dropped)
    return apply(NewShape("squeeze", shape, "" if axis is None else f"axis={axis}"), x)


def expand_dims(x, axis) -> Tensor:
    """x with new size-1 axes at the positions ``axis`` (an int or a tuple) of the result, as ``np.expand_dims``."""
    x = _as_tensor(x)
    count = 1 if isinstance(axis, (int, np.integer)) else len(axis)
    new = _normalize_axes(axis, x.ndim + count, "expand_dims")
    sizes = iter(x.shape)
    shape = tuple(1 if i in new else next(sizes) for i in range(x.ndim + count))
    return apply(NewShape("expand_dims", shape, f"axis={axis}"), x)


def ravel(x) -> Tensor:
    """x as one axis, in C order (a view where NumPy gives one), as ``np.ravel``."""
    x = _as_tensor(x)
    return apply(NewShape("ravel", (x.size,)), x)


def flip(x, axis=None) -> Tensor:
    """x with the order of entries reversed along ``axis`` (every axis when None), as ``np.flip``."""
    return apply(Flip(axis), x)


def tile(x, reps) -> Tensor:
    """x repeated ``reps`` times along each axis, as ``np.tile``."""
    reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
    return apply(Tile(reps), x)


def repeat(x, repeats, axis=None) -> Tensor:
    """Each entry of x repeated (along ``axis``; of flattened x when None), as ``np.repeat``."""
    if isinstance(repeats, recording.Tensor):
        raise TypeError("repeat: repeats must be an int or an integer array, not a Tensor")
    repeats = int(repeats) if np.ndim(repeats) == 0 else np.asarray(repeats)
    return apply(Repeat(repeats, axis), x)


def pad(x, pad_width, value: float = 0) -> Tensor:
    """x surrounded by ``value``: ``pad_width`` is NumPy's (one (before, after) pair per axis, or one pair
    or one int for all), as ``np.pad(x, pad_width, constant_values=value)``."""
    x = _as_tensor(x)
    if isinstance(value, recording.Tensor) or np.ndim(value) != 0:
        raise TypeError("pad: value must be a number (the padding is a constant, not differentiable)")
    try:
        widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {x.shape}") from None
    if widths.dtype.kind not in "iu" or (widths < 0).any():
        raise ValueError(f"pad: pad_width must hold non-negative integers, got {pad_width!r}")
    pairs = tuple((int(b), int(a)) for b, a in widths)
    return apply(Pad(pairs, float(value)), x)


def take(x, indices, axis=None) -> Tensor:
    """Entries of x at ``indices`` along ``axis`` (of flattened x when None), as ``np.take``."""
    x = _as_tensor(x)
    indices = np.asarray(indices.data if isinstance(indices, recording.Tensor) else indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"take: indices must be integers, got dtype {indices.dtype}")
    if axis is None:
        return apply(Take(indices), ravel(x))
    (position,) = _normalize_axes(axis, x.ndim, "take")
    return apply(Take((*(slice(None),) * position, indices)), x)


def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The diagonal ``offset`` of the planes (axis1, axis2), as the last axis, as ``np.diagonal``."""
    return apply(Diagonal(int(offset), int(axis1), int(axis2)), x)


def diag(x, k: int = 0) -> Tensor:
    """For 1-D x the square matrix with x on diagonal k; for 2-D x its diagonal k; as ``np.diag``."""
    x = _as_tensor(x)
    if x.ndim == 1:
        return apply(Diag(int(k)), x)
    if x.ndim == 2:
        return diagonal(x, k)
    raise ShapeError(f"diag: needs a 1-D or 2-D tensor, got shape {x.shape}")


def tril(x, k: int = 0) -> Tensor:
    """x with the entries above diagonal k set to 0 (the last two axes), as ``np.tril``."""
    return apply(Triangle("tril", int(k)), x)


def triu(x, k: int = 0) -> Tensor:
    """x with the entries below diagonal k set to 0 (the last two axes), as ``np.triu``."""
    return apply(Triangle("triu", int(k)), x)


def sort(x, axis: int | None = -1) -> Tensor:
    """x sorted along ``axis`` (of flattened x when None), as ``np.sort``; ties keep their order."""
    x = _as_tensor(x)
    if axis is None:
        x, axis = ravel(x), -1
    return apply(Sort(int(axis)), x)


def split(x, sections_or_indices, axis: int = 0) -> list[recording.Tensor]:
    """x cut along ``axis`` as ``np.split``: an int N gives N equal pieces (N must divide the axis), a list
    gives the points to cut at. Each piece is a view, differentiable on its own."""
    x = _as_tensor(x)
    (position,) = _normalize_axes(axis, x.ndim, "split")
    n = x.shape[position]
    if np.ndim(sections_or_indices) == 0:
        sections = int(sections_or_indices)
        if sections <= 0 or n % sections:
            raise ShapeError(
                f"split: {sections} equal sections do not divide axis {axis} of size {n} (shape {x.shape}); "
                "give a list of split points instead"
            )
        points = [i * (n // sections) for i in range(1, sections)]
    else:
        points = [int(p) for p in sections_or_indices]
    lead = (slice(None),) * position
    bounds = zip([0, *points], [*points, n], strict=True)
    return [apply(Part((*lead, slice(start, stop))), x) for start, stop in bounds]
