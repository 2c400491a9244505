"""Optimizers that update parameters in place from their gradients: SGD (with momentum), Adam and AdamW.

Duck-typed, like PyTorch's: a parameter is any object with ``.data`` (a floating-point ndarray, updated in place)
and ``.grad`` (an ndarray of the same shape, or None to skip it). Nothing here depends on the autodiff engine.
State buffers (velocities, moments) belong to the optimizer, have the dtype of ``.data`` and never alias ``.grad``.
After updating a parameter's array in place, a step bumps its ``_version`` when it has one, so a graph that
saved the old values refuses to backpropagate through them. ``params`` may be any iterable, such as
``model.parameters()``. ``GradientDescent`` and ``Momentum`` are the tutorial's names; ``SGD`` covers both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["SGD", "Adam", "AdamW", "GradientDescent", "Momentum", "Optimizer", "ParamGroup", "make_optimizer"]


def _check_lr(lr: float) -> float:
    lr = float(lr)
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    return lr


def _check_weight_decay(value: float) -> float:
    value = float(value)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {value!r}")
    return value


def _bump_version(p: Any) -> None:
    """Count the in-place change of ``p.data`` (tensors with a version counter have ``_version``)."""
    if hasattr(p, "_version"):
        p._version += 1


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

    @property
    def param_groups(self) -> list[ParamGroup]:
        """PyTorch's view of the settings: one group holding every parameter (``group["lr"] = x`` sets ``lr``)."""
        return [ParamGroup(self)]

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
        """Update every parameter whose ``.grad`` is not None, in place, and bump its version."""
        for i, data, grad in self._grads():
            self._update(i, data, grad)
            _bump_version(self.params[i])

    def _update(self, i: int, data: np.ndarray, grad: np.ndarray) -> None:
        """Apply the update rule to parameter ``i``: change ``data`` in place from ``grad``."""
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


class ParamGroup(Mapping):
    """An optimizer's settings as PyTorch's ``param_groups[0]`` dict: ``"params"`` and the hyperparameters
    the optimizer has (``"lr"``, ``"momentum"``, ``"betas"``, ...), read live; only ``"lr"`` may be set,
    as learning-rate schedules do (any finite number >= 0)."""

    _KEYS = ("params", "lr", "momentum", "nesterov", "betas", "eps", "weight_decay")

    def __init__(self, optimizer: Optimizer) -> None:
        self._optimizer = optimizer

    def _keys(self) -> list[str]:
        return [k for k in self._KEYS if hasattr(self._optimizer, k)]

    def __getitem__(self, key: str):
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self._optimizer, key)

    def __setitem__(self, key: str, value) -> None:
        if key != "lr":
            raise KeyError(f"param_groups: only 'lr' can be set through a group, not {key!r}")
        lr = float(value)
        if not (lr >= 0 and math.isfinite(lr)):
            raise ValueError(f"param_groups: lr must be a finite number >= 0, got {value!r}")
        self._optimizer.lr = lr

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


class GradientDescent(Optimizer):
    """Plain (full-batch) gradient descent, the tutorial's rule: theta <- theta - lr * grad."""

    def __init__(self, params: Iterable[Any], lr: float = 1.0) -> None:
        super().__init__(params)
        self.lr = _check_lr(lr)

    def _update(self, i: int, data: np.ndarray, grad: np.ndarray) -> None:
        data -= self.lr * grad  # data is p.data: updated in place, the attribute is never rebound


class SGD(Optimizer):
    """PyTorch's SGD: g = grad + weight_decay * theta; with momentum, v <- momentum * v + g (v = g at
    first) and g = v, or g + momentum * v with ``nesterov``; then theta <- theta - lr * g.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params)
        self.lr = _check_lr(lr)
        self.momentum = _check_unit_interval("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs a momentum above 0")
        self.weight_decay = _check_weight_decay(weight_decay)
        self._velocity: list[np.ndarray | None] = [None] * len(self.params)

    def _update(self, i: int, data: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay:
            grad = grad + self.weight_decay * data
        if self.momentum:
            v = self._velocity[i]
            if v is None:  # the first step sets v = g (a copy, never the grad itself)
                v = self._velocity[i] = np.array(grad, dtype=data.dtype)
            else:
                v *= self.momentum
                v += grad
            grad = grad + self.momentum * v if self.nesterov else v
        data -= self.lr * grad


class Momentum(SGD):
    """Heavy-ball momentum, the tutorial's name for SGD(momentum=mu): v <- mu * v + grad; theta <- theta - lr * v."""

    def __init__(self, params: Iterable[Any], lr: float = 0.1, momentum: float = 0.9) -> None:
        super().__init__(params, lr=lr, momentum=momentum)

    def __repr__(self) -> str:
        return f"Momentum({len(self.params)} params, lr={self.lr!r}, momentum={self.momentum!r})"


class Adam(Optimizer):
    """Adam with bias correction, as PyTorch's: moments m, v of the grad; theta <- theta - lr m^ / (sqrt(v^) + eps).

    ``weight_decay`` adds ``weight_decay * theta`` to the grad first (L2 regularisation, PyTorch's Adam);
    ``AdamW`` decays the weights directly instead. Each parameter counts its own steps (a parameter
    skipped for having no grad is not advanced).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params)
        self.lr = _check_lr(lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check_unit_interval("betas[0]", betas[0]), _check_unit_interval("betas[1]", betas[1]))
        self.eps = float(eps)
        if not (self.eps > 0 and math.isfinite(self.eps)):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        self.weight_decay = _check_weight_decay(weight_decay)
        n = len(self.params)
        self._steps = [0] * n
        self._m: list[np.ndarray | None] = [None] * n  # first moment (mean of the grads)
        self._v: list[np.ndarray | None] = [None] * n  # second moment (mean of the squared grads)
        self._flat: _FlatMoments | None = None  # the moments of parameters always updated together

    def step(self) -> None:
        """Update every parameter whose ``.grad`` is not None, in place, and bump its version."""
        found = self._grads()
        if not self._step_together(found):
            for i, data, grad in found:
                self._update(i, data, grad)
        for i, _, _ in found:
            _bump_version(self.params[i])

    def _step_together(self, found: list) -> bool:
        """Adam's update of all the parameters at once, on flat arrays: the same elementwise arithmetic
        as ``_update``, so the same numbers, in a dozen NumPy calls instead of a dozen per parameter.
        Taken while the parameters share one dtype and step count (each step updated all of them)."""
        members = tuple([i for i, _, _ in found])
        dtype = found[0][1].dtype if found else None
        if len(members) < 2 or any(d.dtype != dtype or g.dtype != dtype for _, d, g in found):
            return False
        if self._flat is None:
            if any(self._m[i] is not None for i in members):
                return False
            self._flat = _FlatMoments(members, [d for _, d, _ in found])
            for i, m, v in zip(members, self._flat.m_views, self._flat.v_views, strict=True):
                self._m[i], self._v[i] = m, v
        flat = self._flat
        t = self._steps[members[0]] + 1
        if flat.members != members or any(self._steps[i] != t - 1 for i in members):
            return False
        for i in members:
            self._steps[i] = t
        for (_, data, grad), into in zip(found, flat.grad_views, strict=True):
            np.copyto(into, self._decay(data, grad))
        self._moments_and_update(flat.m, flat.v, flat.grad, t, out=flat.scratch)
        for (_, data, _), update in zip(found, flat.scratch_views, strict=True):
            data -= update
        return True

    def _moments_and_update(self, m, v, grad, t: int, out: np.ndarray) -> np.ndarray:
        """Advance the moments m, v by ``grad`` (in place) and write step t's update into ``out``.

        PyTorch's arithmetic: update = (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
        """
        beta1, beta2 = self.betas
        m *= beta1
        m += np.multiply(1 - beta1, grad, out=out)
        v *= beta2
        np.square(grad, out=out)
        out *= 1 - beta2
        v += out
        np.sqrt(v, out=out)
        out /= math.sqrt(1 - beta2**t)
        out += self.eps
        np.divide(m, out, out=out)
        out *= self.lr / (1 - beta1**t)
        return out

    def _decay(self, data: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """The gradient Adam's moments see: L2 regularisation adds ``weight_decay * theta``."""
        return grad + self.weight_decay * data if self.weight_decay else grad

    def _update(self, i: int, data: np.ndarray, grad: np.ndarray) -> None:
        """One parameter's step (when the parameters cannot step together)."""
        grad = self._decay(data, grad)
        if self._m[i] is None:
            self._m[i] = np.zeros_like(data)
            self._v[i] = np.zeros_like(data)
        self._steps[i] += 1
        data -= self._moments_and_update(
            self._m[i], self._v[i], grad, self._steps[i], out=np.empty_like(data)
        )


class _FlatMoments:
    """Adam's moments, the gradients and a scratch row for parameters updated together, each a flat
    array, with one view per parameter in the parameter's shape."""

    def __init__(self, members: tuple[int, ...], datas: list[np.ndarray]) -> None:
        self.members = members
        total = sum(d.size for d in datas)
        self.m, self.v, self.grad, self.scratch = np.zeros((4, total), datas[0].dtype)
        ends = np.cumsum([0] + [d.size for d in datas])
        views = [
            [
                row[start:end].reshape(d.shape)
                for start, end, d in zip(ends[:-1], ends[1:], datas, strict=True)
            ]
            for row in (self.m, self.v, self.grad, self.scratch)
        ]
        self.m_views, self.v_views, self.grad_views, self.scratch_views = views


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as PyTorch's AdamW: first
    theta <- theta * (1 - lr * weight_decay), then Adam's step on the plain gradient.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self, data: np.ndarray, grad: np.ndarray) -> np.ndarray:
        if self.weight_decay:
            data *= 1 - self.lr * self.weight_decay
        return grad


_OPTIMIZERS = {"gd": GradientDescent, "momentum": Momentum, "adam": Adam}


def make_optimizer(name: str, params: Iterable[Any], lr: float) -> Optimizer:
    """The optimizer called ``name`` ("gd", "momentum" or "adam") over ``params`` with learning rate ``lr``."""
    try:
        cls = _OPTIMIZERS[name]
    except (KeyError, TypeError):
        choices = ", ".join(repr(k) for k in sorted(_OPTIMIZERS))
        raise ValueError(f"unknown optimizer {name!r}; choose one of {choices}") from None
    return cls(params, lr=lr)
