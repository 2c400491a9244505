"""Normalisation layers: LayerNorm, and BatchNorm1d/2d with running statistics kept as buffers."""

from __future__ import annotations

import numpy as np

from ..ops import normalization
from ..tensor import Tensor
from .layers import _check_dtype, _check_positive
from .module import Module, Parameter


class LayerNorm(Module):
    """Normalise over the last axes (``normalized_shape``) to mean 0 and variance 1, then scale by ``weight``
    and shift by ``bias`` (ones and zeros at first; none with ``elementwise_affine=False``), as PyTorch's."""

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype=np.float64,
    ) -> None:
        super().__init__()
        shape = (
            (normalized_shape,)
            if isinstance(normalized_shape, (int, np.integer))
            else tuple(normalized_shape)
        )
        self.normalized_shape = tuple(_check_positive(n, "normalized_shape", "LayerNorm") for n in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = _check_dtype(dtype, "LayerNorm")
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, x) -> Tensor:
        return normalization.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d: per-channel (axis 1) normalisation, ``weight``/``bias`` (ones and
    zeros at first) and the buffers ``running_mean``, ``running_var`` (unbiased) and ``num_batches_tracked``,
    PyTorch's names, so a PyTorch state_dict loads as is. Training mode: the batch's statistics, and the
    running ones move by ``momentum``; evaluation mode: the running statistics."""

    ranks: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype=np.float64,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.num_features = _check_positive(num_features, "num_features", where)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"{where}: momentum must be a number in [0, 1], got {momentum!r}")
        self.eps, self.momentum, self.affine = float(eps), float(momentum), bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dtype = _check_dtype(dtype, where)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x) -> Tensor:
        ndim = x.ndim if isinstance(x, Tensor) else np.ndim(x)
        if ndim not in self.ranks:
            raise ValueError(
                f"{type(self).__name__}: expected an input with {' or '.join(map(str, self.ranks))} dimensions "
                f"(N, C{', L' if 3 in self.ranks else ', H, W'}), got shape {np.shape(x)}"
            )
        use_batch = self.training or not self.track_running_stats
        return normalization._batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            use_batch,
            self.momentum,
            self.eps,
            counter=self.num_batches_tracked if self.training else None,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over the batch (and length) per channel."""

    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs over the batch and the image per channel."""

    ranks = (4,)
