"""The primitives: each op's forward and its vector-Jacobian product (VJP), side by side.

An op is a small class. ``forward(*arrays)`` computes the result from NumPy arrays;
``vjp(g, out, *inputs)`` returns, for each input, the gradient of the loss with respect to that
input, given ``g``, the gradient with respect to ``out``. VJPs are written with operators and
methods that NumPy arrays and Tensors share (``*``, ``@``, ``.sum``, ``.reshape``, ...), so the
same line runs as plain NumPy during an ordinary backward pass and is recorded as new graph nodes
under ``backward(create_graph=True)``; the few functions the two do not share are the small
``_exp``/``_sigmoid``/``_broadcast_to``/... helpers below. A VJP may return a gradient with
broadcast extra axes: the engine sums it back to the input's shape in one place
(``tensor._unbroadcast``). An op instance is also the graph node. It declares what its VJP reads
(``keeps_inputs``, ``keeps_output``) and the engine keeps just that; an input value it does not
keep reaches the VJP as the node that computed it, which still tells ``shape`` and ``ndim``.
"""

from __future__ import annotations

import numpy as np

from . import tensor as _tensor
from .errors import ShapeError


class Op:
    """A primitive operation; an instance is one node of a recorded graph.

    A recorded node keeps only what its VJP reads. ``keeps_inputs``: the input values (otherwise
    an intermediate input is held as the node that produced it, so its array can be freed as soon
    as the user drops it). ``keeps_output``: the output array (``output``). ``shape`` and
    ``dtype`` describe the output, so a VJP that only needs ``x.shape`` works on a node too.
    ``targets`` says where each input's gradient goes: the node that computed the input, the leaf
    tensor itself, or None when the input needs no gradient.
    """

    __slots__ = (
        "__weakref__",
        "dtype",
        "origin",
        "output",
        "output_name",
        "parents",
        "scope",
        "shape",
        "targets",
    )
    name = "op"
    keeps_inputs = True
    keeps_output = False

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def needs_grad(self) -> tuple[bool, ...]:
        """For each input, whether a gradient must flow to it (VJPs skip the others' work)."""
        return tuple([target is not None for target in self.targets])

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def vjp(self, g, out, *xs) -> tuple:
        raise NotImplementedError

    def details(self) -> str:
        """Parameters worth showing beside the op's name in a drawing or repr, e.g. ``axis=1``."""
        return ""

    def label(self) -> str:
        details = self.details()
        return f"{self.name}({details})" if details else self.name

    def shape_error(self, *shapes: tuple[int, ...]) -> str:
        joined = " and ".join(str(s) for s in shapes)
        return f"{self.name}: operands of shapes {joined} cannot be broadcast together"

    def __repr__(self) -> str:
        return f"<{self.label()}>"


# ---------------------------------------------------------------- helpers shared by VJPs
# Each takes an ndarray (plain backward) or a Tensor (recorded backward) and returns the same kind.


def _is_array(v) -> bool:
    return isinstance(v, (np.ndarray, np.generic))  # arithmetic on 0-d arrays gives NumPy scalars


def _data(v) -> np.ndarray:
    return v if _is_array(v) else v.data


def _exp(v):
    return np.exp(v) if _is_array(v) else v.exp()


def _sigmoid(v):
    return stable_sigmoid(v) if _is_array(v) else v.sigmoid()


def _broadcast_to(v, shape: tuple[int, ...]):
    if _is_array(v):
        return np.broadcast_to(v, shape)
    return _tensor.apply(BroadcastTo(shape), v)


def _scatter_add(g, index, shape: tuple[int, ...]):
    if _is_array(g):
        return ScatterAdd(index, shape).forward(g)
    return _tensor.apply(ScatterAdd(index, shape), g)


def _swap_last_two(v):
    axes = (*range(v.ndim - 2), v.ndim - 1, v.ndim - 2)
    return v.transpose(axes)


def _normalize_axes(axis, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple) as sorted non-negative ints, checked against ``ndim``."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normalized = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < max(ndim, 1):
            raise ShapeError(f"{op}: axis {a!r} is out of range for a tensor with {ndim} dimensions")
        normalized.append(int(a) % max(ndim, 1))
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(normalized))


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _expand_reduced(g, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool):
    """Undo a reduction over ``axes``: stretch ``g`` back to ``shape`` (the VJP of a sum)."""
    if not keepdims:
        g = g.reshape(_kept_shape(shape, axes))
    return _broadcast_to(g, shape)


def stable_sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) for every float z, without warnings.

    e^-z underflows to 0 for z > 745 (giving 1, correctly rounded) and overflows to inf for
    z < -709 (giving 0 where the true value is a subnormal below 1e-308); only those two warnings
    are silenced. Elsewhere relative precision is full. One exp and three in-place passes (no masks,
    no where=).
    """
    t = np.negative(z, out=np.empty_like(z))  # out=: stays an array even for 0-d z
    with np.errstate(over="ignore", under="ignore"):
        np.exp(t, out=t)
    t += 1
    np.reciprocal(t, out=t)
    return t


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows, exact for large |z|."""
    t = np.abs(z, out=np.empty_like(z))
    np.negative(t, out=t)
    with np.errstate(under="ignore"):  # e^-|z| is 0 for |z| > 745: the right value
        np.exp(t, out=t)
    np.log1p(t, out=t)
    t += np.maximum(z, 0)
    return t


def _reduction_details(axis, keepdims: bool) -> str:
    parts = [] if axis is None else [f"axis={axis}"]
    if keepdims:
        parts.append("keepdims")
    return ", ".join(parts)


# ---------------------------------------------------------------- arithmetic


class Add(Op):
    __slots__ = ()
    keeps_inputs = False
    name = "add"

    def forward(self, a, b):
        return a + b

    def vjp(self, g, out, a, b):
        return g, g


class Sub(Op):
    __slots__ = ()
    keeps_inputs = False
    name = "sub"

    def forward(self, a, b):
        return a - b

    def vjp(self, g, out, a, b):
        return g, -g


class Mul(Op):
    __slots__ = ()
    name = "mul"

    def forward(self, a, b):
        return a * b

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Op):
    __slots__ = ()
    keeps_output = True
    name = "div"

    def forward(self, a, b):
        return a / b

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        return (g / b if need_a else None), (-(g * out) / b if need_b else None)


class Neg(Op):
    __slots__ = ()
    keeps_inputs = False
    name = "neg"

    def forward(self, x):
        return -x

    def vjp(self, g, out, x):
        return (-g,)


class Pow(Op):
    """``x ** p`` for a fixed number ``p``."""

    __slots__ = ("exponent",)
    name = "pow"

    def __init__(self, exponent: float) -> None:
        # A NumPy scalar exponent as a Python number, so it takes x's dtype (float32 stays float32)
        self.exponent = exponent.item() if isinstance(exponent, np.generic) else exponent

    def details(self) -> str:
        return f"{self.exponent:g}"

    def forward(self, x):
        return x**self.exponent

    def vjp(self, g, out, x):
        p = self.exponent
        if p == 0:
            return (g * 0,)
        return (g * p * x ** (p - 1),)


class MatMul(Op):
    """``a @ b`` with NumPy's rules: 1-D operands are promoted, leading axes broadcast."""

    __slots__ = ()
    name = "matmul"

    def shape_error(self, a_shape, b_shape) -> str:
        if not a_shape or not b_shape:
            return f"matmul: both operands need at least one dimension, got shapes {a_shape} and {b_shape}"
        inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
        if a_shape[-1] != inner_b:
            return (
                f"matmul: shapes {a_shape} and {b_shape} are not aligned: "
                f"the left operand has {a_shape[-1]} columns but the right one has {inner_b} rows"
            )
        return f"matmul: the batch axes of shapes {a_shape} and {b_shape} cannot be broadcast together"

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("0-d operand")
        return a @ b

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        if a.ndim == 1 and b.ndim == 1:  # inner product: g is a scalar
            return (g * b if need_a else None), (g * a if need_b else None)
        # Promote 1-D operands to matrices (a row, b a column) as np.matmul does, and g with them.
        a2 = a.reshape((1, a.shape[0])) if a.ndim == 1 else a
        b2 = b.reshape((b.shape[0], 1)) if b.ndim == 1 else b
        if a.ndim == 1:
            g = g.reshape((*g.shape[:-1], 1, g.shape[-1]))
        if b.ndim == 1:
            g = g.reshape((*g.shape, 1))
        ga = gb = None
        if need_a:
            ga = g @ _swap_last_two(b2)
            if a.ndim == 1:
                ga = ga.reshape((*ga.shape[:-2], ga.shape[-1]))
        if need_b:
            gb = _swap_last_two(a2) @ g
            if b.ndim == 1:
                gb = gb.reshape(gb.shape[:-1])
        return ga, gb


# ---------------------------------------------------------------- elementwise functions


class Exp(Op):
    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "exp"

    def forward(self, x):
        return np.exp(x)

    def vjp(self, g, out, x):
        return (g * out,)


class Log(Op):
    __slots__ = ()
    name = "log"

    def forward(self, x):
        return np.log(x)

    def vjp(self, g, out, x):
        return (g / x,)


class Sigmoid(Op):
    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "sigmoid"

    def forward(self, x):
        return stable_sigmoid(x)

    def vjp(self, g, out, x):
        if _is_array(g):  # plain backward: one fresh buffer, updated in place (fewer temporaries)
            d = 1 - out
            d *= out
            d *= g
            return (d,)
        return (g * out * (1 - out),)


class Tanh(Op):
    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "tanh"

    def forward(self, x):
        return np.tanh(x)

    def vjp(self, g, out, x):
        return (g * (1 - out * out),)


class ReLU(Op):
    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "relu"

    def forward(self, x):
        return np.maximum(x, 0)

    def vjp(self, g, out, x):
        return (g * (_data(out) > 0),)  # out > 0 exactly where x > 0


# ---------------------------------------------------------------- reductions


class Sum(Op):
    __slots__ = ("axes", "axis", "keepdims")
    keeps_inputs = False
    name = "sum"

    def __init__(self, axis=None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def details(self) -> str:
        return _reduction_details(self.axis, self.keepdims)

    def forward(self, x):
        self.axes = _normalize_axes(self.axis, x.ndim, self.name)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def vjp(self, g, out, x):
        return (_expand_reduced(g, x.shape, self.axes, self.keepdims),)


class Mean(Sum):
    __slots__ = ()
    name = "mean"

    def forward(self, x):
        self.axes = _normalize_axes(self.axis, x.ndim, self.name)
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def vjp(self, g, out, x):
        count = int(np.prod([x.shape[a] for a in self.axes]))
        return (_expand_reduced(g / count, x.shape, self.axes, self.keepdims),)


class Max(Sum):
    """The maximum; ties share the gradient equally (as the subgradient of the mean of the ties)."""

    __slots__ = ()
    name = "max"
    keeps_inputs, keeps_output = True, True

    def forward(self, x):
        self.axes = _normalize_axes(self.axis, x.ndim, self.name)
        if x.size == 0:
            raise ShapeError(f"max: cannot take the maximum of an empty tensor of shape {x.shape}")
        return x.max(axis=self.axes, keepdims=self.keepdims)

    def vjp(self, g, out, x):
        kept = _kept_shape(x.shape, self.axes)
        is_max = _data(x) == _data(out).reshape(kept)
        share = is_max / is_max.sum(axis=self.axes, keepdims=True, dtype=_data(x).dtype)  # x's float type
        return (_expand_reduced(g, x.shape, self.axes, self.keepdims) * share,)


class LogSumExp(Sum):
    """log(sum(exp(x))) over axes, computed after subtracting the maximum (no overflow)."""

    __slots__ = ()
    name = "logsumexp"
    keeps_inputs, keeps_output = True, True

    def forward(self, x):
        self.axes = _normalize_axes(self.axis, x.ndim, self.name)
        shift = x.max(axis=self.axes, keepdims=True)
        shift = np.where(np.isfinite(shift), shift, 0)
        total = np.exp(x - shift).sum(axis=self.axes, keepdims=True)
        result = np.log(total) + shift
        return result if self.keepdims else result.reshape(_reduced_shape(x.shape, self.axes))

    def vjp(self, g, out, x):
        kept = _kept_shape(x.shape, self.axes)
        softmax = _exp(x - out.reshape(kept))
        return (_expand_reduced(g, x.shape, self.axes, self.keepdims) * softmax,)


class Softmax(Op):
    __slots__ = ("axis",)
    keeps_inputs, keeps_output = False, True
    name = "softmax"

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def details(self) -> str:
        return f"axis={self.axis}"

    def forward(self, x):
        _normalize_axes(self.axis, x.ndim, self.name)
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        return e

    def vjp(self, g, out, x):
        return (out * (g - (g * out).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Softmax):
    __slots__ = ()
    name = "log_softmax"

    def forward(self, x):
        _normalize_axes(self.axis, x.ndim, self.name)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))

    def vjp(self, g, out, x):
        return (g - _exp(out) * g.sum(axis=self.axis, keepdims=True),)


class BCEWithLogits(Op):
    """Binary cross-entropy of sigmoid(z) against targets y, from the logits z, never log(0).

    Per element: -y log σ(z) - (1-y) log(1-σ(z)) = softplus(z) - y z, whose derivative in z is
    σ(z) - y. ``reduction`` is "sum", "mean" or "none".
    """

    __slots__ = ("reduction",)
    name = "bce_with_logits"

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("sum", "mean", "none"):
            raise ValueError(f"bce_with_logits: reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
        self.reduction = reduction

    def details(self) -> str:
        return self.reduction

    def forward(self, z, y):
        if self.reduction != "none" and z.shape == y.shape:  # the common case, with no y*z temporary
            total, count = softplus(z).sum() - np.vdot(y, z), z.size
        else:
            loss = softplus(z) - y * z  # not in place: y may broadcast z to a larger shape
            if self.reduction == "none":
                return loss
            total, count = loss.sum(), loss.size
        return total / count if self.reduction == "mean" else total

    def vjp(self, g, out, z, y):
        need_z, need_y = self.needs_grad
        if self.reduction != "none":  # g is one value: spread it over the elementwise loss's shape
            shape = np.broadcast_shapes(z.shape, y.shape)  # z's or y's, whichever broadcasts larger
            g = _broadcast_to(g / int(np.prod(shape)) if self.reduction == "mean" else g, shape)
        if need_z and _is_array(g) and z.shape == g.shape:  # plain backward: one buffer, in place
            gz = stable_sigmoid(z)
            gz -= y
            gz *= g
        else:
            gz = g * (_sigmoid(z) - y) if need_z else None
        gy = -(g * z) if need_y else None
        return gz, gy


# ---------------------------------------------------------------- shapes and indexing


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


# ---------------------------------------------------------------- the functions users call


def exp(x) -> _tensor.Tensor:
    """e ** x, elementwise."""
    return _tensor.apply(Exp(), x)


def log(x) -> _tensor.Tensor:
    """Natural logarithm, elementwise; like NumPy, log(0) = -inf (see ``detect_anomaly``)."""
    return _tensor.apply(Log(), x)


def sigmoid(x) -> _tensor.Tensor:
    """1 / (1 + e^-x), elementwise, finite and warning-free over the whole float range."""
    return _tensor.apply(Sigmoid(), x)


def tanh(x) -> _tensor.Tensor:
    """Hyperbolic tangent, elementwise."""
    return _tensor.apply(Tanh(), x)


def relu(x) -> _tensor.Tensor:
    """max(x, 0), elementwise (gradient 0 at x = 0)."""
    return _tensor.apply(ReLU(), x)


def softmax(x, axis: int = -1) -> _tensor.Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, computed after subtracting the maximum."""
    return _tensor.apply(Softmax(axis), x)


def log_softmax(x, axis: int = -1) -> _tensor.Tensor:
    """log(softmax(x)) along ``axis``, without forming the softmax (no log(0))."""
    return _tensor.apply(LogSoftmax(axis), x)


def logsumexp(x, axis=None, keepdims: bool = False) -> _tensor.Tensor:
    """log(sum(exp(x))) over ``axis`` (None: all), without overflow."""
    return _tensor.apply(LogSumExp(axis, keepdims), x)


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean") -> _tensor.Tensor:
    """Cross-entropy of sigmoid(logits) against targets in [0, 1], stable for any logit.

    ``reduction``: "mean" over all elements (PyTorch's default), "sum", or "none" (elementwise).
    """
    return _tensor.apply(BCEWithLogits(reduction), logits, targets)
