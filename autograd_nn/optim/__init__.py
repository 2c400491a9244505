"""Optimizers (``optimizers.py``: SGD, Adam, AdamW and the tutorial's GradientDescent and Momentum) and
learning-rate schedules (``lr_scheduler``: LambdaLR, StepLR, CosineAnnealingLR), as PyTorch's.

``from autograd_nn.optim import Adam`` and ``from autograd_nn.optim.lr_scheduler import StepLR``.
"""

from . import lr_scheduler
from .optimizers import SGD, Adam, AdamW, GradientDescent, Momentum, Optimizer, ParamGroup, make_optimizer

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "GradientDescent",
    "Momentum",
    "Optimizer",
    "ParamGroup",
    "lr_scheduler",
    "make_optimizer",
]
