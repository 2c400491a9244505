"""Elementwise functions: exp, log, sigmoid, tanh, relu, softplus, leaky_relu, abs, sqrt, dropout,
with the numerically careful helpers they use."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from ..broadcasting import _sum_into
from ..recording import _as_tensor, apply
from .base import Op, _data, _fits, _is_array

if TYPE_CHECKING:
    from ..recording import Tensor


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
    """1 / (1 + e^-x), computed without overflow (``stable_sigmoid``); its derivative is out (1 - out)."""

    __slots__ = ()
    keeps_inputs, keeps_output = False, True
    name = "sigmoid"

    def forward(self, x):
        return stable_sigmoid(x)

    def forward_into(self, out, x):
        stable_sigmoid(x, out=out)

    forward_in_place = True

    def vjp(self, g, out, x):  # sigmoid' = sigmoid (1 - sigmoid)
        if not _is_array(g):
            return (g * out * (1 - out),)
        d = np.subtract(_one_like(out), out)  # the same in one buffer: 8.9 vs 11.2 µs at (64, 256) (timeit)
        d *= out
        d *= g
        return (d,)

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


# ---------------------------------------------------------------- sigmoid's arithmetic, and what makes it fast


_NUMPY_2 = int(np.__version__.split(".")[0]) >= 2


def _quiet(**flags):
    """``np.errstate(**flags)`` around every call of the decorated function."""
    if _NUMPY_2:  # the decorator form: 0.46 instead of 1.15 µs a call (timeit); NumPy 1's is not thread-safe
        return np.errstate(**flags)

    def decorate(function):
        @functools.wraps(function)
        def quieted(*args, **kwargs):
            with np.errstate(**flags):
                return function(*args, **kwargs)

        return quieted

    return decorate


_ONES = {np.dtype(t): np.ones((), t) for t in (np.float16, np.float32, np.float64, np.longdouble)}
for _one in _ONES.values():
    _one.flags.writeable = False


def _one_like(a: np.ndarray):
    """1 in ``a``'s dtype: a pre-built 0-d array saves a ufunc converting 1.0 each call (0.31 vs 0.51 µs)."""
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


def _sigmoid(v):
    return stable_sigmoid(v) if _is_array(v) else v.sigmoid()


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
        return (g.astype(x.dtype) if _is_array(g) else apply(Cast(x.dtype), g),)


def exp(x) -> Tensor:
    """e ** x, elementwise."""
    return apply(Exp(), x)


def log(x) -> Tensor:
    """Natural logarithm, elementwise; like NumPy, log(0) = -inf (see ``detect_anomaly``)."""
    return apply(Log(), x)


def sigmoid(x) -> Tensor:
    """1 / (1 + e^-x), elementwise, finite and warning-free over the whole float range."""
    return apply(Sigmoid(), x)


def tanh(x) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return apply(Tanh(), x)


def relu(x) -> Tensor:
    """max(x, 0), elementwise (gradient 0 at x = 0)."""
    return apply(ReLU(), x)


# ---------------------------------------------------------------- round two: more elementwise functions


def stable_softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows, exact for large |z|."""
    t = np.abs(z, out=np.empty_like(z))
    np.negative(t, out=t)
    with np.errstate(under="ignore"):  # e^-|z| is 0 for |z| > 745: the right value
        np.exp(t, out=t)
    np.log1p(t, out=t)
    t += np.maximum(z, 0)
    return t


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


def softplus(x) -> Tensor:
    """log(1 + e^x), elementwise, exact and finite for every float x."""
    return apply(Softplus(), x)


def leaky_relu(x, slope: float = 0.01) -> Tensor:
    """x where x > 0, else slope * x."""
    return apply(LeakyReLU(slope), x)


def abs(x) -> Tensor:
    """|x|, elementwise (gradient 0 at x = 0)."""
    return apply(Abs(), x)


def sqrt(x) -> Tensor:
    """The square root, elementwise (like NumPy, nan below 0; the gradient is inf at 0)."""
    return apply(Sqrt(), x)


def dropout(x, p: float, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
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
    x = _as_tensor(x)
    if not training or p == 0:
        return x
    rng = np.random.default_rng() if rng is None else rng
    mask = (rng.random(x.shape, dtype=x.dtype) >= p).astype(x.dtype)
    mask *= 1 / (1 - p)
    return apply(Dropout(mask, float(p)), x)


# ---------------------------------------------------------------- sequence blocks: erf and GELU
# erf and erfc to full float64 precision by W. J. Cody's rational approximations (Math. Comp. 23, 1969,
# "Rational Chebyshev approximations for the error function"): one rational function on each of three
# ranges of |x|. Written here from the paper's tables; tests compare it with math.erf and math.erfc.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03)
_ERF_A4 = 1.85777706184603153e-1
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_ERFC_C = (
    5.64188496988670089e-1,
    8.88314979438837594e00,
    6.61191906371416295e01,
    2.98635138197400131e02,
    8.81952221241769090e02,
    1.71204761263407058e03,
    2.05107837782607147e03,
    1.23033935479799725e03,
)
_ERFC_C8 = 2.15311535474403846e-8
_ERFC_D = (
    1.57449261107098347e01,
    1.17693950891312499e02,
    5.37181101862009858e02,
    1.62138957456669019e03,
    3.29079923573345963e03,
    4.36261909014324716e03,
    3.43936767414372164e03,
    1.23033935480374942e03,
)
_ERFC_P = (
    3.05326634961232344e-1,
    3.60344899949804439e-1,
    1.25781726111229246e-1,
    1.60837851487422766e-2,
    6.58749161529837803e-4,
)
_ERFC_P5 = 1.63153871373020978e-2
_ERFC_Q = (
    2.56852019228982242e00,
    1.87295284992346725e00,
    5.27905102951428412e-1,
    6.05183413124413191e-2,
    2.33520497626869185e-3,
)
_INV_SQRT_PI = 0.56418958354775628695
_SQRT_HALF = 0.70710678118654752440
_INV_SQRT_2PI = 0.39894228040143267794


def _erf_small(x: np.ndarray) -> np.ndarray:
    """erf(x) for |x| <= 0.5: x P(x^2) / Q(x^2)."""
    z = x * x
    num, den = _ERF_A4 * z, z.copy()
    for a, b in zip(_ERF_A[:3], _ERF_B[:3], strict=True):
        num += a
        num *= z
        den += b
        den *= z
    return x * (num + _ERF_A[3]) / (den + _ERF_B[3])


def _erfc_positive(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y >= 0.5: Cody's ranges [0.5, 4] and (4, inf), exp(-y^2) split as exp(-r^2) exp(-(y-r)(y+r))
    with r = y rounded down to 1/16, so the large exponent keeps its precision."""
    result = np.empty_like(y)
    middle = y <= 4.0
    ym = y[middle]
    num, den = _ERFC_C8 * ym, ym.copy()
    for c, d in zip(_ERFC_C[:7], _ERFC_D[:7], strict=True):
        num += c
        num *= ym
        den += d
        den *= ym
    result[middle] = (num + _ERFC_C[7]) / (den + _ERFC_D[7])
    far = ~middle
    yf = y[far]
    with np.errstate(over="ignore", divide="ignore"):
        z = 1.0 / (yf * yf)
    num, den = _ERFC_P5 * z, z.copy()
    for p, q in zip(_ERFC_P[:4], _ERFC_Q[:4], strict=True):
        num += p
        num *= z
        den += q
        den *= z
    result[far] = (_INV_SQRT_PI - z * (num + _ERFC_P[4]) / (den + _ERFC_Q[4])) / yf
    rounded = np.floor(y * 16.0) / 16.0
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        result *= np.exp(-rounded * rounded) * np.exp(-(y - rounded) * (y + rounded))
    result[np.isinf(y)] = 0.0
    return result


def erf_array(x: np.ndarray) -> np.ndarray:
    """erf(x) elementwise for a float array, to about 1 ulp (computed in float64, returned in x's dtype)."""
    x64 = np.asarray(x, dtype=np.float64)
    y = np.abs(x64)
    small = y <= 0.5
    result = np.empty_like(x64)
    result[small] = _erf_small(x64[small])
    large = ~small
    result[large] = np.copysign(1.0 - _erfc_positive(y[large]), x64[large])  # (NaN stays NaN)
    return result.astype(np.asarray(x).dtype, copy=False)


def erfc_array(x: np.ndarray) -> np.ndarray:
    """erfc(x) = 1 - erf(x) elementwise, without the cancellation of 1 - erf(x) for large x."""
    x64 = np.asarray(x, dtype=np.float64)
    y = np.abs(x64)
    small = y <= 0.5
    result = np.empty_like(x64)
    result[small] = 1.0 - _erf_small(x64[small])
    large = ~small
    tail = _erfc_positive(y[large])
    result[large] = np.where(x64[large] > 0, tail, 2.0 - tail)
    return result.astype(np.asarray(x).dtype, copy=False)


def _erf(v):
    return erf_array(v) if _is_array(v) else apply(Erf(), v)


class Erf(Op):
    """The error function 2/sqrt(pi) * integral of e^(-t^2) from 0 to x; its derivative is 2/sqrt(pi) e^(-x^2)."""

    __slots__ = ()
    name = "erf"

    def forward(self, x):
        return erf_array(x)

    def vjp(self, g, out, x):
        return (g * (2 * _INV_SQRT_PI) * _exp_of(-(x * x)),)


def _exp_of(v):
    return np.exp(v) if _is_array(v) else v.exp()


_TANH_SCALE = 0.79788456080286535588  # sqrt(2 / pi)
_TANH_CUBIC = 0.044715


class GELU(Op):
    """x * Phi(x), Phi the standard normal's distribution function ("none"), or the tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ("tanh"), as PyTorch's GELU.

    Exact: x Phi(x) is computed as 0.5 x erfc(-x / sqrt(2)), accurate for very negative x too; its
    derivative is Phi(x) + x phi(x). Tanh: with t the tanh, 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi)
    (1 + 3 * 0.044715 x^2). The plain backward reads x and recomputes t: no saved array.
    The arrays are computed with 0.5 (1 + t) = sigma = 1 / (1 + exp(-2 u)), u the tanh's argument (so
    1 - t^2 = 4 sigma (1 - sigma)): NumPy's exp is vectorised in float64 where its tanh is not (measured
    3x faster there, the same in float32), and the far negative tail keeps its digits (no 1 + t).
    """

    __slots__ = ("approximate",)
    name = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def details(self) -> str:
        return "" if self.approximate == "none" else "tanh"

    def forward(self, x):
        if self.approximate == "none":
            out = erfc_array(x * -x.dtype.type(_SQRT_HALF))
            out *= x
            out *= x.dtype.type(0.5)
            return out
        u = self._half_sigmoid_denominator(x)
        np.divide(x, u, out=u)  # x sigma = 0.5 x (1 + t)
        return u

    @staticmethod
    def _half_sigmoid_denominator(x):
        """1 + exp(-2 sqrt(2/pi) (x + 0.044715 x^3)), whose reciprocal is sigma = 0.5 (1 + t), in a new buffer
        of x's dtype (inf for very negative x: sigma is 0 there)."""
        u = x * x
        u *= x.dtype.type(_TANH_CUBIC)
        u += 1
        u *= x
        u *= x.dtype.type(-2 * _TANH_SCALE)
        with np.errstate(over="ignore"):
            np.exp(u, out=u)
        u += 1
        return u

    def vjp(self, g, out, x):
        if not _is_array(x):  # recorded backward (create_graph): the same formulas as tensor ops
            if self.approximate == "none":
                phi = 0.5 * (1 + _erf(x * _SQRT_HALF))
                return (g * (phi + x * _INV_SQRT_2PI * (x * x * -0.5).exp()),)
            t = (_TANH_SCALE * (x + _TANH_CUBIC * x * x * x)).tanh()
            slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _TANH_SCALE * (1 + 3 * _TANH_CUBIC * x * x)
            return (g * slope,)
        one = x.dtype.type(1)
        if self.approximate == "none":  # Phi(x) + x phi(x), in two buffers
            d = erfc_array(x * -x.dtype.type(_SQRT_HALF))
            d *= x.dtype.type(0.5)
            e = x * x
            e *= x.dtype.type(-0.5)
            np.exp(e, out=e)
            e *= x
            e *= x.dtype.type(_INV_SQRT_2PI)
            d += e
        else:  # 0.5 (1 + t) + 0.5 x (1 - t^2) s (1 + 3c x^2) = sigma (1 + 2 x (1 - sigma) s (1 + 3c x^2))
            sigma = self._half_sigmoid_denominator(x)
            np.divide(one, sigma, out=sigma)
            d = x * x
            d *= x.dtype.type(6 * _TANH_CUBIC * _TANH_SCALE)
            d += x.dtype.type(2 * _TANH_SCALE)  # 2 s (1 + 3c x^2)
            d *= x
            d *= one - sigma
            d += one
            d *= sigma
        d *= g
        return (d,)


def erf(x) -> Tensor:
    """The error function, elementwise (to about 1 ulp in float64)."""
    return apply(Erf(), x)


def gelu(x, approximate: str = "none") -> Tensor:
    """The Gaussian error linear unit x * Phi(x) (``approximate="none"``), or its tanh approximation
    (``approximate="tanh"``), as PyTorch's ``F.gelu``."""
    return apply(GELU(approximate), x)


# ---------------------------------------------------------------- NumPy's other elementwise ufuncs
# (reached through ``np.sin(t)`` and friends, see numpy_dispatch.py; ``ag.sin``/``ag.cos`` are public too).
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


def sin(x) -> Tensor:
    """The sine, elementwise."""
    return apply(Sin(), x)


def cos(x) -> Tensor:
    """The cosine, elementwise."""
    return apply(Cos(), x)
