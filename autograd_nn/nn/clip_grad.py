"""Gradient clipping: rescale gradients whose overall norm is too large (a guard against exploding steps)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def clip_grad_norm_(params: Iterable, max_norm: float) -> float:
    """Scale every ``.grad`` by the same factor so their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping (parameters without a grad are skipped). As PyTorch's, the factor is
    ``max_norm / (norm + 1e-6)``, applied only when it is below 1. Each grad is replaced by a scaled copy,
    never scaled in place, so an array the caller still holds is left alone.
    """
    max_norm = float(max_norm)
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be positive, got {max_norm!r}")
    params = [p for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in (np.asarray(p.grad) for p in params)))
    factor = max_norm / (total + 1e-6)
    if factor < 1:
        for p in params:
            p.grad = p.grad * np.asarray(factor, dtype=np.asarray(p.grad).dtype)
    return total
