"""Elementwise functions: exp, log, sigmoid, tanh, relu, softplus, leaky_relu, abs, sqrt, dropout,
with the numerically careful helpers they use."""

from __future__ import annotations

import functools

import numpy as np

from .. import tensor as _tensor
from .base import Op, _data, _fits, _is_array, _sum_into


def _quiet(**flags):
    """``np.errstate(**flags)`` around every call of the decorated function.

    NumPy 2's decorator form sets the state without building a context object per call (about
    0.3 µs instead of 0.75 µs; it matters for ops on small arrays) and is thread-safe. NumPy 1's
    keeps the saved state on the one shared object, so there each call enters its own ``errstate``.
    """

    def decorate(function):
        if _NUMPY_2:
            return np.errstate(**flags)(function)

        @functools.wraps(function)
        def quieted(*args, **kwargs):
            with np.errstate(**flags):
                return function(*args, **kwargs)

        return quieted

    return decorate


_NUMPY_2 = int(np.__version__.split(".")[0]) >= 2

# 0 and 1 as 0-d arrays of each float dtype: a ufunc converts a Python scalar on every call (0.25 µs).
_FLOATS = (np.float16, np.float32, np.float64, np.longdouble)
_ZEROS = {np.dtype(t): np.zeros((), t) for t in _FLOATS}
_ONES = {np.dtype(t): np.ones((), t) for t in _FLOATS}
for _constant in (*_ZEROS.values(), *_ONES.values()):
    _constant.flags.writeable = False


def _zero_like(a: np.ndarray):
    """0 in ``a``'s dtype, ready for a ufunc (a 0-d array for the float dtypes)."""
    return _ZEROS.get(a.dtype, 0)


def _one_like(a: np.ndarray):
    """1 in ``a``'s dtype, ready for a ufunc (a 0-d array for the float dtypes)."""
    return _ONES.get(a.dtype, 1)


@_quiet(over="ignore", under="ignore")
def stable_sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + e^-z) for every float z, without warnings (into ``out`` when given; it may be z).

    e^-z underflows to 0 for z > 745 (giving 1, correctly rounded) and overflows to inf for
    z < -709 (giving 0 where the true value is a subnormal below 1e-308), and between -709 and
    -708 the quotient is subnormal: only overflow and underflow are silenced, by one errstate.
    Elsewhere relative precision is full. One exp and three in-place passes (no masks, no where=);
    1 / t as a division, twice as fast as ``np.reciprocal`` in float64 and the same bits.
    """
    return _sigmoid_into(z, np.empty_like(z) if out is None else out)


def _sigmoid_into(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``stable_sigmoid``'s arithmetic into ``t``, for callers already under its errstate."""
    np.negative(z, out=t)  # out=: stays an array for 0-d z
    np.exp(t, out=t)
    one = _one_like(t)
    np.add(t, one, out=t)
    return np.divide(one, t, out=t)


def stable_softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows, exact for large |z|."""
    t = np.abs(z, out=np.empty_like(z))
    np.negative(t, out=t)
    with np.errstate(under="ignore"):  # e^-|z| is 0 for |z| > 745: the right value
        np.exp(t, out=t)
    np.log1p(t, out=t)
    t += np.maximum(z, 0)
    return t


def _sigmoid(v):
    return stable_sigmoid(v) if _is_array(v) else v.sigmoid()


class Exp(Op):
    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "exp"

    def forward(self, x):
        return np.exp(x)

    def forward_into(self, out, x):
        np.exp(x, out=out)

    forward_in_place = True

    def vjp(self, g, out, x):
        return (g * out,)


class Log(Op):
    __slots__ = ()
    name = "log"

    def forward(self, x):
        return np.log(x)

    def forward_into(self, out, x):
        np.log(x, out=out)

    forward_in_place = True

    def vjp(self, g, out, x):
        return (g / x,)

    def vjp_into(self, grads, g, out, x):
        if _fits(grads[0], g):
            np.divide(g, x, out=grads[0])
        else:
            _sum_into(grads[0], g / x)

    vjp_in_place = ("g",)


class Sigmoid(Op):
    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "sigmoid"

    def forward(self, x):
        return stable_sigmoid(x)

    def forward_into(self, out, x):
        stable_sigmoid(x, out=out)

    forward_in_place = True

    def vjp(self, g, out, x):
        if _is_array(g):  # plain backward: one fresh buffer, updated in place (fewer temporaries)
            d = np.subtract(_one_like(out), out)
            d *= out
            d *= g
            return (d,)
        return (g * out * (1 - out),)

    def vjp_into(self, grads, g, out, x):
        gx = grads[0]
        if gx is g:  # the replay needs neither g nor out any more: no temporary at all
            gx *= out
            np.subtract(_one_like(out), out, out=out)
            gx *= out
        else:
            np.subtract(_one_like(out), out, out=gx)
            gx *= out
            gx *= g

    vjp_in_place = ("g",)


class Tanh(Op):
    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "tanh"

    def forward(self, x):
        return np.tanh(x)

    def forward_into(self, out, x):
        np.tanh(x, out=out)

    forward_in_place = True

    def vjp(self, g, out, x):
        return (g * (1 - out * out),)


class ReLU(Op):
    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "relu"

    def forward(self, x):
        return np.maximum(x, 0)

    def forward_into(self, out, x):
        np.maximum(x, 0, out=out)

    forward_in_place = True

    def vjp(self, g, out, x):
        return (g * (_data(out) > 0),)  # out > 0 exactly where x > 0


class Cast(Op):
    """The same values in another float type; the engine uses it so a gradient keeps its value's dtype."""

    __slots__ = ("to",)
    keeps_inputs = False
    name = "cast"

    def __init__(self, to: np.dtype) -> None:
        self.to = np.dtype(to)

    def details(self) -> str:
        return str(self.to)

    def forward(self, x):
        return x.astype(self.to)

    def vjp(self, g, out, x):
        if g.dtype == x.dtype:
            return (g,)
        return (g.astype(x.dtype) if _is_array(g) else _tensor.apply(Cast(x.dtype), g),)


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


# ---------------------------------------------------------------- round two: more elementwise functions


class Softplus(Op):
    """log(1 + e^x), whose derivative is sigmoid(x)."""

    __slots__ = ()
    name = "softplus"

    def forward(self, x):
        return stable_softplus(x)

    def vjp(self, g, out, x):
        return (g * _sigmoid(x),)


class LeakyReLU(Op):
    """x for x > 0, slope * x otherwise (gradient ``slope`` at x = 0, as below zero)."""

    __slots__ = ("slope",)
    name = "leaky_relu"

    def __init__(self, slope: float = 0.01) -> None:
        self.slope = float(slope)

    def details(self) -> str:
        return f"slope={self.slope:g}"

    def forward(self, x):
        return np.where(x > 0, x, x * x.dtype.type(self.slope))

    def vjp(self, g, out, x):
        x = _data(x)
        return (g * np.where(x > 0, x.dtype.type(1), x.dtype.type(self.slope)),)


class Abs(Op):
    """|x|; the gradient is sign(x), so 0 at x = 0 (the subgradient NumPy's sign and PyTorch pick)."""

    __slots__ = ()
    name = "abs"

    def forward(self, x):
        return np.abs(x)

    def vjp(self, g, out, x):
        return (g * np.sign(_data(x)),)


class Sqrt(Op):
    """The square root; its gradient 1 / (2 sqrt(x)) is inf at x = 0, as in NumPy and PyTorch."""

    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "sqrt"

    def forward(self, x):
        return np.sqrt(x)

    def vjp(self, g, out, x):
        return (g / (2 * out),)


class Dropout(Op):
    """x * mask, where ``mask`` holds 0 for dropped entries and 1 / (1 - p) for kept ones (chosen by
    ``dropout``, kept here for the VJP)."""

    __slots__ = ("mask", "p")
    keeps_inputs = False
    name = "dropout"

    def __init__(self, mask: np.ndarray, p: float) -> None:
        self.mask, self.p = mask, p

    def details(self) -> str:
        return f"p={self.p:g}"

    def forward(self, x):
        return x * self.mask

    def vjp(self, g, out, x):
        return (g * self.mask,)


def softplus(x) -> _tensor.Tensor:
    """log(1 + e^x), elementwise, exact and finite for every float x."""
    return _tensor.apply(Softplus(), x)


def leaky_relu(x, slope: float = 0.01) -> _tensor.Tensor:
    """x where x > 0, else slope * x."""
    return _tensor.apply(LeakyReLU(slope), x)


def abs(x) -> _tensor.Tensor:
    """|x|, elementwise (gradient 0 at x = 0)."""
    return _tensor.apply(Abs(), x)


def sqrt(x) -> _tensor.Tensor:
    """The square root, elementwise (like NumPy, nan below 0; the gradient is inf at 0)."""
    return _tensor.apply(Sqrt(), x)


def dropout(x, p: float, training: bool = True, rng: np.random.Generator | None = None) -> _tensor.Tensor:
    """Inverted dropout: zero each entry with probability ``p`` and scale the rest by 1 / (1 - p).

    The identity when ``training`` is False or ``p`` is 0. ``rng`` (a ``numpy.random.Generator``)
    makes the mask reproducible; without it a fresh generator is seeded from the OS for this call
    (no random state is shared between calls or threads).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p < 1:
        raise ValueError(f"dropout: p must be a number in [0, 1), got {p!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"dropout: rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    x = x if isinstance(x, _tensor.Tensor) else _tensor.Tensor(x)
    if not training or p == 0:
        return x
    rng = np.random.default_rng() if rng is None else rng
    mask = (rng.random(x.shape, dtype=x.dtype) >= p).astype(x.dtype)
    mask *= 1 / (1 - p)
    return _tensor.apply(Dropout(mask, float(p)), x)


# ---------------------------------------------------------------- NumPy's other elementwise ufuncs
# (reached through ``np.sin(t)`` and friends, see numpy_api.py; ``ag.sin``/``ag.cos`` are public too).
# Their VJPs call NumPy's ufuncs, which record on Tensors (create_graph) as they compute on arrays.


class Sin(Op):
    __slots__ = ()
    name = "sin"

    def forward(self, x):
        return np.sin(x)

    def vjp(self, g, out, x):
        return (g * np.cos(x),)


class Cos(Op):
    __slots__ = ()
    name = "cos"

    def forward(self, x):
        return np.cos(x)

    def vjp(self, g, out, x):
        return (-g * np.sin(x),)


class Expm1(Op):
    """e^x - 1, exact near 0; the gradient is e^x = out + 1."""

    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "expm1"

    def forward(self, x):
        return np.expm1(x)

    def vjp(self, g, out, x):
        return (g * (out + 1),)


class Log1p(Op):
    """log(1 + x), exact near 0."""

    __slots__ = ()
    name = "log1p"

    def forward(self, x):
        return np.log1p(x)

    def vjp(self, g, out, x):
        return (g / (x + 1),)


class Log2(Op):
    __slots__ = ()
    name = "log2"

    def forward(self, x):
        return np.log2(x)

    def vjp(self, g, out, x):
        return (g / (x * np.log(2.0)),)


class Log10(Op):
    __slots__ = ()
    name = "log10"

    def forward(self, x):
        return np.log10(x)

    def vjp(self, g, out, x):
        return (g / (x * np.log(10.0)),)


class Sign(Op):
    """-1, 0 or 1: piecewise constant, so its gradient is 0 (and 0 at x = 0, where it jumps)."""

    __slots__ = ()
    keeps_inputs = False
    name = "sign"

    def forward(self, x):
        return np.sign(x)

    def vjp(self, g, out, x):
        return (g * 0,)


class Square(Op):
    __slots__ = ()
    name = "square"

    def forward(self, x):
        return np.square(x)

    def vjp(self, g, out, x):
        return (g * 2 * x,)


class Reciprocal(Op):
    """1 / x; the gradient -1 / x^2 = -out^2."""

    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "reciprocal"

    def forward(self, x):
        return 1 / x  # a division: np.reciprocal is slower in float64 and gives the same bits

    def vjp(self, g, out, x):
        return (-g * out * out,)


class LogAddExp(Op):
    """log(e^a + e^b) without overflow; each operand's gradient is its softmax weight e^(a - out)."""

    __slots__ = ()
    keeps_output = True
    name = "logaddexp"

    def forward(self, a, b):
        return np.logaddexp(a, b)

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        return (g * np.exp(a - out) if need_a else None), (g * np.exp(b - out) if need_b else None)


def sin(x) -> _tensor.Tensor:
    """The sine, elementwise."""
    return _tensor.apply(Sin(), x)


def cos(x) -> _tensor.Tensor:
    """The cosine, elementwise."""
    return _tensor.apply(Cos(), x)
