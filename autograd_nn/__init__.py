"""autograd_nn: a small, fast, readable reverse-mode autodiff engine over NumPy.

Usage: ``from autograd_nn import Tensor, no_grad, gradcheck`` and ``import autograd_nn as ag``.
"""

from . import nn, optim
from .checking import (
    GradientMismatchError,
    GradientReport,
    check_backward,
    check_value_and_grad,
    compare_gradients,
    gradcheck,
    numerical_gradient,
)
from .compile import compile
from .errors import AnomalyError, AutogradError, GradcheckError, ShapeError
from .export import ExportError, export_onnx
from .functional import hessian, hvp, jacobian, jvp, vjp
from .grad_mode import detect_anomaly, enable_grad, is_grad_enabled, keep_values, name_scope, no_grad

# sequence blocks (seq-blocks)
from .ops import (
    abs,
    avg_pool2d,
    batch_norm,
    binary_cross_entropy_with_logits,
    clip,
    concatenate,
    conv2d,
    cross_entropy,
    dropout,
    embedding,
    erf,
    exp,
    gelu,
    layer_norm,
    leaky_relu,
    log,
    log_softmax,
    logsumexp,
    max_pool2d,
    maximum,
    minimum,
    mse_loss,
    nll_loss,
    one_hot,
    relu,
    scaled_dot_product_attention,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    stack,
    tanh,
    where,
)
from .sampling import multinomial  # issue 21, branch recurrent
from .tensor import Tensor, grad
from .viz import draw_graph, save_graph

__version__ = "0.2.0"

__all__ = [
    "AnomalyError",
    "AutogradError",
    "ExportError",
    "GradcheckError",
    "GradientMismatchError",
    "GradientReport",
    "ShapeError",
    "Tensor",
    "abs",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "clip",
    "compare_gradients",
    "compile",
    "concatenate",
    "conv2d",
    "cross_entropy",
    "detect_anomaly",
    "draw_graph",
    "dropout",
    "embedding",
    "enable_grad",
    "erf",
    "exp",
    "export_onnx",
    "gelu",
    "grad",
    "gradcheck",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "keep_values",
    "layer_norm",
    "leaky_relu",
    "log",
    "log_softmax",
    "logsumexp",
    "max_pool2d",
    "maximum",
    "minimum",
    "mse_loss",
    "name_scope",
    "nll_loss",
    "nn",
    "no_grad",
    "numerical_gradient",
    "one_hot",
    "optim",
    "relu",
    "save_graph",
    "scaled_dot_product_attention",
    "sigmoid",
    "softmax",
    "softplus",
    "sqrt",
    "stack",
    "tanh",
    "vjp",
    "where",
]

# sampling (issue 21, branch recurrent)
__all__ += ["multinomial"]
__all__ += ["check_backward", "check_value_and_grad"]  # issue 20: layer pairs and cost-and-gradient functions
