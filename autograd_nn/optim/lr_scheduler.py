"""Learning-rate schedules, as PyTorch's: a scheduler sets ``optimizer.lr`` from the epoch count.

Construction counts as epoch 0 and already sets the epoch-0 rate (so ``LambdaLR`` applies ``lr_lambda(0)``
at once); each ``scheduler.step()``, called after ``optimizer.step()``, advances one epoch and sets that
epoch's rate. Every schedule is the closed form of the epoch and the optimizer's starting rate
(``base_lr``), so two schedulers on one optimizer do not compound: the last to step sets the rate.
Works with every optimizer in ``autograd_nn.optim`` (they all keep their rate in ``lr``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["CosineAnnealingLR", "LRScheduler", "LambdaLR", "StepLR"]


class LRScheduler:
    """Base class: ``step()`` advances ``last_epoch`` and sets ``optimizer.lr = get_lr()``."""

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        if not hasattr(optimizer, "lr"):
            raise TypeError(
                f"{type(self).__name__}: the optimizer must keep its learning rate in .lr, "
                f"got a {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        if last_epoch == -1:
            optimizer.initial_lr = float(optimizer.lr)
        elif not hasattr(optimizer, "initial_lr"):
            raise ValueError(
                f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs the optimizer's initial_lr, "
                "which a scheduler built with last_epoch=-1 sets"
            )
        self.base_lr = float(optimizer.initial_lr)
        self.last_epoch = int(last_epoch)
        self.step()

    def get_lr(self) -> float:
        """The rate at epoch ``last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the optimizer's rate to that epoch's."""
        self.last_epoch += 1
        self._last_lr = float(self.get_lr())
        self.optimizer.lr = self._last_lr

    def get_last_lr(self) -> list[float]:
        """The rate the last ``step()`` (or the construction) set, as a list of one (one group, as PyTorch's)."""
        return [self._last_lr]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as plain values (not the optimizer, nor functions such as ``lr_lambda``)."""
        return {k: v for k, v in vars(self).items() if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` and set the optimizer's rate to the restored one (our optimizers have
        no state dict of their own to carry it)."""
        unknown = set(state) - set(self.state_dict())
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: unexpected key(s) {sorted(unknown)}")
        self.__dict__.update(state)
        self.optimizer.lr = self._last_lr

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr!r})"


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); a linear warm-up is ``lambda epoch: min(1, (epoch + 1) / warmup)``."""

    def __init__(self, optimizer: Any, lr_lambda: Callable[[int], float], last_epoch: int = -1) -> None:
        if not callable(lr_lambda):
            raise TypeError(
                f"LambdaLR: lr_lambda must be a function of the epoch, got {type(lr_lambda).__name__}"
            )
        self.lr_lambda = lr_lambda
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        return self.base_lr * self.lr_lambda(self.last_epoch)


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size): multiplied by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (SGDR without restarts):
    from base_lr down to eta_min at epoch T_max, then back up, cycling with period 2 * T_max."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        cosine = math.cos(math.pi * self.last_epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + cosine) / 2
