"""autograd_nn: a small, fast, readable reverse-mode autodiff engine over NumPy.

Usage: ``from autograd_nn import Tensor, no_grad, gradcheck`` and ``import autograd_nn as ag``.
"""

from .checking import gradcheck, numerical_gradient
from .errors import AnomalyError, AutogradError, GradcheckError, ShapeError
from .export import ExportError, export_onnx
from .grad_mode import detect_anomaly, enable_grad, is_grad_enabled, name_scope, no_grad
from .ops import (
    binary_cross_entropy_with_logits,
    exp,
    log,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from .tensor import Tensor, grad
from .viz import draw_graph, save_graph

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "AutogradError",
    "ExportError",
    "GradcheckError",
    "ShapeError",
    "Tensor",
    "binary_cross_entropy_with_logits",
    "detect_anomaly",
    "draw_graph",
    "enable_grad",
    "exp",
    "export_onnx",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "log",
    "log_softmax",
    "logsumexp",
    "name_scope",
    "no_grad",
    "numerical_gradient",
    "relu",
    "save_graph",
    "sigmoid",
    "softmax",
    "tanh",
]
