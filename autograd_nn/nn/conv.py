"""Convolution and pooling layers on (N, C, H, W) arrays, around ``ag.conv2d`` and ``ag.max_pool2d``."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor
from . import init
from .layers import _check_dtype, _check_positive
from .module import Module, Parameter


def _pair(value, name: str, where: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair of positive ints."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{where}: {name} must be an int or a pair of ints, got {value!r}")
    return _check_positive(pair[0], name, where), _check_positive(pair[1], name, where)


class Conv2d(Module):
    """2-D cross-correlation (what deep learning calls convolution), as PyTorch's Conv2d.

    weight: (out_channels, in_channels, kh, kw); bias: (out_channels,). Initialisation (PyTorch's default):
    uniform in ±1/sqrt(in_channels * kh * kw), drawn from ``rng`` (a Generator or an int seed).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        *,
        rng=None,
        dtype=np.float64,
    ) -> None:
        super().__init__()
        where = "Conv2d"
        self.in_channels = _check_positive(in_channels, "in_channels", where)
        self.out_channels = _check_positive(out_channels, "out_channels", where)
        self.kernel_size = _pair(kernel_size, "kernel_size", where)
        self.stride = stride
        self.padding = padding
        dtype = _check_dtype(dtype, where)
        rng = init.generator(rng)
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        self.weight = Parameter(
            np.empty((self.out_channels, self.in_channels, *self.kernel_size), dtype=dtype)
        )
        init.fan_in_uniform_(self.weight, rng=rng)
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dtype))
            init.fan_in_uniform_(self.bias, fan_in=fan_in, rng=rng)
        else:
            self.bias = None

    def forward(self, x) -> Tensor:
        return ops.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if self.stride != 1:
            text += f", stride={self.stride}"
        if self.padding != 0:
            text += f", padding={self.padding}"
        return text + ("" if self.bias is not None else ", bias=False")


class MaxPool2d(Module):
    """The largest value of each kernel_size window, windows ``stride`` apart (default: kernel_size)."""

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x) -> Tensor:
        return ops.max_pool2d(x, self.kernel_size, stride=self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}" + ("" if self.stride is None else f", stride={self.stride}")
