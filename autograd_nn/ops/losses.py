"""Losses computed from logits, so they never take log(0)."""

from __future__ import annotations

import numpy as np

from .. import tensor as _tensor
from .base import Op, _is_array, _sum_into
from .elementwise import _sigmoid, stable_sigmoid
from .shapes import _broadcast_to


def bce_with_logits_elementwise(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """softplus(z) - y z, elementwise, to a few ulps for every z (±inf included) and y in [0, 1].

    Written as (1 - y) max(z, 0) + y max(-z, 0) + log1p(e^-|z|): three non-negative terms, so
    nothing cancels (for y = 1 it is softplus(-z), for y = 0 softplus(z)). A zero weight times an
    infinite logit counts 0. No warnings; three temporaries, updated in place.
    """
    dtype = np.result_type(z, y)
    positive = np.maximum(z, 0, out=np.empty(z.shape, dtype))  # out=: arrays even when 0-d
    negative = np.minimum(z, 0, out=np.empty(z.shape, dtype))
    np.negative(negative, out=negative)
    same_shape = np.shape(y) == z.shape
    with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf gives NaN here; set to 0 below
        loss = np.subtract(1, y, out=np.empty(np.shape(y), dtype))
        loss = np.multiply(loss, positive, out=loss if same_shape else None)  # (1 - y) max(z, 0)
        positive += negative  # |z|
        loss += np.multiply(negative, y, out=negative if same_shape else None)  # + y max(-z, 0)
        suspect = np.isnan(loss.sum())
    if suspect:  # an infinite logit with a zero weight (or a NaN input)
        weight = np.where(z >= 0, 1 - y, y)
        np.copyto(loss, 0, where=(weight == 0) & np.isinf(z))
    e = np.negative(positive, out=positive)
    with np.errstate(under="ignore"):  # e^-|z| is 0 for |z| > 745: the right value
        np.exp(e, out=e)
    np.log1p(e, out=e)
    loss += e
    return loss


class BCEWithLogits(Op):
    """Binary cross-entropy of sigmoid(z) against targets y, from the logits z, never log(0).

    Per element: -y log σ(z) - (1-y) log(1-σ(z)) = softplus(z) - y z, whose derivative in z is
    σ(z) - y; computed so that it is accurate to a few ulps for any z (see
    ``bce_with_logits_elementwise``), and summed pairwise (NumPy's sum). ``reduction`` is "sum",
    "mean" or "none".
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
        loss = bce_with_logits_elementwise(z, y)
        if self.reduction == "none":
            return loss
        with np.errstate(over="ignore"):  # a sum above the largest float is inf: the rounded value
            total = loss.sum()
        if self.reduction == "sum":
            return total
        if np.isinf(total) and np.isfinite(loss).all():  # the sum overflowed but the mean does not
            return (loss / loss.size).sum()
        return total / loss.size

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

    def vjp_into(self, grads, g, out, z, y):
        gz, gy = grads
        if z.shape != y.shape:  # broadcast targets: the plain VJP, summed into the buffers
            for buffer, value in zip(grads, self.vjp(g, out, z, y), strict=True):
                if buffer is not None:
                    _sum_into(buffer, value)
            return
        scale = g / z.size if self.reduction == "mean" else g  # one value, or g itself for "none"
        if gz is not None:
            stable_sigmoid(z, out=gz)
            gz -= y
            gz *= scale
        if gy is not None:
            np.multiply(scale, z, out=gy)
            np.negative(gy, out=gy)


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean") -> _tensor.Tensor:
    """Cross-entropy of sigmoid(logits) against targets in [0, 1], stable for any logit.

    ``reduction``: "mean" over all elements (PyTorch's default), "sum", or "none" (elementwise).
    """
    return _tensor.apply(BCEWithLogits(reduction), logits, targets)
