"""Layers: Linear and the activations, Softmax, Flatten and Dropout, each a Module around the engine's ops.

Every layer accepts a Tensor or a plain ndarray as input and returns a Tensor.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor
from . import init
from .module import Module, Parameter


def _check_dtype(dtype, where: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{where}: dtype must be float32 or float64, got {dtype}")
    return dtype


def _check_positive(value, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


class Linear(Module):
    """``x @ weight.T + bias``: weight of shape (out, in), like the tutorial's theta, and bias (out,).

    Initialisation (PyTorch's default): weight and bias uniform in ±1/sqrt(in_features), drawn from
    ``rng`` (a Generator or an int seed; default: ``nn.init``'s per-thread generator).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, rng=None, dtype=np.float64
    ) -> None:
        super().__init__()
        where = "Linear"
        self.in_features = _check_positive(in_features, "in_features", where)
        self.out_features = _check_positive(out_features, "out_features", where)
        dtype = _check_dtype(dtype, where)
        rng = init.generator(rng)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        init.fan_in_uniform_(self.weight, rng=rng)
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
            init.fan_in_uniform_(self.bias, fan_in=self.in_features, rng=rng)
        else:
            self.bias = None

    def forward(self, x) -> Tensor:
        z = x @ self.weight.T
        return z if self.bias is None else z + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}" + ("" if self.bias is not None else ", bias=False")


class Sigmoid(Module):
    def forward(self, x) -> Tensor:
        return ops.sigmoid(x)


class Tanh(Module):
    def forward(self, x) -> Tensor:
        return ops.tanh(x)


class ReLU(Module):
    def forward(self, x) -> Tensor:
        return ops.relu(x)


class LeakyReLU(Module):
    """x where x > 0, ``slope * x`` elsewhere."""

    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        self.slope = float(slope)

    def forward(self, x) -> Tensor:
        return ops.leaky_relu(x, self.slope)

    def extra_repr(self) -> str:
        return f"slope={self.slope}"


class Softmax(Module):
    """Probabilities along ``axis`` (for outputs; a loss takes logits, see ``ag.cross_entropy``)."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x) -> Tensor:
        return ops.softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...): one row per example, e.g. between convolutions and a Linear."""

    def forward(self, x) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        return x.reshape(x.shape[0], -1)


class Dropout(Module):
    """In training mode, zero each element with probability ``p`` and scale the rest by 1/(1-p);
    in evaluation mode (``model.eval()``), the identity. The masks come from ``rng`` (a Generator or an
    int seed; default: a generator drawn from ``nn.init``'s), so a seeded model drops the same units.
    """

    def __init__(self, p: float = 0.5, *, rng=None) -> None:
        super().__init__()
        p = float(p)
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p!r}")
        self.p = p
        self.rng = (
            init.generator(rng)
            if rng is not None
            else np.random.default_rng(init.generator().integers(2**63))
        )

    def forward(self, x) -> Tensor:
        return ops.dropout(x, self.p, training=self.training, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# ---------------------------------------------------------------- sequence blocks


class GELU(Module):
    """The Gaussian error linear unit x * Phi(x); ``approximate="tanh"`` for the tanh form (GPT-2's)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x) -> Tensor:
        return ops.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Identity(Module):
    """Returns its input unchanged (a placeholder where a layer is optional); arguments are ignored."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, x):
        return x
