"""Arithmetic: + - * / ** @ and negation, each op's forward beside its vector-Jacobian product."""

from __future__ import annotations

import numpy as np

from ..broadcasting import _sum_into
from .base import Op, _data, _fits, _is_array, _log, _swap_last_two


class Add(Op):
    __slots__ = ()
    keeps_inputs = False
    name = "add"

    def forward(self, a, b):
        return a + b

    def forward_into(self, out, a, b):  # x @ W.T + b adds the bias into the product's buffer
        np.add(a, b, out=out)

    forward_in_place = True

    def vjp(self, g, out, a, b):
        return g, g

    vjp_passes_g = (0, 1)


class Sub(Op):
    __slots__ = ()
    keeps_inputs = False
    name = "sub"

    def forward(self, a, b):
        return a - b

    def forward_into(self, out, a, b):
        np.subtract(a, b, out=out)

    forward_in_place = True

    def vjp(self, g, out, a, b):
        return g, -g

    vjp_passes_g = (0,)

    def vjp_into(self, grads, g, out, a, b):  # (a replay passes g on itself when only a needs it)
        ga, gb = grads
        if gb is not None:  # first: ga may be g's buffer
            if _fits(gb, g):
                np.negative(g, out=gb)
            else:
                _sum_into(gb, -g)
        if ga is not None and ga is not g:
            _sum_into(ga, g)

    vjp_in_place = ("g",)


class Mul(Op):
    __slots__ = ()
    name = "mul"
    vjp_reads = ((1,), (0,))  # a's gradient is g * b, b's is g * a

    def forward(self, a, b):
        return a * b

    def forward_into(self, out, a, b):
        np.multiply(a, b, out=out)

    forward_in_place = True

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        return (g * b if need_a else None), (g * a if need_b else None)

    def vjp_into(self, grads, g, out, a, b):
        ga, gb = grads
        if gb is not None:  # first: ga may be g's buffer
            if _fits(gb, g):
                np.multiply(g, a, out=gb)
            else:
                _sum_into(gb, g * a)
        if ga is not None:
            if _fits(ga, g):
                np.multiply(g, b, out=ga)
            else:
                _sum_into(ga, g * b)

    vjp_in_place = ("g",)


class Div(Op):
    __slots__ = ()
    keeps_output = True
    name = "div"
    vjp_reads = ((1,), (1,))  # g / b and -(g * out) / b: a itself is never read

    def forward(self, a, b):
        return a / b

    def forward_into(self, out, a, b):
        np.divide(a, b, out=out)

    forward_in_place = True

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        return (g / b if need_a else None), (-(g * out) / b if need_b else None)

    def vjp_into(self, grads, g, out, a, b):
        ga, gb = grads
        if gb is not None:  # first: ga may be g's buffer
            if _fits(gb, g):
                np.multiply(g, out, out=gb)
                np.negative(gb, out=gb)
                np.divide(gb, b, out=gb)
            else:
                _sum_into(gb, -(g * out) / b)
        if ga is not None:
            if _fits(ga, g):
                np.divide(g, b, out=ga)
            else:
                _sum_into(ga, g / b)

    vjp_in_place = ("g",)


class Neg(Op):
    __slots__ = ()
    keeps_inputs = False
    name = "neg"

    def forward(self, x):
        return -x

    def forward_into(self, out, x):
        np.negative(x, out=out)

    forward_in_place = True

    def vjp(self, g, out, x):
        return (-g,)

    def vjp_into(self, grads, g, out, x):
        np.negative(g, out=grads[0])

    vjp_in_place = ("g",)


class Pos(Op):
    """``np.positive(x)``: a new tensor with x's values (the identity)."""

    __slots__ = ()
    keeps_inputs = False
    name = "positive"

    def forward(self, x):
        return np.positive(x)

    def vjp(self, g, out, x):
        return (g,)


def _is_small_integer(p) -> bool:
    """Whether ``x ** p`` runs as multiplications (``_integer_power``): p an integer from 3 to 16."""
    return isinstance(p, (int, float)) and 3 <= p <= 16 and float(p).is_integer()


def _integer_power(x: np.ndarray, p) -> np.ndarray:
    """x ** p for an integer p from 3 to 16, by repeated squaring (at most 7 multiplications): NumPy's
    power takes its general pow() path for every exponent but 0.5, 1, 2 and -1, and that is 50-300x
    slower on mixed-sign arrays. The result is within a few ulp of pow's."""
    n, square, result = int(p), x, None
    while n:
        if n & 1:
            result = square if result is None else result * square
        n >>= 1
        if n:
            square = square * square
    return result


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
        if _is_small_integer(self.exponent):  # x ** 3: multiplications, not pow() (see _integer_power)
            return _integer_power(x, self.exponent)
        return x**self.exponent

    def forward_into(self, out, x):
        if self.exponent == 2:  # NumPy's x**2 is np.square too
            np.square(x, out=out)
        elif _is_small_integer(self.exponent):
            np.copyto(out, _integer_power(x, self.exponent))
        else:
            np.power(x, self.exponent, out=out)

    forward_in_place = True

    def vjp(self, g, out, x):
        p = self.exponent
        if p == 0:
            return (g * 0,)
        if _is_small_integer(p - 1) and _is_array(x):
            return (g * p * _integer_power(x, p - 1),)
        return (g * p * x ** (p - 1),)

    def vjp_into(self, grads, g, out, x):
        p, gx = self.exponent, grads[0]
        if p == 0 or g.shape != gx.shape:
            _sum_into(gx, self.vjp(g, out, x)[0])
            return
        if p == 2:
            np.multiply(x, g, out=gx)
        elif _is_small_integer(p - 1):
            np.multiply(_integer_power(x, p - 1), g, out=gx)
        else:
            np.power(x, p - 1, out=gx)
            gx *= g
        gx *= p


class Power(Op):
    """``x ** y`` where the exponent is a tensor or an array too: d/dy x^y = x^y log x.

    At x = 0 the exponent's gradient is PyTorch's: 0 where y >= 0 (the limit, not 0 * log(0)), and
    x^y log x = inf * -inf = -inf where y < 0; where y = 0 the base's gradient is 0, not 0 * 0^-1.
    (A negative base gives NaN for the exponent's gradient.)
    """

    __slots__ = ()
    keeps_output = True
    name = "pow"

    def forward(self, x, y):
        return x**y

    def vjp(self, g, out, x, y):
        need_x, need_y = self.needs_grad
        gx = gy = None
        if need_x:  # y x^(y-1), with x^(y-1) replaced by x^0 = 1 where y = 0 (that term is 0 anyway)
            gx = g * y * x ** (y - 1 + (_data(y) == 0))
        if need_y:  # x^y log x, with log(1) = 0 in place of log(0) where y >= 0 (0^y is 0 or 1 there)
            with np.errstate(divide="ignore"):  # log(0) = -inf where y < 0, on purpose
                gy = g * out * _log(x + ((_data(x) == 0) & (_data(y) >= 0)))
        return gx, gy


class MatMul(Op):
    """``a @ b`` with NumPy's rules: 1-D operands are promoted, leading axes broadcast."""

    __slots__ = ()
    name = "matmul"
    vjp_reads = ((1,), (0,))  # a's gradient is g @ b.T, b's is a.T @ g

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
        if _stacked_rows(a, b):  # (..., M, K) @ (K, N) as one 2-D product: one BLAS call, not one per matrix
            return (a.reshape(-1, a.shape[-1]) @ b).reshape((*a.shape[:-1], b.shape[-1]))
        return a @ b

    def forward_into(self, out, a, b):
        if _stacked_rows(a, b) and out.flags.c_contiguous:
            np.matmul(a.reshape(-1, a.shape[-1]), b, out=out.reshape(-1, b.shape[-1]))
            return
        np.matmul(a, b, out=out)

    def vjp(self, g, out, a, b):  # a's gradient is g @ b^T, b's is a^T @ g
        need_a, need_b = self.needs_grad
        if _stacked_rows(a, b) and type(g) is np.ndarray and g.flags.c_contiguous:
            # (B, T, K) @ (K, N): 2-D products over the B*T rows, 1.3-1.7x faster in float32 (measured)
            rows = g.reshape(-1, g.shape[-1])
            ga = (rows @ b.T).reshape(a.shape) if need_a else None
            gb = a.reshape(-1, a.shape[-1]).T @ rows if need_b else None
            return ga, gb
        if a.ndim == 1 and b.ndim == 1:  # inner product: g is a scalar
            return (g * b if need_a else None), (g * a if need_b else None)
        # Promote 1-D operands to matrices (a row, b a column) as np.matmul does, and g with them.
        # (An operand whose gradient is not needed may be a node, which tells only its shape.)
        if a.ndim == 1:
            g = g.reshape((*g.shape[:-1], 1, g.shape[-1]))
        if b.ndim == 1:
            g = g.reshape((*g.shape, 1))
        ga = gb = None
        if need_a:
            b2 = b.reshape((b.shape[0], 1)) if b.ndim == 1 else b
            ga = g @ _swap_last_two(b2)
            if a.ndim == 1:
                ga = ga.reshape((*ga.shape[:-2], ga.shape[-1]))
        if need_b:
            a2 = a.reshape((1, a.shape[0])) if a.ndim == 1 else a
            gb = _swap_last_two(a2) @ g
            if b.ndim == 1:
                gb = gb.reshape(gb.shape[:-1])
        return ga, gb

    def vjp_into(self, grads, g, out, a, b):
        ga, gb = grads
        if a.ndim == b.ndim >= 2 and a.shape[:-2] == b.shape[:-2]:
            # Matrices, or stacks of them alike (attention's heads): straight into the buffers, no temporaries
            if ga is not None:
                np.matmul(g, _swap_last_two(b), out=ga)
            if gb is not None:
                np.matmul(_swap_last_two(a), g, out=gb)
            return
        if _stacked_rows(a, b) and g.flags.c_contiguous and (ga is None or ga.flags.c_contiguous):
            rows = g.reshape(-1, g.shape[-1])  # a layer on a sequence: 2-D products over the rows, as vjp
            if ga is not None:
                np.matmul(rows, b.T, out=ga.reshape(-1, a.shape[-1]))
            if gb is not None:
                np.matmul(a.reshape(-1, a.shape[-1]).T, rows, out=gb)
            return
        for buffer, value in zip(grads, self.vjp(g, out, a, b), strict=True):
            if buffer is not None:
                _sum_into(buffer, value)


def _stacked_rows(a, b) -> bool:
    """Whether ``a @ b`` is a stack of matrices (a C-contiguous, 3-D or more) times one matrix b: then it is
    one 2-D product of all of a's rows (reshaping a is a view). Plain arrays only (not a recorded VJP)."""
    return type(a) is np.ndarray and a.ndim > 2 and b.ndim == 2 and a.flags.c_contiguous
