"""Normalisation: layer_norm and batch_norm, each one op whose VJP is fused from the saved mean and inverse
standard deviation.

Both compute xhat = (x - mean) / sqrt(var + eps) over some axes (the biased variance), then y = xhat w + b.
With n the number of values each statistic is taken over and gh = g w, the input's gradient is

    dx = rstd (gh - mean(gh) - xhat mean(gh xhat)),

w's is sum(g xhat) and b's is sum(g), summed over the axes w is broadcast along. The plain backward
recomputes xhat from x and the saved statistics; under ``create_graph`` the VJP is the same formula
written with tensor ops on statistics recomputed from x, so it is differentiable again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import recording
from ..broadcasting import _ones
from ..errors import ShapeError
from ..recording import apply
from .base import Op, _is_array, _sum_trailing

if TYPE_CHECKING:
    from ..recording import Tensor


class _Normalization(Op):
    """Shared by LayerNorm and BatchNorm: normalise over ``axes``; weight and bias (optional inputs 1 and 2)
    are shaped to broadcast against x (``affine_shape``). ``saved`` names the arrays the forward leaves for
    the VJP: they are recomputed at every call, not parameters (``ag.compile`` and export skip them)."""

    __slots__ = ("affine_shape", "axes", "eps", "has_bias", "has_weight", "mean", "rstd")
    saved = ("mean", "rstd")

    def __init__(self, eps: float, has_weight: bool, has_bias: bool) -> None:
        self.eps, self.has_weight, self.has_bias = float(eps), has_weight, has_bias

    def _affine(self, xs):
        """(weight or None, bias or None) from the inputs after x."""
        rest = list(xs)
        weight = rest.pop(0).reshape(self.affine_shape) if self.has_weight else None
        bias = rest.pop(0).reshape(self.affine_shape) if self.has_bias else None
        return weight, bias

    def _sums(self, a):
        """``a`` summed over ``axes``, kept as size-1 axes (trailing axes, layer norm's: a BLAS product)."""
        if self.axes and self.axes == tuple(range(a.ndim - len(self.axes), a.ndim)):
            return _sum_trailing(a, len(self.axes))
        return a.sum(axis=self.axes, keepdims=True)

    def _statistics(self, x):
        """(mean, 1 / sqrt(var + eps), var, x - mean) over ``axes`` (kept as size-1 axes), in x's dtype."""
        count = int(np.prod([x.shape[a] for a in self.axes]))
        mean = self._sums(x) / count
        centered = x - mean
        var = self._sums(centered * centered) / count
        rstd = 1.0 / np.sqrt(var + x.dtype.type(self.eps))
        return mean, rstd.astype(x.dtype, copy=False), var, centered

    def _normalized(self, x, weight, bias, mean, rstd, centered=None):
        """y = (x - mean) rstd w + b, in one buffer."""
        y = np.subtract(x, mean) if centered is None else centered
        y *= rstd
        if weight is not None:
            y *= weight
        if bias is not None:
            y += bias
        return y

    def vjp(self, g, out, x, *affine):
        weight, _ = self._affine(affine)
        if not _is_array(x):
            return self._recorded_vjp(g, x, weight)
        need = self.needs_grad
        xhat = x - self.mean
        xhat *= self.rstd
        count = x.size // self.mean.size
        results = []
        gh = g * weight if weight is not None else g
        if need[0]:  # rstd (gh - mean(gh) - xhat mean(gh xhat)), in one buffer and two small ones
            projection = self._sums(gh * xhat)
            projection /= count
            gx = gh - self._sums(gh) / count
            gx -= xhat * projection
            gx *= self.rstd
            results.append(gx)
        else:
            results.append(None)
        reduce_axes = tuple(i for i, s in enumerate(self.affine_shape) if s == 1)
        if self.has_weight:
            if need[1]:
                xhat *= g
                results.append(_sum_to(xhat, reduce_axes, affine[0].shape))
            else:
                results.append(None)
        if self.has_bias:
            results.append(_sum_to(g, reduce_axes, affine[-1].shape) if need[-1] else None)
        return tuple(results)

    def _recorded_vjp(self, g, x, weight):
        """The VJP as tensor ops (create_graph), with the statistics recomputed from x."""
        mean = x.mean(axis=self.axes, keepdims=True)
        centered = x - mean
        rstd = ((centered * centered).mean(axis=self.axes, keepdims=True) + self.eps) ** -0.5
        xhat = centered * rstd
        gh = g * weight if weight is not None else g
        gx = rstd * (
            gh
            - gh.mean(axis=self.axes, keepdims=True)
            - xhat * (gh * xhat).mean(axis=self.axes, keepdims=True)
        )
        results = [gx]
        reduce_axes = tuple(i for i, s in enumerate(self.affine_shape) if s == 1)
        if self.has_weight:
            results.append((g * xhat).sum(axis=reduce_axes).reshape(self._param_shape()))
        if self.has_bias:
            results.append(g.sum(axis=reduce_axes).reshape(self._param_shape()))
        return tuple(results)

    def _param_shape(self) -> tuple[int, ...]:
        return tuple(s for s in self.affine_shape if s != 1) or (1,)


def _sum_to(a: np.ndarray, axes: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """``a`` summed over ``axes`` into ``shape``: a matrix-vector product with ones when the summed axes lead
    (BLAS sums rows several times faster than NumPy's sum)."""
    if axes == tuple(range(len(axes))) and a.flags.c_contiguous:
        rows = a.reshape(-1, int(np.prod(shape)))
        return (_ones(rows.shape[0], a.dtype) @ rows).reshape(shape)
    return a.sum(axis=axes).reshape(shape)


class LayerNormalization(_Normalization):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last ``len(normalized_shape)`` axes."""

    __slots__ = ("normalized_shape",)
    name = "layer_norm"

    def __init__(self, normalized_shape, eps: float, has_weight: bool, has_bias: bool) -> None:
        super().__init__(eps, has_weight, has_bias)
        self.normalized_shape = normalized_shape

    def details(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps:g}"

    def forward(self, x, *affine):
        k = len(self.normalized_shape)
        if x.ndim < k or x.shape[x.ndim - k :] != self.normalized_shape:
            raise ShapeError(
                f"layer_norm: normalized_shape {self.normalized_shape} must be the last axes of the input, "
                f"got an input of shape {x.shape}"
            )
        self.axes = tuple(range(x.ndim - k, x.ndim))
        self.affine_shape = (1,) * (x.ndim - k) + self.normalized_shape
        for a in affine:
            if a.shape != self.normalized_shape:
                raise ShapeError(
                    f"layer_norm: weight and bias must have shape {self.normalized_shape}, got {a.shape}"
                )
        weight, bias = self._affine(affine)
        self.mean, self.rstd, _, centered = self._statistics(x)
        return self._normalized(x, weight, bias, self.mean, self.rstd, centered)

    def _param_shape(self) -> tuple[int, ...]:
        return self.normalized_shape


class BatchNorm(_Normalization):
    """Batch normalisation over every axis but the channel axis 1. Training: by the batch's statistics,
    and the running arrays (when given) move towards them in place, the variance's estimate unbiased,
    ``running = (1 - momentum) running + momentum batch``; evaluation: by the running statistics."""

    __slots__ = ("counter", "momentum", "running_mean", "running_var", "training")
    updates_state = True  # (training) the forward changes arrays outside the graph: ag.compile must replay it

    def __init__(self, running_mean, running_var, weight, bias, training, momentum, eps, counter=None):
        super().__init__(eps, weight, bias)
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.counter = bool(training), float(momentum), counter

    name = "batch_norm"

    def details(self) -> str:
        return f"training, momentum={self.momentum:g}" if self.training else "eval"

    def forward(self, x, *affine):
        if x.ndim < 2:
            raise ShapeError(
                f"batch_norm: needs an input (N, C, ...) with a channel axis, got shape {x.shape}"
            )
        channels = x.shape[1]
        self.axes = (0, *range(2, x.ndim))
        self.affine_shape = (1, channels) + (1,) * (x.ndim - 2)
        for what, a in zip(("weight", "bias"), affine, strict=False):
            if a.shape != (channels,):
                raise ShapeError(f"batch_norm: {what} must have shape ({channels},), got {a.shape}")
        weight, bias = self._affine(affine)
        if not self.training:
            self.mean = self.running_mean.reshape(self.affine_shape).astype(x.dtype, copy=False)
            var = self.running_var.reshape(self.affine_shape).astype(x.dtype, copy=False)
            self.rstd = (1.0 / np.sqrt(var + x.dtype.type(self.eps))).astype(x.dtype, copy=False)
            return self._normalized(x, weight, bias, self.mean, self.rstd)
        count = x.size // channels
        if count < 2:
            raise ValueError(
                f"batch_norm: training needs more than one value per channel to take a variance, got input "
                f"shape {x.shape}"
            )
        self.mean, self.rstd, var, centered = self._statistics(x)
        if self.running_mean is not None:  # towards the batch's mean and unbiased variance
            m = self.momentum
            self.running_mean *= 1 - m
            self.running_mean += m * self.mean.reshape(channels)
            self.running_var *= 1 - m
            self.running_var += (m * count / (count - 1)) * var.reshape(channels)
        if self.counter is not None:
            self.counter += 1
        return self._normalized(x, weight, bias, self.mean, self.rstd, centered)

    def vjp(self, g, out, x, *affine):
        if self.training:
            return super().vjp(g, out, x, *affine)
        weight, _ = self._affine(affine)  # evaluation: an affine map of x, scale rstd w
        need = self.needs_grad
        scale = self.rstd if weight is None else self.rstd * weight
        results = [g * scale if need[0] else None]
        reduce_axes = tuple(i for i, s in enumerate(self.affine_shape) if s == 1)
        xhat = (x - self.mean) * self.rstd
        if self.has_weight:
            results.append((g * xhat).sum(axis=reduce_axes).reshape(affine[0].shape) if need[1] else None)
        if self.has_bias:
            results.append(g.sum(axis=reduce_axes).reshape(affine[-1].shape) if need[-1] else None)
        return tuple(results)


def _affine_inputs(weight, bias) -> list:
    return [a for a in (weight, bias) if a is not None]


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalise x over its last axes (``normalized_shape``, an int or a tuple) to mean 0 and variance 1,
    then scale by ``weight`` and shift by ``bias`` (both of ``normalized_shape``, optional), as PyTorch's."""
    shape = (
        (int(normalized_shape),)
        if isinstance(normalized_shape, (int, np.integer))
        else tuple(normalized_shape)
    )
    op = LayerNormalization(shape, eps, weight is not None, bias is not None)
    return apply(op, x, *_affine_inputs(weight, bias))


def batch_norm(
    x,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of x (N, C, ...) per channel (axis 1), as PyTorch's ``F.batch_norm``.

    ``training=True``: by the batch's mean and (biased) variance over every axis but 1, and ``running_mean``
    and ``running_var`` (float ndarrays of shape (C,), or None) are updated in place towards the batch's mean
    and unbiased variance by ``momentum``. ``training=False``: by the running statistics.
    """
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)


def _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, counter=None):
    """``batch_norm``, with ``counter`` (a 0-d integer array, or None) incremented per training call."""
    for what, array in (("running_mean", running_mean), ("running_var", running_var)):
        if array is None:
            if not training:
                raise ValueError(f"batch_norm: evaluation (training=False) needs {what}, got None")
            continue
        if (
            isinstance(array, recording.Tensor)
            or not isinstance(array, np.ndarray)
            or array.dtype.kind != "f"
        ):
            raise TypeError(
                f"batch_norm: {what} must be a float ndarray (updated in place), got {type(array).__name__}"
            )
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    op = BatchNorm(
        running_mean, running_var, weight is not None, bias is not None, training, momentum, eps, counter
    )
    return apply(op, x, *_affine_inputs(weight, bias))
