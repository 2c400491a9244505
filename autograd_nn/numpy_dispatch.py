"""NumPy's own functions on Tensors: the tables behind ``Tensor.__array_ufunc__`` (NEP 13) and
``Tensor.__array_function__`` (NEP 18), so NumPy code differentiates as written.

When a Tensor is among the arguments of a NumPy ufunc (``np.exp(t)``, ``ndarray * t``) or function
(``np.dot(X, t)``, ``np.sum(t)``), NumPy hands the call to the Tensor, and it is looked up here:

- ``UFUNCS`` and ``FUNCTIONS``: differentiable. The engine's recorded op runs instead, with NumPy's
  signature (``axis``, ``keepdims``, ``dtype=None``, ``out=None``, ...); the result is a Tensor.
- ``PASS_THROUGH_UFUNCS`` and ``PASS_THROUGH_FUNCTIONS``: results that are not differentiable (comparisons,
  ``isfinite``, ``argmax``, ``shape``, ``zeros_like``, ``allclose``): NumPy runs on the arrays and gives
  what it gives on arrays, a plain (boolean, integer or fresh) array or a Python value.
- ``ZERO_GRADIENT_UFUNCS`` and ``ZERO_GRADIENT_FUNCTIONS`` (floor, ceil, round, ...): their gradient is 0
  almost everywhere, so on a tensor that requires grad they are refused (a gradient of 0 would surprise);
  on others they give a Tensor that requires no grad.
- Anything else, and any keyword the engine does not support (``out=``, ``where=`` on a ufunc, the ufunc
  methods ``reduce``, ``accumulate``, ``outer``, ``at``), raises ``TypeError`` naming ``numpy.<name>`` and
  saying what to write instead, when a tensor among the arguments requires grad (and grad mode is on).
  Where nothing would be recorded (``t.detach()``, tensors without grad, ``no_grad``) NumPy runs an unknown
  function on the arrays and returns its own result, as for ``t.numpy()``: no gradient is lost there.
  NumPy never silently turns a Tensor that requires grad into a plain array here.

Explicit conversion (``np.asarray(t)``, ``np.array(t)``, ``t.numpy()``) is the one way out of the graph:
the result is a plain array that backward never reaches. Tensor's own operators (``t * s``, ``t @ w``)
call their ops directly and never pass through these tables.
"""

from __future__ import annotations

import numpy as np

from . import ops, recording
from .errors import ShapeError
from .grad_mode import STATE
from .ops import contractions, reductions, shapes
from .recording import _as_tensor, apply

__all__ = [
    "FUNCTIONS",
    "PASS_THROUGH_FUNCTIONS",
    "PASS_THROUGH_UFUNCS",
    "UFUNCS",
    "UFUNC_OPS",
    "ZERO_GRADIENT_FUNCTIONS",
    "ZERO_GRADIENT_UFUNCS",
    "array_function",
    "array_ufunc",
]

LEAVE_THE_GRAPH = "to leave the graph on purpose, call it on t.detach() or t.numpy() (a plain array that backward never reaches)"

# PyTorch's spellings of NumPy keywords: the error says NumPy's, which the engine uses.
PYTORCH_KEYWORDS = {"dim": "axis", "keepdim": "keepdims", "unbiased": "ddof", "input": "a"}


def _apply(op_class):
    """A table entry that records ``op_class()`` on the call's operands."""
    return lambda *xs: apply(op_class(), *xs)


def _power(x, y):
    number = isinstance(y, (int, float, np.integer, np.floating)) and not isinstance(y, bool)
    if number and isinstance(x, recording.Tensor):
        return apply(ops.Pow(y), x)  # a fixed number: multiplications for small integers
    return apply(ops.Power(), x, y)


# ufunc -> the engine's op class (every ufunc's VJP is in ops/arithmetic.py or ops/elementwise.py).
# Tensor.__array_ufunc__ looks a plain call up here first: ``ndarray * t`` costs one lookup more than ``t * a``.
UFUNC_OPS = {
    np.add: ops.Add,
    np.subtract: ops.Sub,
    np.multiply: ops.Mul,
    np.true_divide: ops.Div,  # np.divide is the same ufunc
    np.negative: ops.Neg,
    np.positive: ops.Pos,
    np.square: ops.Square,
    np.reciprocal: ops.Reciprocal,
    np.matmul: ops.MatMul,
    np.exp: ops.Exp,
    np.expm1: ops.Expm1,
    np.log: ops.Log,
    np.log1p: ops.Log1p,
    np.log2: ops.Log2,
    np.log10: ops.Log10,
    np.sqrt: ops.Sqrt,
    np.absolute: ops.Abs,  # np.abs is the same ufunc
    np.sign: ops.Sign,
    np.tanh: ops.Tanh,
    np.sin: ops.Sin,
    np.cos: ops.Cos,
    np.maximum: ops.Maximum,
    np.minimum: ops.Minimum,
    np.logaddexp: ops.LogAddExp,
}

# Every differentiable ufunc -> a function of its operands giving the recorded result.
UFUNCS = {**{ufunc: _apply(op_class) for ufunc, op_class in UFUNC_OPS.items()}, np.power: _power}

# Results that are not differentiable: NumPy runs on the arrays (booleans, or values without a gradient).
PASS_THROUGH_UFUNCS = frozenset(
    [
        np.equal,
        np.not_equal,
        np.less,
        np.less_equal,
        np.greater,
        np.greater_equal,
        np.isfinite,
        np.isnan,
        np.isinf,
        np.signbit,
        np.logical_and,
        np.logical_or,
        np.logical_xor,
        np.logical_not,
    ]
)

# Gradient 0 almost everywhere: refused on a tensor that requires grad, a Tensor without grad otherwise.
ZERO_GRADIENT_UFUNCS = frozenset([np.floor, np.ceil, np.rint, np.trunc])

# Where the engine has what a refused ufunc method computes.
_METHOD_HINTS = {
    ("add", "reduce"): "use np.sum(t, axis) or t.sum(axis)",
    ("add", "accumulate"): "use np.cumsum(t, axis) or t.cumsum(axis)",
    ("multiply", "reduce"): "use np.prod(t, axis) or t.prod(axis)",
    ("maximum", "reduce"): "use np.max(t, axis) or t.max(axis)",
    ("minimum", "reduce"): "use np.min(t, axis) or t.min(axis)",
    ("multiply", "outer"): "use np.outer(a, b) (flattened operands) or a[:, None] * b",
    ("logaddexp", "reduce"): "use ag.logsumexp(t, axis)",
}

# Defaults a ufunc call may spell out; any other value is refused.
_UFUNC_DEFAULTS = {"dtype": None, "casting": "same_kind", "order": "K", "subok": True, "where": True}


def array_ufunc(ufunc, method: str, inputs: tuple, kwargs: dict):
    """``Tensor.__array_ufunc__``: a ufunc called with a Tensor among its operands (or its ``out``), other
    than the plain calls of ``UFUNC_OPS``, which the Tensor records itself."""
    if method == "__call__" and not kwargs and ufunc in UFUNCS:
        return UFUNCS[ufunc](*inputs)
    name = f"numpy.{ufunc.__name__}"
    if ufunc not in UFUNCS and ufunc not in ZERO_GRADIENT_UFUNCS and not _records(inputs):
        return _leave(ufunc if method == "__call__" else getattr(ufunc, method), inputs, kwargs)
    if method != "__call__":
        hint = _METHOD_HINTS.get((ufunc.__name__, method), LEAVE_THE_GRAPH)
        raise TypeError(f"{name}.{method}: this ufunc method is not supported on Tensors; {hint}")
    if ufunc in PASS_THROUGH_UFUNCS:
        out = kwargs.get("out", ())
        if any(isinstance(o, recording.Tensor) for o in out):
            raise TypeError(f"{name}: out= cannot be a Tensor; write `mask = {name}(...)` instead")
        return ufunc(*[_unwrap(x) for x in inputs], **kwargs)
    _check_ufunc_keywords(name, kwargs)
    if ufunc in ZERO_GRADIENT_UFUNCS:
        return _zero_gradient(name, ufunc, inputs, {})
    record = UFUNCS.get(ufunc)
    if record is not None:
        return record(*inputs)
    raise TypeError(f"{name} is not differentiable in autograd_nn; {LEAVE_THE_GRAPH}")


def _check_ufunc_keywords(name: str, kwargs: dict) -> None:
    for key, value in kwargs.items():
        if key == "out":
            raise TypeError(
                f"{name}: out= is not supported with a Tensor operand (nor `a += t` on an ndarray a): the "
                "engine records a new tensor rather than writing into an array; write `y = a + t` instead"
            )
        if key == "where" and value is not True:
            raise TypeError(
                f"{name}: where= is not supported on Tensors (the entries it skips would hold no value); "
                "use np.where(mask, f(t), other) instead"
            )
        if key not in _UFUNC_DEFAULTS or not _same(value, _UFUNC_DEFAULTS[key]):
            raise TypeError(f"{name}: the keyword {key}={value!r} is not supported on Tensors")


def _same(value, default) -> bool:
    return value is default or (isinstance(value, str) and value == default)


def _zero_gradient(name: str, compute, args: tuple, kwargs: dict):
    """floor, ceil, round, ...: refused where a gradient would be recorded, a Tensor without grad elsewhere."""
    tensors = [x for x in args if isinstance(x, recording.Tensor)]
    if STATE.enabled and any(t.requires_grad for t in tensors):
        raise TypeError(
            f"{name}: its gradient is 0 almost everywhere, so on a tensor that requires grad it would "
            f"silently stop the gradient; {LEAVE_THE_GRAPH}"
        )
    return recording.Tensor(compute(*[_unwrap(x) for x in args], **kwargs))


def _records(values) -> bool:
    """Whether an op on these arguments would be recorded: grad mode is on and a Tensor among them (or in
    a list or tuple among them) requires grad."""
    if not STATE.enabled:
        return False
    for v in values:
        if isinstance(v, recording.Tensor) and v.requires_grad:
            return True
        if isinstance(v, (list, tuple)) and _records(v):
            return True
    return False


def _leave(func, args, kwargs: dict):
    """A call nothing would record (no tensor requires grad, or under no_grad) that the tables do not know:
    NumPy runs it on the arrays, as on ``t.numpy()``, and its result is NumPy's."""
    if any(isinstance(o, recording.Tensor) for o in kwargs.get("out", ()) or ()):
        raise TypeError(f"{_function_name(func)}: out= cannot be a Tensor; assign the result instead")
    return func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})


def _unwrap(value):
    """A Tensor's array; lists and tuples of them as lists and tuples of arrays; anything else as it is."""
    if isinstance(value, recording.Tensor):
        return value.data
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    return value


def array_function(func, types: tuple, args: tuple, kwargs: dict):
    """``Tensor.__array_function__``: a NumPy function called with a Tensor among its arguments."""
    implementation = FUNCTIONS.get(func)
    if implementation is not None:
        return implementation(*args, **kwargs)
    if not all(issubclass(t, (recording.Tensor, np.ndarray)) for t in types):
        return NotImplemented  # another library's array type: let it (or NumPy) answer
    name = _function_name(func)
    query = _SHAPE_QUERIES.get(func)
    if query is not None:
        return query(*args, **kwargs)
    if func in PASS_THROUGH_FUNCTIONS:
        return func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
    if func in ZERO_GRADIENT_FUNCTIONS:
        return _zero_gradient(name, func, args, kwargs)
    if not _records(args) and not _records(kwargs.values()):
        return _leave(func, args, kwargs)
    hint = _FUNCTION_HINTS.get(func)
    hint = f"{hint}; or, {LEAVE_THE_GRAPH}" if hint else LEAVE_THE_GRAPH
    raise TypeError(f"{name} is not differentiable in autograd_nn; {hint}")


def _function_name(func) -> str:
    if isinstance(func, np.ufunc):
        return f"numpy.{func.__name__}"
    module = getattr(func, "__module__", None) or "numpy"
    return f"{module}.{func.__name__}" if module.startswith("numpy") else f"numpy.{func.__name__}"


# ---------------------------------------------------------------- keywords shared with the Tensor methods


def check_keywords(who: str, tensor, dtype=None, out=None, **more) -> None:
    """Refuse the NumPy keywords the engine does not support, and PyTorch's spellings, naming ``who``."""
    if out is not None:
        raise TypeError(
            f"{who}: out= is not supported on Tensors: the engine records a new tensor rather than writing "
            "into an array; assign the result instead (y = ...)"
        )
    if isinstance(dtype, bool):
        raise TypeError(
            f"{who}: dtype={dtype} is not a dtype: as in NumPy the second positional argument is dtype; "
            "pass keepdims=True by keyword"
        )
    if dtype is not None and np.dtype(dtype) != tensor.dtype:
        raise TypeError(
            f"{who}: dtype={np.dtype(dtype)} is not supported on a {tensor.dtype} tensor (the engine keeps "
            "a tensor's float type); leave dtype out"
        )
    for key, value in more.items():
        if key in PYTORCH_KEYWORDS:
            raise TypeError(
                f"{who}: {key}= is PyTorch's spelling; NumPy's (and the engine's) is {PYTORCH_KEYWORDS[key]}="
            )
        if key == "where" and value is True:
            continue
        raise TypeError(f"{who}: the keyword {key}= is not supported on Tensors")


def reduction(op_class, who: str, a, axis=None, dtype=None, out=None, keepdims=False, **more):
    """sum, mean, prod with NumPy's signature ``(a, axis, dtype, out, keepdims, ...)``."""
    a = _as_tensor(a)
    check_keywords(who, a, dtype, out, **more)
    return apply(op_class(axis, bool(keepdims)), a)


def extreme(op_class, who: str, a, axis=None, out=None, keepdims=False, **more):
    """max, min with NumPy's signature ``(a, axis, out, keepdims, initial, where)``."""
    a = _as_tensor(a)
    check_keywords(who, a, None, out, **more)
    return apply(op_class(axis, bool(keepdims)), a)


def spread(op_class, who: str, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **more):
    """var, std with NumPy's signature ``(a, axis, dtype, out, ddof, keepdims, *, where, mean, correction)``."""
    a = _as_tensor(a)
    correction = more.pop("correction", None)
    if correction is not None:  # NumPy 2's name for ddof
        ddof = correction
    check_keywords(who, a, dtype, out, **more)
    return apply(op_class(axis, bool(keepdims), ddof), a)


def cumsum(who: str, a, axis=None, dtype=None, out=None, **more):
    a = _as_tensor(a)
    check_keywords(who, a, dtype, out, **more)
    return reductions.cumsum(a, axis)


def clip(who: str, a, lo, hi, out=None, **more):
    """``clip`` with array or number bounds (ag.clip's gradient); with Tensor bounds, as
    minimum(maximum(a, lo), hi), differentiable in the bounds too."""
    check_keywords(who, _as_tensor(a), None, out, **more)
    if (
        not isinstance(a, recording.Tensor)
        or isinstance(lo, recording.Tensor)
        or isinstance(hi, recording.Tensor)
    ):
        if lo is not None:
            a = ops.maximum(a, lo)
        return a if hi is None else ops.minimum(a, hi)
    return ops.clip(a, lo, hi)


def transpose(who: str, a, axes):
    """``transpose`` with NumPy's meaning: ``axes`` permutes every axis. Two axes of a tensor with more
    than two are PyTorch's ``transpose(a, b)``, which NumPy calls ``swapaxes``."""
    a = _as_tensor(a)
    if axes is not None:
        axes = tuple(int(i) for i in axes)
        if len(axes) == 2 and a.ndim > 2:
            raise ShapeError(
                f"{who}: axes {axes} do not permute the {a.ndim} axes of a tensor of shape {a.shape}; NumPy's "
                f"transpose lists every axis. To swap two axes (PyTorch's transpose(a, b)) write "
                f"swapaxes({axes[0]}, {axes[1]})"
            )
    return apply(ops.Transpose(axes), a)


# ---------------------------------------------------------------- NumPy's functions with NumPy's signatures
# Each takes exactly what the NumPy function takes; the keywords the engine cannot honour raise.

_NO_VALUE = object()


def _np_sum(a, axis=None, dtype=None, out=None, keepdims=False, **more):
    return reduction(ops.Sum, "numpy.sum", a, axis, dtype, out, keepdims, **more)


def _np_mean(a, axis=None, dtype=None, out=None, keepdims=False, **more):
    return reduction(ops.Mean, "numpy.mean", a, axis, dtype, out, keepdims, **more)


def _np_prod(a, axis=None, dtype=None, out=None, keepdims=False, **more):
    return reduction(ops.Prod, "numpy.prod", a, axis, dtype, out, keepdims, **more)


def _np_max(a, axis=None, out=None, keepdims=False, **more):
    return extreme(ops.Max, "numpy.max", a, axis, out, keepdims, **more)


def _np_min(a, axis=None, out=None, keepdims=False, **more):
    return extreme(ops.Min, "numpy.min", a, axis, out, keepdims, **more)


def _np_var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **more):
    return spread(ops.Var, "numpy.var", a, axis, dtype, out, ddof, keepdims, **more)


def _np_std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **more):
    return spread(ops.Std, "numpy.std", a, axis, dtype, out, ddof, keepdims, **more)


def _np_cumsum(a, axis=None, dtype=None, out=None):
    return cumsum("numpy.cumsum", a, axis, dtype, out)


def _np_clip(a, a_min=_NO_VALUE, a_max=_NO_VALUE, out=None, *, min=_NO_VALUE, max=_NO_VALUE, **more):
    lo = None if a_min is _NO_VALUE else a_min
    hi = None if a_max is _NO_VALUE else a_max
    lo = lo if min is _NO_VALUE else min
    hi = hi if max is _NO_VALUE else max
    return clip("numpy.clip", a, lo, hi, out, **more)


def _np_dot(a, b, out=None):
    _no_out("numpy.dot", out)
    return contractions.dot(a, b)


def _np_vdot(a, b):
    return contractions.vdot(a, b)


def _np_inner(a, b):
    return contractions.inner(a, b)


def _np_outer(a, b, out=None):
    _no_out("numpy.outer", out)
    return contractions.outer(a, b)


def _np_tensordot(a, b, axes=2):
    return contractions.tensordot(a, b, axes)


def _np_einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    _no_out("numpy.einsum", out)
    if dtype is not None or order != "K" or casting != "safe":
        raise TypeError(
            "numpy.einsum: dtype=, order= and casting= are not supported on Tensors; leave them out"
        )
    if not operands or not isinstance(operands[0], str):
        raise TypeError(
            "numpy.einsum: give the subscripts as a string, e.g. np.einsum('ij,jk->ik', a, b); the "
            "interleaved (operand, sublist) form is not supported on Tensors"
        )
    return contractions.einsum(operands[0], *operands[1:], optimize=optimize)


def _np_where(condition, *xy):
    if not xy:  # np.where(condition): the indices where it holds, integers
        return np.nonzero(_unwrap(condition))
    if len(xy) != 2:
        raise TypeError("numpy.where: give the condition alone, or the condition, x and y")
    return ops.where(condition, *xy)


def _tensors(seq, who: str) -> list:
    if isinstance(seq, (recording.Tensor, np.ndarray)):
        raise TypeError(f"{who}: give a sequence (a list or tuple) of tensors or arrays, not one array")
    return [_as_tensor(x) for x in seq]


def _no_joining_keywords(who: str, out, dtype, casting) -> None:
    _no_out(who, out)
    if dtype is not None or casting != "same_kind":
        raise TypeError(f"{who}: dtype= and casting= are not supported on Tensors; leave them out")


def _np_concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no_joining_keywords("numpy.concatenate", out, dtype, casting)
    xs = _tensors(arrays, "numpy.concatenate")
    if axis is None:
        xs, axis = [shapes.ravel(x) for x in xs], 0
    return ops.concatenate(xs, axis)


def _np_stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no_joining_keywords("numpy.stack", out, dtype, casting)
    return ops.stack(_tensors(arrays, "numpy.stack"), axis)


def _np_vstack(tup, *, dtype=None, casting="same_kind"):
    _no_joining_keywords("numpy.vstack", None, dtype, casting)
    xs = [x.reshape((1, -1)) if x.ndim < 2 else x for x in _tensors(tup, "numpy.vstack")]
    return apply(shapes.Join("vstack", 0), *xs)


def _np_hstack(tup, *, dtype=None, casting="same_kind"):
    _no_joining_keywords("numpy.hstack", None, dtype, casting)
    xs = [x.reshape((1,)) if x.ndim == 0 else x for x in _tensors(tup, "numpy.hstack")]
    if not xs:
        raise ValueError("numpy.hstack: needs at least one array, got an empty sequence")
    return apply(shapes.Join("hstack", 0 if xs[0].ndim == 1 else 1), *xs)


def _np_split(ary, indices_or_sections, axis=0):
    return shapes.split(ary, indices_or_sections, axis)


def _np_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    if order != "C" or copy is not None:
        raise TypeError("numpy.reshape: only order='C' (and no copy=) is supported on Tensors")
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    return apply(ops.Reshape(tuple(int(n) for n in shape)), a)


def _np_ravel(a, order="C"):
    if order != "C":
        raise TypeError("numpy.ravel: only order='C' is supported on Tensors")
    return shapes.ravel(a)


def _np_transpose(a, axes=None):
    return transpose("numpy.transpose", a, axes)


def _np_swapaxes(a, axis1, axis2):
    return shapes.swapaxes(a, axis1, axis2)


def _np_moveaxis(a, source, destination):
    return shapes.moveaxis(a, source, destination)


def _np_expand_dims(a, axis):
    return shapes.expand_dims(a, axis)


def _np_squeeze(a, axis=None):
    return shapes.squeeze(a, axis)


def _np_broadcast_to(array, shape, subok=False):
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    return apply(ops.BroadcastTo(shape), array)


def _np_tile(A, reps):
    return shapes.tile(A, reps)


def _np_repeat(a, repeats, axis=None):
    return shapes.repeat(a, repeats, axis)


def _np_pad(array, pad_width, mode="constant", **kwargs):
    value = kwargs.pop("constant_values", 0)
    if mode != "constant" or kwargs:
        raise TypeError(
            f"numpy.pad: only mode='constant' with a number as constant_values is supported on Tensors "
            f"(got mode={mode!r}{', ' + ', '.join(kwargs) if kwargs else ''}); use ag.pad(x, pad_width, value)"
        )
    return shapes.pad(array, pad_width, value)


def _np_take(a, indices, axis=None, out=None, mode="raise"):
    _no_out("numpy.take", out)
    if mode != "raise":
        n = np.size(a) if axis is None else np.shape(a)[axis]
        indices = np.asarray(_unwrap(indices))
        indices = indices % n if mode == "wrap" else np.clip(indices, 0, n - 1)
    return shapes.take(a, indices, axis)


def _np_diag(v, k=0):
    return shapes.diag(v, k)


def _np_diagonal(a, offset=0, axis1=0, axis2=1):
    return shapes.diagonal(a, offset, axis1, axis2)


def _np_trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    a = _as_tensor(a)
    check_keywords("numpy.trace", a, dtype, out)
    return shapes.diagonal(a, offset, axis1, axis2).sum(axis=-1)


def _np_flip(m, axis=None):
    return shapes.flip(m, axis)


def _np_sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise TypeError("numpy.sort: order= (fields of a structured array) is not supported on Tensors")
    return shapes.sort(a, axis)  # stable whatever kind= says: ties keep their order


def _np_tril(m, k=0):
    return shapes.tril(m, k)


def _np_triu(m, k=0):
    return shapes.triu(m, k)


def _np_norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm``: vector norms (ord None, 2, 1, inf, -inf, p) and the matrix norms that are
    sums and maxima (None/'fro', 1, -1, inf, -inf). Singular-value norms (2, -2, 'nuc') are refused."""
    x = _as_tensor(x)
    if axis is None:
        if ord is None:
            return reductions.norm(x, None, keepdims)
        if x.ndim not in (1, 2):
            raise ShapeError(f"numpy.linalg.norm: ord={ord!r} needs a 1-D or 2-D tensor, got shape {x.shape}")
        axis = tuple(range(x.ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    axes = tuple(a % x.ndim for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ShapeError(f"numpy.linalg.norm: axis must name 1 or 2 axes, got {axis!r}")


def _vector_norm(x, ord, axis: int, keepdims: bool):
    if ord is None or ord == 2:
        return reductions.norm(x, axis, keepdims)
    magnitude = ops.abs(x)
    if ord == np.inf:
        return magnitude.max(axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return magnitude.min(axis=axis, keepdims=keepdims)
    if ord == 1:
        return magnitude.sum(axis=axis, keepdims=keepdims)
    if ord == 0 or isinstance(ord, str):
        raise TypeError(f"numpy.linalg.norm: ord={ord!r} is not differentiable (a count of nonzero entries)")
    return (magnitude**ord).sum(axis=axis, keepdims=keepdims) ** (1 / ord)


def _matrix_norm(x, ord, axes: tuple[int, int], keepdims: bool):
    row, col = axes
    if ord is None or ord == "fro":
        return reductions.norm(x, axes, keepdims)
    if ord not in (1, -1, np.inf, -np.inf):
        raise TypeError(
            f"numpy.linalg.norm: ord={ord!r} of a matrix needs its singular values, which the engine does "
            "not differentiate; use ord=None ('fro'), 1, -1, inf or -inf"
        )
    summed_over, then_over = (row, col) if ord in (1, -1) else (col, row)
    sums = ops.abs(x).sum(axis=summed_over)
    then_over -= then_over > summed_over
    result = sums.max(axis=then_over) if ord > 0 else sums.min(axis=then_over)
    if keepdims:
        result = result.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
    return result


def _no_out(who: str, out) -> None:
    if out is not None:
        check_keywords(who, None, None, out)


# numpy function -> its differentiable implementation on Tensors
FUNCTIONS = {
    np.sum: _np_sum,
    np.mean: _np_mean,
    np.prod: _np_prod,
    np.max: _np_max,
    np.amax: _np_max,
    np.min: _np_min,
    np.amin: _np_min,
    np.var: _np_var,
    np.std: _np_std,
    np.cumsum: _np_cumsum,
    np.clip: _np_clip,
    np.dot: _np_dot,
    np.vdot: _np_vdot,
    np.inner: _np_inner,
    np.outer: _np_outer,
    np.tensordot: _np_tensordot,
    np.einsum: _np_einsum,
    np.where: _np_where,
    np.concatenate: _np_concatenate,
    np.stack: _np_stack,
    np.vstack: _np_vstack,
    np.hstack: _np_hstack,
    np.split: _np_split,
    np.reshape: _np_reshape,
    np.ravel: _np_ravel,
    np.transpose: _np_transpose,
    np.swapaxes: _np_swapaxes,
    np.moveaxis: _np_moveaxis,
    np.expand_dims: _np_expand_dims,
    np.squeeze: _np_squeeze,
    np.broadcast_to: _np_broadcast_to,
    np.tile: _np_tile,
    np.repeat: _np_repeat,
    np.pad: _np_pad,
    np.take: _np_take,
    np.diag: _np_diag,
    np.diagonal: _np_diagonal,
    np.trace: _np_trace,
    np.flip: _np_flip,
    np.sort: _np_sort,
    np.tril: _np_tril,
    np.triu: _np_triu,
    np.linalg.norm: _np_norm,
}

# Not differentiable, and no surprise: shapes, indices, booleans, and new arrays that do not depend on
# the tensor's values. NumPy runs on the arrays and returns what it returns for arrays.
PASS_THROUGH_FUNCTIONS = frozenset(
    [
        np.shape,
        np.ndim,
        np.size,
        np.argmax,
        np.argmin,
        np.argsort,
        np.argwhere,
        np.nonzero,
        np.flatnonzero,
        np.count_nonzero,
        np.searchsorted,
        np.zeros_like,
        np.ones_like,
        np.empty_like,
        np.full_like,
        np.allclose,
        np.isclose,
        np.array_equal,
        np.array_equiv,
        np.any,
        np.all,
        np.iscomplexobj,
        np.isrealobj,
        np.may_share_memory,
        np.shares_memory,
        np.result_type,
    ]
)

# Shape queries (in PASS_THROUGH_FUNCTIONS) answered from the Tensor's shape without reading its values,
# so that compile does not count them as reading a float argument outside the ops.
_SHAPE_QUERIES = {
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: np.size(np.broadcast_to(0, a.shape), axis),  # a stand-in, no copy
}

ZERO_GRADIENT_FUNCTIONS = frozenset([np.round, np.around, np.fix])

# Refused functions for which the engine has something close.
_FUNCTION_HINTS = {
    np.average: "use np.mean(t, axis) or (w * t).sum(axis) / w.sum()",
    np.cumprod: "use np.prod over the axis, or a product of slices",
    np.copy: "use t + 0 for a recorded copy",
    np.atleast_2d: "use t.reshape(1, -1) or np.expand_dims(t, 0)",
    np.column_stack: "use np.stack(tensors, axis=1) or np.hstack of (n, 1) columns",
    np.array_split: "use np.split(t, points, axis) with explicit split points",
    np.nansum: "use np.sum(np.where(np.isnan(t), 0, t))",
    np.nanmean: "use np.mean(t[~np.isnan(t)])",
}
