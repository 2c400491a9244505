"""Initialisations: fill a parameter's array in place from a seeded random generator.

Every layer takes ``rng`` (a ``numpy.random.Generator`` or an int seed). Without one it draws from this
thread's default generator, which ``manual_seed(n)`` reseeds, so ``manual_seed(0)`` before building a model
makes it reproducible. The generator is per thread: two threads building models never share a stream.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..tensor import Tensor

_local = threading.local()


def manual_seed(seed: int) -> None:
    """Reseed this thread's default generator (what layers built without ``rng`` draw from)."""
    _local.rng = np.random.default_rng(seed)


def generator(rng: np.random.Generator | int | None = None) -> np.random.Generator:
    """``rng`` as a Generator: a Generator as is, an int as a seed, None as this thread's default."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        if getattr(_local, "rng", None) is None:
            _local.rng = np.random.default_rng()  # unseeded until manual_seed is called
        return _local.rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def fan_in_and_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """(inputs, outputs) feeding one unit of a weight of shape (out, in) or (out, in, kh, kw)."""
    if len(shape) < 2:
        raise ValueError(f"init: a weight needs at least 2 dimensions to have fans, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def uniform_(tensor: Tensor, low: float, high: float, rng=None) -> Tensor:
    """Fill ``tensor`` with values drawn uniformly from [low, high)."""
    values = generator(rng).uniform(low, high, size=tensor.shape)
    tensor.data[...] = values
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    tensor.data[...] = 0
    return tensor


def fan_in_uniform_(tensor: Tensor, fan_in: int | None = None, rng=None) -> Tensor:
    """Uniform in ±1/sqrt(fan_in): PyTorch's default for Linear and Conv2d weights and biases.

    ``fan_in`` defaults to the weight's own (``in * kh * kw``); a bias passes its layer's.
    """
    fan_in = fan_in_and_out(tensor.shape)[0] if fan_in is None else fan_in
    bound = 1.0 / math.sqrt(fan_in)
    return uniform_(tensor, -bound, bound, rng)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, rng=None) -> Tensor:
    """Uniform in ±gain·sqrt(6 / (fan_in + fan_out)) (Glorot), the tutorial's epsilon_init."""
    fan_in, fan_out = fan_in_and_out(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng)


def kaiming_uniform_(tensor: Tensor, rng=None) -> Tensor:
    """Uniform in ±sqrt(6 / fan_in) (He), which keeps the variance of ReLU activations through depth."""
    bound = math.sqrt(6.0 / fan_in_and_out(tensor.shape)[0])
    return uniform_(tensor, -bound, bound, rng)
