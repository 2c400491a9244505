"""Losses computed from logits, so they never take log(0)."""

from __future__ import annotations

import numpy as np

from .. import tensor as _tensor
from .base import Op, _is_array, _sum_into
from .elementwise import _sigmoid, softplus, stable_sigmoid
from .shapes import _broadcast_to


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
