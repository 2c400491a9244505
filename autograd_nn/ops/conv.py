"""Convolution and max pooling over (N, C, H, W) arrays: conv2d by an im2col view and one matrix product.

conv2d correlates x (N, C, H, W) with a weight (O, C, kh, kw) (as PyTorch's Conv2d, no kernel flip):
the windows of the zero-padded x (laid out channels last) are a strided view (``sliding_window_view``),
copied once into a (N*Ho*Wo, kh*kw*C) matrix (im2col), and one matmul with the weight gives every output. Its two gradients are
the same sum taken the other ways round: the weight's is one matmul with those columns; the input's is,
for each kernel offset, one matmul whose result is added into the padded input's gradient at the elements
that offset touches (kh*kw strided adds).

The three are one trilinear form <g, conv(x, w)> differentiated three ways, so each one's VJP is written
with the other two (``Conv2d``, ``Conv2dInputGrad``, ``Conv2dWeightGrad``): under ``create_graph`` the
gradients are recorded and can be differentiated again, to any order. Max pooling's gradient is linear in
the incoming one (a fixed spreading of each window's gradient over its maxima), written as a pair of
adjoint ops (``WindowScatter``, ``WindowGather``) for the same reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ShapeError
from ..recording import apply
from .base import Op, _data, _is_array

if TYPE_CHECKING:
    from ..recording import Tensor

# ---------------------------------------------------------------- geometry


def _pair(value, what: str, op: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (height, width), each at least ``minimum``."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
    ):
        raise TypeError(f"{op}: {what} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {what} must be at least {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _offset_slices(kernel, stride, out_hw):
    """For each kernel offset (a, b), the (rows, cols) slices of the (padded) input it touches."""
    (sh, sw), (ho, wo) = stride, out_hw
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            yield a, b, slice(a, a + sh * (ho - 1) + 1, sh), slice(b, b + sw * (wo - 1) + 1, sw)


# ---------------------------------------------------------------- the three conv kernels, on arrays
# They work channels last, (N, H, W, C): a window's C*kh*kw values then lie in runs of C, so copying the
# windows into columns is several times faster than from (N, C, H, W), where the runs are kw long.


def _padded_channels_last(x: np.ndarray, padding) -> np.ndarray:
    """x (N, C, H, W) as a zero-padded (N, H + 2ph, W + 2pw, C) array (one copy, as np.pad would make)."""
    (n, c, height, width), (ph, pw) = x.shape, padding
    padded = np.zeros((n, height + 2 * ph, width + 2 * pw, c), dtype=x.dtype)
    padded[:, ph : ph + height, pw : pw + width, :] = x.transpose(0, 2, 3, 1)
    return padded


def _columns(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """im2col: the (N*Ho*Wo, kh*kw*C) matrix whose rows are the windows of the padded x."""
    windows = sliding_window_view(_padded_channels_last(x, padding), kernel, axis=(1, 2))
    windows = windows[:, :: stride[0], :: stride[1]]  # (N, Ho, Wo, C, kh, kw), a view
    n, ho, wo, c, kh, kw = windows.shape
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, kh * kw * c)  # the im2col copy


def _weight_matrix(w: np.ndarray) -> np.ndarray:
    """w (O, C, kh, kw) as the (O, kh*kw*C) matrix that matches the columns."""
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def _gradient_rows(g: np.ndarray) -> np.ndarray:
    """g (N, O, Ho, Wo) as (N*Ho*Wo, O) rows, one per window (free when g is channels-last in memory)."""
    n, o, ho, wo = g.shape
    return g.transpose(0, 2, 3, 1).reshape(n * ho * wo, o)


def conv2d_array(x: np.ndarray, w: np.ndarray, stride, padding) -> np.ndarray:
    """out[n, o, i, j] = sum over c, a, b of x_padded[n, c, i*sh + a, j*sw + b] * w[o, c, a, b]."""
    n, (o, _, kh, kw) = x.shape[0], w.shape
    ho = _output_size(x.shape[2], kh, stride[0], padding[0])
    wo = _output_size(x.shape[3], kw, stride[1], padding[1])
    out = _columns(x, (kh, kw), stride, padding) @ _weight_matrix(w).T
    return np.ascontiguousarray(out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2))


def conv2d_weight_grad_array(x: np.ndarray, g: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """d<g, conv(x, w)>/dw: the columns of x weighted by g, one matmul."""
    o, c = g.shape[1], x.shape[1]
    grad = _gradient_rows(g).T @ _columns(x, kernel, stride, padding)  # (O, kh*kw*C)
    return grad.reshape(o, *kernel, c).transpose(0, 3, 1, 2)


def conv2d_input_grad_array(g: np.ndarray, w: np.ndarray, x_shape, stride, padding) -> np.ndarray:
    """d<g, conv(x, w)>/dx: for each kernel offset (a, b), one matmul gives the gradient of the input
    elements that offset touches, added in place: kh*kw strided adds, so an element in several windows
    collects every share (no np.add.at, and no (N*Ho*Wo, kh*kw*C) temporary)."""
    n, _, ho, wo = g.shape
    (_, c, kh, kw), (ph, pw) = w.shape, padding
    g_rows = _gradient_rows(g)
    w_by_offset = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (kh, kw, O, C)
    height, width = x_shape[2], x_shape[3]
    padded = np.zeros((n, height + 2 * ph, width + 2 * pw, c), dtype=np.result_type(g, w))
    for a, b, rows, cols in _offset_slices((kh, kw), stride, (ho, wo)):
        padded[:, rows, cols, :] += (g_rows @ w_by_offset[a, b]).reshape(n, ho, wo, c)
    return np.ascontiguousarray(padded[:, ph : ph + height, pw : pw + width, :].transpose(0, 3, 1, 2))


# Each takes arrays (plain backward) or Tensors (recorded backward) and returns the same kind.


def _conv(x, w, stride, padding):
    if _is_array(x) and _is_array(w):
        return conv2d_array(x, w, stride, padding)
    return apply(Conv2d(stride, padding), x, w)


def _conv_input_grad(g, w, x_shape, stride, padding):
    if _is_array(g) and _is_array(w):
        return conv2d_input_grad_array(g, w, x_shape, stride, padding)
    return apply(Conv2dInputGrad(x_shape, stride, padding), g, w)


def _conv_weight_grad(x, g, kernel, stride, padding):
    if _is_array(x) and _is_array(g):
        return conv2d_weight_grad_array(x, g, kernel, stride, padding)
    return apply(Conv2dWeightGrad(kernel, stride, padding), x, g)


# ---------------------------------------------------------------- conv ops


class Conv2d(Op):
    """2-D cross-correlation of x (N, C, H, W) with w (O, C, kh, kw), plus an optional bias (O,)."""

    __slots__ = ("padding", "stride")
    name = "conv2d"

    def __init__(self, stride=1, padding=0) -> None:
        self.stride = _pair(stride, "stride", self.name, 1)
        self.padding = _pair(padding, "padding", self.name, 0)

    def details(self) -> str:
        return _geometry_details(self.stride, self.padding)

    def forward(self, x, w, b=None):
        _check_conv_shapes(x.shape, w.shape, None if b is None else b.shape, self.padding)
        out = conv2d_array(x, w, self.stride, self.padding)
        if b is not None:
            out += b.reshape(-1, 1, 1)
        return out

    def vjp(self, g, out, x, w, b=None):
        need_x, need_w, *need_b = self.needs_grad
        kernel = w.shape[2:]
        gx = _conv_input_grad(g, w, x.shape, self.stride, self.padding) if need_x else None
        gw = _conv_weight_grad(x, g, kernel, self.stride, self.padding) if need_w else None
        if not need_b:
            return gx, gw
        return gx, gw, (g.sum(axis=(0, 2, 3)) if need_b[0] else None)


class Conv2dInputGrad(Op):
    """The gradient of conv2d with respect to its input, as an op of (g, w) (a transposed convolution)."""

    __slots__ = ("padding", "stride", "x_shape")
    name = "conv2d_input_grad"

    def __init__(self, x_shape, stride, padding) -> None:
        self.x_shape, self.stride, self.padding = tuple(x_shape), stride, padding

    def details(self) -> str:
        return _geometry_details(self.stride, self.padding)

    def forward(self, g, w):
        return conv2d_input_grad_array(g, w, self.x_shape, self.stride, self.padding)

    def vjp(self, h, out, g, w):
        need_g, need_w = self.needs_grad
        gg = _conv(h, w, self.stride, self.padding) if need_g else None
        gw = _conv_weight_grad(h, g, w.shape[2:], self.stride, self.padding) if need_w else None
        return gg, gw


class Conv2dWeightGrad(Op):
    """The gradient of conv2d with respect to its weight, as an op of (x, g)."""

    __slots__ = ("kernel", "padding", "stride")
    name = "conv2d_weight_grad"

    def __init__(self, kernel, stride, padding) -> None:
        self.kernel, self.stride, self.padding = tuple(kernel), stride, padding

    def details(self) -> str:
        return _geometry_details(self.stride, self.padding)

    def forward(self, x, g):
        return conv2d_weight_grad_array(x, g, self.kernel, self.stride, self.padding)

    def vjp(self, k, out, x, g):
        need_x, need_g = self.needs_grad
        gx = _conv_input_grad(g, k, x.shape, self.stride, self.padding) if need_x else None
        gg = _conv(x, k, self.stride, self.padding) if need_g else None
        return gx, gg


def _geometry_details(stride, padding) -> str:
    parts = [] if stride == (1, 1) else [f"stride={stride[0] if stride[0] == stride[1] else stride}"]
    if padding != (0, 0):
        parts.append(f"padding={padding[0] if padding[0] == padding[1] else padding}")
    return ", ".join(parts)


def _check_conv_shapes(x_shape, w_shape, b_shape, padding) -> None:
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ShapeError(
            f"conv2d: the input must be (N, C, H, W) and the weight (O, C, kh, kw), "
            f"got shapes {x_shape} and {w_shape}"
        )
    if x_shape[1] != w_shape[1]:
        raise ShapeError(
            f"conv2d: the input of shape {x_shape} has {x_shape[1]} channels but the weight of shape "
            f"{w_shape} expects {w_shape[1]}"
        )
    if b_shape is not None and b_shape != (w_shape[0],):
        raise ShapeError(
            f"conv2d: the bias must have shape ({w_shape[0]},), one per output channel of the weight "
            f"of shape {w_shape}, got {b_shape}"
        )
    padded = (x_shape[2] + 2 * padding[0], x_shape[3] + 2 * padding[1])
    if w_shape[2] > padded[0] or w_shape[3] > padded[1] or min(w_shape) == 0:
        raise ShapeError(
            f"conv2d: the kernel {w_shape[2:]} of the weight of shape {w_shape} does not fit the input "
            f"of shape {x_shape} padded to {padded}"
        )


# ---------------------------------------------------------------- max pooling
# Pooling works one kernel offset at a time: offset (a, b) sees the (N, C, Ho, Wo) slice
# x[:, :, a::sh, b::sw] (cut to Ho x Wo), and a window's maximum is the elementwise maximum of kh*kw such
# slices. Whole-array passes like these are several times faster than reducing a 6-D window view.


def _pool_output_size(x_shape, kernel, stride) -> tuple[int, ...]:
    return tuple(_output_size(x_shape[2 + i], kernel[i], stride[i], padding=0) for i in (0, 1))


def _maxima(x: np.ndarray, out: np.ndarray, kernel, stride) -> tuple[np.ndarray, np.ndarray]:
    """Where each window's maximum is: a (kh*kw, N, C, Ho, Wo) boolean mask, one (N, C, Ho, Wo) slice per
    kernel offset, and each window's number of maxima (ties share the window's gradient equally)."""
    slices = _offset_slices(kernel, stride, out.shape[2:])
    is_max = np.stack([x[:, :, rows, cols] == out for _, _, rows, cols in slices])
    return is_max, is_max.sum(axis=0, dtype=x.dtype)


def _window_scatter(g, is_max, count, x_shape, kernel, stride):
    if _is_array(g):
        return WindowScatter(is_max, count, x_shape, kernel, stride).forward(g)
    return apply(WindowScatter(is_max, count, x_shape, kernel, stride), g)


def _window_gather(h, is_max, count, kernel, stride):
    if _is_array(h):
        return WindowGather(is_max, count, kernel, stride).forward(h)
    return apply(WindowGather(is_max, count, kernel, stride), h)


class _Pool2d(Op):
    """What the pooling ops share: a kh x kw window moved ``stride`` apart over x (N, C, H, W), no padding;
    rows and columns past the last whole window are left out, as in PyTorch."""

    __slots__ = ("kernel", "stride")

    def __init__(self, kernel_size, stride=None) -> None:
        self.kernel = _pair(kernel_size, "kernel_size", self.name, 1)
        self.stride = self.kernel if stride is None else _pair(stride, "stride", self.name, 1)

    def details(self) -> str:
        kernel = self.kernel[0] if self.kernel[0] == self.kernel[1] else self.kernel
        return f"{kernel}" if self.stride == self.kernel else f"{kernel}, stride={self.stride}"

    def _combine_windows(self, x: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
        """``ufunc`` folded over the kh * kw offsets of every window: one strided slice per offset."""
        if x.ndim != 4 or self.kernel[0] > x.shape[2] or self.kernel[1] > x.shape[3]:
            raise ShapeError(
                f"{self.name}: needs an (N, C, H, W) input at least as large as the kernel {self.kernel}, "
                f"got shape {x.shape}"
            )
        out = None
        for _, _, rows, cols in _offset_slices(
            self.kernel, self.stride, _pool_output_size(x.shape, self.kernel, self.stride)
        ):
            out = x[:, :, rows, cols].copy() if out is None else ufunc(out, x[:, :, rows, cols], out=out)
        return out


class MaxPool2d(_Pool2d):
    """The maximum of each kh x kw window of x (N, C, H, W), windows ``stride`` apart (no padding).

    Ties share the window's gradient equally, the convention of ``max``. Rows and columns past the
    last whole window are left out, as in PyTorch.
    """

    __slots__ = ()
    keeps_inputs, keeps_output = True, True
    name = "max_pool2d"

    def forward(self, x):
        return self._combine_windows(x, np.maximum)

    def vjp(self, g, out, x):
        is_max, count = _maxima(_data(x), _data(out), self.kernel, self.stride)
        return (_window_scatter(g, is_max, count, x.shape, self.kernel, self.stride),)


class WindowScatter(Op):
    """Spread each window's value equally over the window's maxima (``is_max``, ``count`` of them):
    max_pool2d's VJP, linear in g."""

    __slots__ = ("count", "is_max", "kernel", "stride", "x_shape")
    keeps_inputs = False
    name = "window_scatter"

    def __init__(self, is_max, count, x_shape, kernel, stride) -> None:
        self.is_max, self.count, self.x_shape, self.kernel, self.stride = (
            is_max,
            count,
            tuple(x_shape),
            kernel,
            stride,
        )

    def forward(self, g):
        per_maximum = g / self.count
        result = np.zeros(self.x_shape, dtype=per_maximum.dtype)
        for k, (_, _, rows, cols) in enumerate(_offset_slices(self.kernel, self.stride, g.shape[2:])):
            result[:, :, rows, cols] += per_maximum * self.is_max[k]
        return result

    def vjp(self, h, out, g):
        return (_window_gather(h, self.is_max, self.count, self.kernel, self.stride),)


class WindowGather(Op):
    """The mean of each window's elements at its maxima: the adjoint of ``WindowScatter``."""

    __slots__ = ("count", "is_max", "kernel", "stride")
    keeps_inputs = False
    name = "window_gather"

    def __init__(self, is_max, count, kernel, stride) -> None:
        self.is_max, self.count, self.kernel, self.stride = is_max, count, kernel, stride

    def forward(self, h):
        slices = _offset_slices(self.kernel, self.stride, self.count.shape[2:])
        return (
            sum(h[:, :, rows, cols] * self.is_max[k] for k, (_, _, rows, cols) in enumerate(slices))
            / self.count
        )

    def vjp(self, gg, out, h):
        return (_window_scatter(gg, self.is_max, self.count, h.shape, self.kernel, self.stride),)


# ---------------------------------------------------------------- the functions users call


def conv2d(x, w, b=None, stride=1, padding=0) -> Tensor:
    """Cross-correlate x (N, C, H, W) with w (O, C, kh, kw) and add the bias b (O,) if given.

    ``stride`` and ``padding`` (zeros on every side) are an int or an (height, width) pair. The
    result has shape (N, O, (H + 2ph - kh) // sh + 1, (W + 2pw - kw) // sw + 1).
    """
    op = Conv2d(stride, padding)
    return apply(op, x, w) if b is None else apply(op, x, w, b)


def max_pool2d(x, kernel_size, stride=None) -> Tensor:
    """The maximum over kernel_size windows of x (N, C, H, W), ``stride`` apart (default: kernel_size)."""
    return apply(MaxPool2d(kernel_size, stride), x)


# ---------------------------------------------------------------- sequence blocks: average pooling


class AvgPool2d(_Pool2d):
    """The mean of each kh x kw window of x (N, C, H, W), windows ``stride`` apart (no padding); rows and
    columns past the last whole window are left out, as in PyTorch. Its VJP spreads each window's gradient
    evenly over the window (``AvgPoolScatter``, its adjoint)."""

    __slots__ = ()
    keeps_inputs = False
    name = "avg_pool2d"

    def forward(self, x):
        out = self._combine_windows(x, np.add)
        out *= x.dtype.type(1 / (self.kernel[0] * self.kernel[1]))
        return out

    def vjp(self, g, out, x):
        scatter = AvgPoolScatter(self.kernel, self.stride, x.shape)
        return (scatter.forward(g) if _is_array(g) else apply(scatter, g),)


class AvgPoolScatter(Op):
    """Each window's value divided evenly over the window's kh * kw places: avg_pool2d's VJP, linear in g."""

    __slots__ = ("kernel", "stride", "x_shape")
    keeps_inputs = False
    name = "avg_pool_scatter"

    def __init__(self, kernel, stride, x_shape) -> None:
        self.kernel, self.stride, self.x_shape = kernel, stride, tuple(x_shape)

    def forward(self, g):
        share = g * g.dtype.type(1 / (self.kernel[0] * self.kernel[1]))
        result = np.zeros(self.x_shape, dtype=g.dtype)
        for _, _, rows, cols in _offset_slices(self.kernel, self.stride, g.shape[2:]):
            result[:, :, rows, cols] += share
        return result

    def vjp(self, h, out, g):
        pool = AvgPool2d(self.kernel, self.stride)
        return (pool.forward(h) if _is_array(h) else apply(pool, h),)


def avg_pool2d(x, kernel_size, stride=None) -> Tensor:
    """The mean over kernel_size windows of x (N, C, H, W), ``stride`` apart (default: kernel_size)."""
    return apply(AvgPool2d(kernel_size, stride), x)
