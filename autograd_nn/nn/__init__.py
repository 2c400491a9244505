"""Networks as forward code: ``Module`` and ``Parameter``, containers, layers, initialisations.

``from autograd_nn import nn``, then subclass ``nn.Module`` (or stack layers in ``nn.Sequential``).
"""

from . import init
from .attention import MultiheadAttention
from .clip_grad import clip_grad_norm_
from .conv import Conv2d, MaxPool2d
from .embedding import Embedding
from .layers import GELU, Dropout, Flatten, Identity, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential, StateDictError
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm

# recurrent layers (issue 21, branch recurrent)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "GELU",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "Module",
    "ModuleDict",
    "ModuleList",
    "MultiheadAttention",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "StateDictError",
    "Tanh",
    "clip_grad_norm_",
    "init",
]

# recurrent layers (issue 21, branch recurrent)
__all__ += ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]
