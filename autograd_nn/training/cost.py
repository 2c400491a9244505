"""The loop's default cost for any model: the tutorial's cross-entropy over one-hot targets, and its L2 term.

``tutorial_loss`` is the cost ``train_network`` minimises when given no ``loss``; ``l2_penalty`` is what
``TrainConfig.lam`` adds for every model (the tutorial ``Network``'s own ``cost`` adds it too).
"""

from __future__ import annotations

import numpy as np

from ..grad_mode import name_scope
from ..nn import Module
from ..ops import binary_cross_entropy_with_logits
from ..tensor import Tensor


def tutorial_loss(logits: Tensor, classes: np.ndarray) -> Tensor:
    """The tutorial's cost without its L2 term: the cross-entropy of sigmoid(logits) against one-hot
    targets, summed over classes and averaged over the examples (``Network.cost`` with ``lam=0``)."""
    # One-hot rows picked by a tensor op (not NumPy), so a compiled step picks each batch's anew
    targets = Tensor(np.eye(logits.shape[1], dtype=logits.dtype))[classes]
    with name_scope("cost"):
        cost = binary_cross_entropy_with_logits(logits, targets, reduction="sum") / logits.shape[0]
    cost.name = "J"
    return cost


def l2_penalty(model: Module, lam: float, num_examples: int) -> Tensor:
    """The tutorial's regularization term: ``lam / (2 m)`` times the sum of squares of every parameter
    of two or more dimensions, the weights and not the biases (for ``Network``, its thetas)."""
    squares = [(p**2).sum() for p in model.parameters() if p.ndim >= 2]
    return (lam / (2 * num_examples)) * sum(squares[1:], squares[0])
