"""The primitives: each op's forward and its vector-Jacobian product (VJP), side by side.

One module per family, each op a small class (see ``base.Op``) with the function users call beside it:
``arithmetic`` (+ - * / ** @), ``elementwise`` (exp, log, sigmoid, ...), ``reductions`` (sum, mean, max,
logsumexp, softmax), ``shapes`` (reshape, transpose, indexing) and ``losses``.
"""

from .arithmetic import Add, Div, MatMul, Mul, Neg, Pow, Power, Sub
from .base import Op
from .elementwise import (
    Cast,
    Exp,
    Log,
    ReLU,
    Sigmoid,
    Tanh,
    exp,
    log,
    relu,
    sigmoid,
    softplus,
    stable_sigmoid,
    tanh,
)
from .losses import BCEWithLogits, binary_cross_entropy_with_logits
from .reductions import LogSoftmax, LogSumExp, Max, Mean, Softmax, Sum, log_softmax, logsumexp, softmax
from .shapes import BroadcastTo, Index, Reshape, ScatterAdd, Transpose

__all__ = [
    "Add",
    "BCEWithLogits",
    "BroadcastTo",
    "Cast",
    "Div",
    "Exp",
    "Index",
    "Log",
    "LogSoftmax",
    "LogSumExp",
    "MatMul",
    "Max",
    "Mean",
    "Mul",
    "Neg",
    "Op",
    "Pow",
    "Power",
    "ReLU",
    "Reshape",
    "ScatterAdd",
    "Sigmoid",
    "Softmax",
    "Sub",
    "Sum",
    "Tanh",
    "Transpose",
    "binary_cross_entropy_with_logits",
    "exp",
    "log",
    "log_softmax",
    "logsumexp",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "stable_sigmoid",
    "tanh",
]
