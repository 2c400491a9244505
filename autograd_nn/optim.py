"""Optimizers that update parameters in place from their gradients: gradient descent, momentum and Adam.

Duck-typed, like PyTorch's: a parameter is any object with ``.data`` (a floating-point ndarray, updated in place)
and ``.grad`` (an ndarray of the same shape, or None to skip it). Nothing here depends on the autodiff engine.
State buffers (velocities, moments) belong to the optimizer, have the dtype of ``.data`` and never alias ``.grad``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["Adam", "GradientDescent", "Momentum", "Optimizer", "make_optimizer"]


def _check_lr(lr: float) -> float:
    lr = float(lr)
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    return lr


def _check_unit_interval(name: str, value: float) -> float:
    value = float(value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


class Optimizer:
    """Base class: holds the parameter list; ``step()`` updates them, ``zero_grad()`` clears their grads."""

    def __init__(self, params: Iterable[Any]) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimizer got an empty parameter list")
        seen: set[int] = set()
        for i, p in enumerate(self.params):
            data = getattr(p, "data", None)
            if not isinstance(data, np.ndarray) or not np.issubdtype(data.dtype, np.floating):
                got = f"an array of {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
                raise ValueError(
                    f"parameter {i}: .data must be a floating-point ndarray (it is updated in place), got {got}"
                )
            if id(p) in seen:
                raise ValueError(
                    f"parameter {i} appears twice in the list; it would be updated twice per step"
                )
            seen.add(id(p))

    def _grads(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(index, data, grad) of each parameter that has a grad; all shapes are checked before any update."""
        found = []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            data, grad = p.data, np.asarray(p.grad)
            if grad.shape != data.shape:  # in-place updates would broadcast a wrong shape silently
                raise ValueError(
                    f"parameter {i}: grad of shape {grad.shape} does not match data of shape {data.shape}"
                )
            found.append((i, data, grad))
        return found

    def step(self) -> None:
        """Update every parameter whose ``.grad`` is not None, in place."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (the next backward then starts from nothing)."""
        for p in self.params:
            p.grad = None

    def __repr__(self) -> str:
        settings = ", ".join(
            f"{k}={v!r}" for k, v in vars(self).items() if k != "params" and not k.startswith("_")
        )
        return f"{type(self).__name__}({len(self.params)} params, {settings})"


class GradientDescent(Optimizer):
    """Plain (full-batch) gradient descent, the tutorial's rule: theta <- theta - lr * grad."""

    def __init__(self, params: Iterable[Any], lr: float = 1.0) -> None:
        super().__init__(params)
        self.lr = _check_lr(lr)

    def step(self) -> None:
        for _, data, grad in self._grads():
            data -= self.lr * grad  # data is p.data: updated in place, the attribute is never rebound


class Momentum(Optimizer):
    """Heavy-ball momentum, as PyTorch's SGD(momentum=mu): v <- mu * v + grad; theta <- theta - lr * v."""

    def __init__(self, params: Iterable[Any], lr: float = 0.1, momentum: float = 0.9) -> None:
        super().__init__(params)
        self.lr = _check_lr(lr)
        self.momentum = _check_unit_interval("momentum", momentum)
        self._velocity: list[np.ndarray | None] = [None] * len(self.params)

    def step(self) -> None:
        for i, data, grad in self._grads():
            v = self._velocity[i]
            if v is None:  # v starts at zero, so the first step is v = grad (a copy, never the grad itself)
                v = self._velocity[i] = np.zeros_like(data)
            v *= self.momentum
            v += grad
            data -= self.lr * v


class Adam(Optimizer):
    """Adam with bias correction, as PyTorch's: moments m, v of the grad; theta <- theta - lr m^ / (sqrt(v^) + eps).

    Each parameter counts its own steps (a parameter skipped for having no grad is not advanced).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params)
        self.lr = _check_lr(lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check_unit_interval("betas[0]", betas[0]), _check_unit_interval("betas[1]", betas[1]))
        self.eps = float(eps)
        if not (self.eps > 0 and math.isfinite(self.eps)):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        n = len(self.params)
        self._steps = [0] * n
        self._m: list[np.ndarray | None] = [None] * n  # first moment (mean of the grads)
        self._v: list[np.ndarray | None] = [None] * n  # second moment (mean of the squared grads)

    def step(self) -> None:
        beta1, beta2 = self.betas
        for i, data, grad in self._grads():
            if self._m[i] is None:
                self._m[i] = np.zeros_like(data)
                self._v[i] = np.zeros_like(data)
            m, v = self._m[i], self._v[i]
            self._steps[i] += 1
            t = self._steps[i]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * np.square(grad)
            # PyTorch's arithmetic: theta -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
            denom = np.sqrt(v)
            denom /= math.sqrt(1 - beta2**t)
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= self.lr / (1 - beta1**t)
            data -= denom


_OPTIMIZERS = {"gd": GradientDescent, "momentum": Momentum, "adam": Adam}


def make_optimizer(name: str, params: Iterable[Any], lr: float) -> Optimizer:
    """The optimizer called ``name`` ("gd", "momentum" or "adam") over ``params`` with learning rate ``lr``."""
    try:
        cls = _OPTIMIZERS[name]
    except (KeyError, TypeError):
        choices = ", ".join(repr(k) for k in sorted(_OPTIMIZERS))
        raise ValueError(f"unknown optimizer {name!r}; choose one of {choices}") from None
    return cls(params, lr=lr)
