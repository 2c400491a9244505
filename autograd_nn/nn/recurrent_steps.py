"""One time step of each recurrent kind, and one direction of a layer run over a whole sequence.

The step functions are the mathematics of ``nn.recurrent``'s cells (its docstring has the formulas); the
layers run them through ``run_direction``, and so does the whole-layer op of ``recurrent_export``, so both
compute exactly the same steps.
"""

from __future__ import annotations

import math

from .. import ops
from ..tensor import Tensor


def _nonlinearity(name: str, where: str):
    if name == "tanh":
        return ops.tanh
    if name == "relu":
        return ops.relu
    raise ValueError(f"{where}: nonlinearity must be 'tanh' or 'relu', got {name!r}")


# ---------------------------------------------------------------- one time step of each kind
# ``xw``: the input's part of every gate, x @ W_ih.T + b_ih, of shape (N, gates * H). ``hidden``: the
# previous state (h, or (h, c) for an LSTM), None for a zero state. ``w_hh``, ``b_hh``: the hidden weights.


def _hidden_part(h, w_hh, b_hh):
    """h @ W_hh.T + b_hh for all the gates at once; for a zero state just b_hh (or nothing)."""
    if h is None:
        return b_hh
    part = h @ w_hh.T
    return part if b_hh is None else part + b_hh


def _rnn_step(xw, hidden, w_hh, b_hh, size: int, activation):
    hw = _hidden_part(hidden, w_hh, b_hh)
    return activation(xw if hw is None else xw + hw)


def _lstm_step(xw, hidden, w_hh, b_hh, size: int, activation=None):
    h, c = (None, None) if hidden is None else hidden
    hw = _hidden_part(h, w_hh, b_hh)
    gates = xw if hw is None else xw + hw
    squashed = ops.sigmoid(gates)  # all four, though g's is unused: one call instead of three
    i, f, o = squashed[:, :size], squashed[:, size : 2 * size], squashed[:, 3 * size :]
    g = ops.tanh(gates[:, 2 * size : 3 * size])
    c = i * g if c is None else f * c + i * g
    return o * ops.tanh(c), c


def _gru_step(xw, hidden, w_hh, b_hh, size: int, activation=None):
    hw = _hidden_part(hidden, w_hh, b_hh)
    if hw is None:  # no bias and a zero state: the hidden part of every gate is 0
        rz = ops.sigmoid(xw[:, : 2 * size])
        n = ops.tanh(xw[:, 2 * size :])
    else:
        rz = ops.sigmoid(xw[:, : 2 * size] + hw[..., : 2 * size])
        n = ops.tanh(xw[:, 2 * size :] + rz[:, :size] * hw[..., 2 * size :])
    z = rz[:, size:]
    return (1 - z) * n if hidden is None else (1 - z) * n + z * hidden


_STEPS = {"RNN": _rnn_step, "GRU": _gru_step, "LSTM": _lstm_step}


def _time_steps(xw: Tensor, axis: int) -> list[Tensor]:
    """``xw``'s slices along its time ``axis``, one per step, taken in two levels: blocks of about sqrt(T)
    steps, then the steps of each block. Backward writes each slice's gradient into zeros the size of what
    it was cut from, so this costs about 2 sqrt(T) whole arrays instead of T (T slices of the whole)."""
    steps = xw.shape[axis]
    block = math.isqrt(steps)

    def cut(v: Tensor, index):
        return v[:, index] if axis else v[index]

    if block < 2:
        return [cut(xw, t) for t in range(steps)]
    pieces = []
    for start in range(0, steps, block):
        chunk = cut(xw, slice(start, start + block))
        pieces.extend(cut(chunk, k) for k in range(chunk.shape[axis]))
    return pieces


def run_direction(kind: str, x: Tensor, weights, state, time_axis: int, reverse: bool, nonlinearity: str):
    """One direction of one layer over the whole sequence ``x``: (its outputs stacked along ``time_axis``,
    its final state). ``weights``: (w_ih, w_hh, b_ih, b_hh), biases None without bias; ``state`` h, (h, c)
    for an LSTM, or None for zeros."""
    w_ih, w_hh, b_ih, b_hh = weights
    xw = x @ w_ih.T  # every time step's input part of every gate, in one matmul
    if b_ih is not None:
        xw = xw + b_ih
    step, size = _STEPS[kind], w_hh.shape[1]
    activation = _nonlinearity(nonlinearity, kind) if kind == "RNN" else None
    inputs = _time_steps(xw, time_axis)
    outputs = [None] * len(inputs)
    for t in reversed(range(len(inputs))) if reverse else range(len(inputs)):
        state = step(inputs[t], state, w_hh, b_hh, size, activation)
        outputs[t] = state[0] if kind == "LSTM" else state
    return ops.stack(outputs, axis=time_axis), state
