"""Networks as forward code: ``Module`` and ``Parameter``, containers, layers, initialisations.

``from autograd_nn import nn``, then subclass ``nn.Module`` (or stack layers in ``nn.Sequential``).
"""

from . import init
from .clip_grad import clip_grad_norm_
from .conv import Conv2d, MaxPool2d
from .layers import Dropout, Flatten, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from .module import Module, ModuleList, Parameter, Sequential, StateDictError

# recurrent layers (issue 21, branch recurrent)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "Conv2d",
    "Dropout",
    "Flatten",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "Module",
    "ModuleList",
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
