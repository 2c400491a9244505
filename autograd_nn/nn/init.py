"""Initialisations: fill a parameter's array in place from a seeded random generator.

Every layer takes ``rng`` (a ``numpy.random.Generator`` or an int seed). Without one it draws from this
thread's default generator, which ``manual_seed(n)`` reseeds, so ``manual_seed(0)`` before building a model
makes it reproducible. The generator is per thread: two threads building models never share a stream.
Each ``*_`` function (PyTorch's names) overwrites its tensor's array in place, outside any recorded graph, and
counts the change in the tensor's version (as an optimizer step does), so a graph that saved the old values
refuses to backpropagate through them.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..grad_mode import no_grad
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


def _fill(tensor: Tensor, values) -> Tensor:
    """Write ``values`` into ``tensor``'s array in place, unrecorded, and count the change in its version."""
    with no_grad():
        tensor.data[...] = values
    if hasattr(tensor, "_version"):
        tensor._version += 1
    return tensor


def uniform_(tensor: Tensor, low: float, high: float, rng=None) -> Tensor:
    """Fill ``tensor`` with values drawn uniformly from [low, high)."""
    return _fill(tensor, generator(rng).uniform(low, high, size=tensor.shape))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with zeros (e.g. a bias)."""
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with ones (e.g. a normalisation's scale)."""
    return _fill(tensor, 1)


def _check_std(std: float, where: str) -> float:
    std = float(std)
    if not (std >= 0 and math.isfinite(std)):
        raise ValueError(f"{where}: std must be a finite number >= 0, got {std!r}")
    return std


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, rng=None) -> Tensor:
    """Fill ``tensor`` with values drawn from the normal distribution N(mean, std**2)."""
    std = _check_std(std, "normal_")
    return _fill(tensor, generator(rng).normal(float(mean), std, size=tensor.shape))


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, rng=None
) -> Tensor:
    """Fill ``tensor`` from N(mean, std**2) conditioned on [a, b] (absolute bounds, as PyTorch's): values
    outside are drawn again until every one falls inside."""
    std, mean, a, b = _check_std(std, "trunc_normal_"), float(mean), float(a), float(b)
    if not a < b:
        raise ValueError(f"trunc_normal_: the bounds must satisfy a < b, got a={a} and b={b}")
    if std == 0:
        if not a <= mean <= b:
            raise ValueError(f"trunc_normal_: with std=0 the mean {mean} must lie in [a, b] = [{a}, {b}]")
        return _fill(tensor, mean)
    mass = _normal_cdf((b - mean) / std) - _normal_cdf((a - mean) / std)
    if mass < 1e-3:  # redrawing would take thousands of rounds
        raise ValueError(
            f"trunc_normal_: [a, b] = [{a}, {b}] holds only {mass:.2g} of N({mean}, {std}**2); "
            "put the bounds within a few std of the mean"
        )
    rng = generator(rng)
    values = rng.normal(mean, std, size=tensor.shape)
    outside = (values < a) | (values > b)
    while outside.any():  # each round keeps a share `mass` of the redrawn values
        values[outside] = rng.normal(mean, std, size=int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


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
