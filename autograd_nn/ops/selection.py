"""Selection: ops that pick, per element, one of their operands: where, maximum, minimum, clip.

Each gradient flows to the operand that was picked. Where two operands tie (maximum, minimum) each
gets half, as ``max`` shares among ties; ``clip`` passes the gradient at its bounds (lo <= x <= hi).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import recording
from ..recording import apply
from .base import Op, _data, _is_array

if TYPE_CHECKING:
    from ..recording import Tensor


def _where(condition: np.ndarray, a, b):
    """np.where for arrays; the recorded ``Where`` op when an operand is a Tensor."""
    if _is_array(a) and _is_array(b):
        return np.where(condition, a, b)
    return apply(Where(condition), a, b)


class Where(Op):
    """``condition ? a : b`` elementwise, with NumPy broadcasting of all three."""

    __slots__ = ("condition",)
    keeps_inputs = False
    name = "where"

    def __init__(self, condition: np.ndarray) -> None:
        self.condition = condition

    def shape_error(self, a_shape, b_shape) -> str:
        return (
            f"where: the condition of shape {self.condition.shape} and operands of shapes {a_shape} "
            f"and {b_shape} cannot be broadcast together"
        )

    def forward(self, a, b):
        return np.where(self.condition, a, b)

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        zero = g.dtype.type(0)
        return (_where(self.condition, g, zero) if need_a else None), (
            _where(self.condition, zero, g) if need_b else None
        )


class Maximum(Op):
    """The elementwise larger of a and b; where they are equal each gets half the gradient."""

    __slots__ = ()
    name = "maximum"

    def forward(self, a, b):
        return np.maximum(a, b)

    def share_of_a(self, a, b) -> np.ndarray:
        a, b = _data(a), _data(b)
        return (a > b) + 0.5 * (a == b)

    def vjp(self, g, out, a, b):
        need_a, need_b = self.needs_grad
        share = self.share_of_a(a, b).astype(g.dtype)
        return (g * share if need_a else None), (g * (1 - share) if need_b else None)


class Minimum(Maximum):
    """The elementwise smaller of a and b; where they are equal each gets half the gradient."""

    __slots__ = ()
    name = "minimum"

    def forward(self, a, b):
        return np.minimum(a, b)

    def share_of_a(self, a, b) -> np.ndarray:
        a, b = _data(a), _data(b)
        return (a < b) + 0.5 * (a == b)


class Clip(Op):
    """x limited to [lo, hi]; the gradient passes where lo <= x <= hi (bounds included) and is 0 outside."""

    __slots__ = ("hi", "lo")
    name = "clip"

    def __init__(self, lo, hi) -> None:
        self.lo, self.hi = lo, hi

    def details(self) -> str:
        def describe(bound) -> str:
            return f"array{np.shape(bound)}" if isinstance(bound, np.ndarray) else f"{bound}"

        return f"{describe(self.lo)}, {describe(self.hi)}"

    def forward(self, x):
        return np.clip(x, self.lo, self.hi)

    def vjp(self, g, out, x):
        x = _data(x)
        inside = True  # (an array bound may broadcast x to a larger shape: the engine sums g back)
        if self.lo is not None:
            inside = inside & (x >= self.lo)
        if self.hi is not None:
            inside = inside & (x <= self.hi)
        return (g * inside,)


def _bound(value, which: str):
    if value is None:
        return None
    if isinstance(value, recording.Tensor):
        raise TypeError(
            f"clip: {which} must be a number or an ndarray (clip is not differentiable in its bounds)"
        )
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"clip: {which} must be a number or a numeric ndarray, got {type(value).__name__}")
    return value.item() if isinstance(value, np.generic) else value


def where(condition, a, b) -> Tensor:
    """Elementwise ``a`` where ``condition`` holds, else ``b`` (a boolean ndarray, or anything NumPy
    reads as truth values, such as a Tensor of 0s and 1s); all three broadcast."""
    condition = np.asarray(
        condition.data if isinstance(condition, recording.Tensor) else condition, dtype=bool
    )
    return apply(Where(condition), a, b)


def maximum(a, b) -> Tensor:
    """The elementwise maximum of a and b (broadcast); ties split the gradient equally."""
    return apply(Maximum(), a, b)


def minimum(a, b) -> Tensor:
    """The elementwise minimum of a and b (broadcast); ties split the gradient equally."""
    return apply(Minimum(), a, b)


def clip(x, lo, hi) -> Tensor:
    """x limited to [lo, hi] elementwise; either bound may be None. The gradient is 1 where
    lo <= x <= hi (the bounds included, as in PyTorch's clamp) and 0 outside."""
    lo, hi = _bound(lo, "lo"), _bound(hi, "hi")
    if lo is None and hi is None:
        raise ValueError("clip: give lo, hi or both (both are None)")
    if lo is not None and hi is not None and np.any(np.asarray(lo) > np.asarray(hi)):
        raise ValueError(f"clip: lo must not exceed hi, got lo={lo} and hi={hi}")
    return apply(Clip(lo, hi), x)
