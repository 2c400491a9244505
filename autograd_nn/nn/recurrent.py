"""Recurrent layers: RNN, GRU and LSTM cells and the layers that run them over a sequence, as PyTorch's.

Names, argument order, weight names, shapes and gate order are PyTorch's, so a PyTorch ``state_dict``
loads as is. A cell's weights hold all its gates stacked along the first axis (``weight_ih`` is
(gates * hidden_size, input_size)), in PyTorch's order: LSTM i, f, g, o; GRU r, z, n. With
x the input, h the previous hidden state and W_* / b_* the gate's rows of the weights and biases:

- RNN:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)  (or relu with ``nonlinearity="relu"``)
- LSTM: i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h*), g = tanh(...);  c' = f c + i g,  h' = o tanh(c')
- GRU:  r, z = sigmoid(W_i* x + b_i* + W_h* h + b_h*),  n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
        h' = (1 - z) n + z h

Every weight and bias starts uniform in ±1/sqrt(hidden_size) (PyTorch's default). The layers compute the
input's contribution to every gate of every time step in one matmul before the time loop; each step then
does one matmul for all the gates of the hidden state, and the outputs are stacked once at the end. A
missing initial state is zero, and the first step skips its (zero) hidden-state matmul (which also keeps a
zero array sized from the batch out of an exported graph).

While ``ag.export_onnx`` traces a forward (``recurrent_export.recording_whole_layers``), each direction of each
layer is recorded as one ``RecurrentLayer`` op over the whole sequence, which the exporter writes as ONNX's
RNN/GRU/LSTM or a Scan loop, so the batch and sequence lengths stay symbolic in the file.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..tensor import Tensor
from . import init, recurrent_export
from .layers import _check_dtype, _check_positive
from .module import Module, Parameter
from .recurrent_steps import _STEPS, _nonlinearity, run_direction

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


# ---------------------------------------------------------------- cells


class _CellBase(Module):
    """One step of a recurrence: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,)."""

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, rng=None, dtype=np.float64):
        super().__init__()
        where = type(self).__name__
        self.input_size = _check_positive(input_size, "input_size", where)
        self.hidden_size = _check_positive(hidden_size, "hidden_size", where)
        self.bias = bool(bias)
        dtype = _check_dtype(dtype, where)
        rows = _GATES[self.kind] * self.hidden_size
        rng = init.generator(rng)
        bound = 1.0 / math.sqrt(self.hidden_size)
        self.weight_ih = Parameter(np.empty((rows, self.input_size), dtype=dtype))
        self.weight_hh = Parameter(np.empty((rows, self.hidden_size), dtype=dtype))
        if self.bias:
            self.bias_ih = Parameter(np.empty(rows, dtype=dtype))
            self.bias_hh = Parameter(np.empty(rows, dtype=dtype))
        for parameter in self.parameters():  # in PyTorch's order, so a shared seed draws the same roles
            init.uniform_(parameter, -bound, bound, rng)

    def _activation(self):
        return None

    def _check_input(self, x: Tensor) -> None:
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: input must have shape (batch, {self.input_size}) or "
                f"({self.input_size},), got {x.shape}"
            )

    def _step(self, x, hidden):
        """The cell's step on a batched input (N, I) and a state (or None for zeros)."""
        xw = x @ self.weight_ih.T
        if self.bias:
            xw = xw + self.bias_ih
        b_hh = self.bias_hh if self.bias else None
        return _STEPS[self.kind](xw, hidden, self.weight_hh, b_hh, self.hidden_size, self._activation())

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


def _batched(value, unbatched: bool):
    """A state of an unbatched input, (H,), as a batch of one, (1, H)."""
    if value is None:
        return None
    value = _as_tensor(value)
    return value.reshape(1, -1) if unbatched else value


def _unbatched(value: Tensor, unbatched: bool) -> Tensor:
    return value.reshape(-1) if unbatched else value


class RNNCell(_CellBase):
    """``h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)`` (or relu): ``forward(input, hx=None) -> h'``.

    input (N, input_size) or (input_size,); hx (N, hidden_size) (or (hidden_size,)), zeros if None.
    """

    kind = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        rng=None,
        dtype=np.float64,
    ):
        _nonlinearity(nonlinearity, "RNNCell")
        super().__init__(input_size, hidden_size, bias, rng=rng, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _activation(self):
        return _nonlinearity(self.nonlinearity, type(self).__name__)

    def forward(self, input, hx=None) -> Tensor:
        x = _as_tensor(input)
        self._check_input(x)
        unbatched = x.ndim == 1
        h = self._step(_batched(x, unbatched), _batched(hx, unbatched))
        return _unbatched(h, unbatched)

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + extra


class GRUCell(_CellBase):
    """A GRU step, gates r, z, n in PyTorch's order and formula: ``forward(input, hx=None) -> h'``."""

    kind = "GRU"

    def forward(self, input, hx=None) -> Tensor:
        x = _as_tensor(input)
        self._check_input(x)
        unbatched = x.ndim == 1
        h = self._step(_batched(x, unbatched), _batched(hx, unbatched))
        return _unbatched(h, unbatched)


class LSTMCell(_CellBase):
    """An LSTM step, gates i, f, g, o in PyTorch's order: ``forward(input, hx=None) -> (h', c')``,
    ``hx`` a pair (h, c) or None for zeros."""

    kind = "LSTM"

    def forward(self, input, hx=None) -> tuple[Tensor, Tensor]:
        x = _as_tensor(input)
        self._check_input(x)
        unbatched = x.ndim == 1
        state = None if hx is None else tuple(_batched(v, unbatched) for v in hx)
        h, c = self._step(_batched(x, unbatched), state)
        return _unbatched(h, unbatched), _unbatched(c, unbatched)


# ---------------------------------------------------------------- layers over a sequence


class _RNNBase(Module):
    """A stack of recurrent layers over a sequence, each optionally in both directions."""

    kind = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        nonlinearity: str = "tanh",
        rng=None,
        dtype=np.float64,
    ):
        super().__init__()
        where = type(self).__name__
        self.input_size = _check_positive(input_size, "input_size", where)
        self.hidden_size = _check_positive(hidden_size, "hidden_size", where)
        self.num_layers = _check_positive(num_layers, "num_layers", where)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"{where}: dropout must be in [0, 1), got {dropout!r}")
        self.bidirectional = bool(bidirectional)
        self.nonlinearity = nonlinearity
        self._activation = _nonlinearity(nonlinearity, where) if self.kind == "RNN" else None
        dtype = _check_dtype(dtype, where)
        rng = init.generator(rng)
        rows = _GATES[self.kind] * self.hidden_size
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            inputs = self.input_size if layer == 0 else self.hidden_size * directions
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", Parameter(np.empty((rows, inputs), dtype=dtype)))
                setattr(
                    self, f"weight_hh{suffix}", Parameter(np.empty((rows, self.hidden_size), dtype=dtype))
                )
                if self.bias:
                    setattr(self, f"bias_ih{suffix}", Parameter(np.empty(rows, dtype=dtype)))
                    setattr(self, f"bias_hh{suffix}", Parameter(np.empty(rows, dtype=dtype)))
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():  # PyTorch's order and bound
            init.uniform_(parameter, -bound, bound, rng)
        self.dropout_rng = np.random.default_rng(rng.integers(2**63))  # masks between layers

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"] if self.bidirectional else [f"_l{layer}"]

    def _weights(self, suffix: str):
        w_ih, w_hh = getattr(self, f"weight_ih{suffix}"), getattr(self, f"weight_hh{suffix}")
        if not self.bias:
            return w_ih, w_hh, None, None
        return w_ih, w_hh, getattr(self, f"bias_ih{suffix}"), getattr(self, f"bias_hh{suffix}")

    def _check_input(self, x: Tensor) -> None:
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            order = "(batch, seq, features)" if self.batch_first else "(seq, batch, features)"
            raise ValueError(
                f"{type(self).__name__}: input must be {order} (or (seq, features) unbatched) with "
                f"{self.input_size} features, got shape {x.shape}"
            )
        if x.shape[self._time_axis(x.ndim)] == 0:
            raise ValueError(f"{type(self).__name__}: the input of shape {x.shape} is an empty sequence")

    def _time_axis(self, ndim: int) -> int:
        return 1 if self.batch_first and ndim == 3 else 0

    def _run(self, input, hx):
        """The whole stack: (output, final states), with states (h, c) for an LSTM."""
        x = _as_tensor(input)
        self._check_input(x)
        unbatched = x.ndim == 2
        if unbatched:  # (T, I) as a batch of one, on the batch axis
            x = x.reshape(x.shape[0], 1, x.shape[1])
        time_axis = self._time_axis(x.ndim) if not unbatched else 0
        initial = self._initial_states(hx, unbatched)
        finals_h, finals_c = [], []
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout and self.training:
                x = ops.dropout(x, self.dropout, training=True, rng=self.dropout_rng)
            outputs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                state = None if initial is None else initial[layer * directions + d]
                run = recurrent_export.record_direction if recurrent_export.is_recording() else run_direction
                output, final = run(
                    self.kind, x, self._weights(suffix), state, time_axis, d == 1, self.nonlinearity
                )
                outputs.append(output)
                finals_h.append(final[0] if self.kind == "LSTM" else final)
                if self.kind == "LSTM":
                    finals_c.append(final[1])
            x = outputs[0] if directions == 1 else ops.concatenate(outputs, axis=-1)
        output = x.reshape(x.shape[0], x.shape[2]) if unbatched else x
        h_n = ops.stack(finals_h, axis=0)
        c_n = ops.stack(finals_c, axis=0) if self.kind == "LSTM" else None
        if unbatched:
            h_n = h_n.reshape(h_n.shape[0], h_n.shape[2])
            c_n = None if c_n is None else c_n.reshape(c_n.shape[0], c_n.shape[2])
        return output, (h_n if c_n is None else (h_n, c_n))

    def _initial_states(self, hx, unbatched: bool):
        """Per layer and direction, the initial state (h, or (h, c)), from hx of shape
        (num_layers * directions, N, H); None for zeros."""
        if hx is None:
            return None
        parts = tuple(hx) if self.kind == "LSTM" else (hx,)
        if self.kind == "LSTM" and len(parts) != 2:
            raise ValueError(f"{type(self).__name__}: hx must be a pair (h_0, c_0), got {len(parts)} items")
        count = self.num_layers * (2 if self.bidirectional else 1)
        tensors = []
        for part in parts:
            part = _as_tensor(part)
            if (
                part.ndim != (2 if unbatched else 3)
                or part.shape[0] != count
                or part.shape[-1] != self.hidden_size
            ):
                raise ValueError(
                    f"{type(self).__name__}: an initial state must have shape (num_layers * directions = "
                    f"{count}, {'' if unbatched else 'batch, '}{self.hidden_size}), got {part.shape}"
                )
            tensors.append(part.reshape(count, 1, self.hidden_size) if unbatched else part)
        if self.kind != "LSTM":
            return [tensors[0][k] for k in range(count)]
        return [(tensors[0][k], tensors[1][k]) for k in range(count)]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.kind == "RNN" and self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(_RNNBase):
    """Elman RNN layers over a sequence: ``forward(input, hx=None) -> (output, h_n)``.

    input (T, N, input_size), or (N, T, input_size) with ``batch_first``, or (T, input_size) unbatched;
    output (T, N, D * hidden_size) (D = 2 when bidirectional, the two directions side by side);
    h_n (num_layers * D, N, hidden_size), the last state of each layer and direction; hx likewise.
    """

    kind = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        rng=None,
        dtype=np.float64,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            nonlinearity=nonlinearity,
            rng=rng,
            dtype=dtype,
        )

    def forward(self, input, hx=None) -> tuple[Tensor, Tensor]:
        return self._run(input, hx)


class GRU(_RNNBase):
    """GRU layers over a sequence: ``forward(input, hx=None) -> (output, h_n)``, shapes as ``RNN``'s."""

    kind = "GRU"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        rng=None,
        dtype=np.float64,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            rng=rng,
            dtype=dtype,
        )

    def forward(self, input, hx=None) -> tuple[Tensor, Tensor]:
        return self._run(input, hx)


class LSTM(_RNNBase):
    """LSTM layers over a sequence: ``forward(input, hx=None) -> (output, (h_n, c_n))``, ``hx`` a pair
    (h_0, c_0) or None; shapes as ``RNN``'s."""

    kind = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        rng=None,
        dtype=np.float64,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            rng=rng,
            dtype=dtype,
        )

    def forward(self, input, hx=None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        return self._run(input, hx)
