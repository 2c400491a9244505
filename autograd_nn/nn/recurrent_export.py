"""Recording a recurrent layer whole: while ONNX export traces a forward, each direction of each RNN/GRU/LSTM
layer becomes one ``RecurrentLayer`` op over the whole sequence instead of its unrolled steps.

An unrolled graph has one node per time step, so its size (and the exported file) is fixed by the traced
sequence length; one op per direction keeps the graph the same for any length, and the exporter writes it as
ONNX's RNN/GRU/LSTM or a Scan loop. Outside ``recording_whole_layers`` nothing changes: the layers run and
record their steps as before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .. import ops
from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor, apply, grad
from .recurrent_steps import run_direction


class _Recording(threading.local):
    def __init__(self) -> None:
        self.depth = 0


_RECORDING = _Recording()


@contextmanager
def recording_whole_layers() -> Iterator[None]:
    """Inside this block (in this thread), a recurrent layer records one ``RecurrentLayer`` op per direction
    of each layer instead of its time steps."""
    _RECORDING.depth += 1
    try:
        yield
    finally:
        _RECORDING.depth -= 1


def is_recording() -> bool:
    """Whether recurrent layers record themselves whole (inside ``recording_whole_layers``)."""
    return _RECORDING.depth > 0


class RecurrentLayer(ops.Op):
    """One direction of one recurrent layer over a whole sequence, computed as the layer computes it eagerly.

    Inputs: x (T, N, I) (or (N, T, I) with ``time_axis`` 1), w_ih, w_hh, then b_ih and b_hh with ``has_bias``,
    then the initial h (N, H) and, for an LSTM, c, with ``has_state``. Output: the final h, for an LSTM the
    final c, then the T per-step outputs, side by side along the time axis: (1 or 2) + T positions of (N, H).
    """

    __slots__ = ("has_bias", "has_state", "hidden_size", "kind", "nonlinearity", "reverse", "time_axis")
    name = "recurrent_layer"

    def __init__(
        self,
        kind: str,
        hidden_size: int,
        time_axis: int,
        reverse: bool,
        nonlinearity: str,
        has_bias: bool,
        has_state: bool,
    ) -> None:
        self.kind, self.hidden_size, self.time_axis, self.reverse = kind, hidden_size, time_axis, reverse
        self.nonlinearity, self.has_bias, self.has_state = nonlinearity, has_bias, has_state

    @property
    def finals(self) -> int:
        """How many final states lead the output along the time axis: h, and c for an LSTM."""
        return 2 if self.kind == "LSTM" else 1

    def details(self) -> str:
        direction = "reverse" if self.reverse else "forward"
        activation = f", {self.nonlinearity}" if self.kind == "RNN" else ""
        return f"{self.kind}, {direction}{activation}"

    def _compute(self, inputs) -> Tensor:
        """The eager layer's computation (``recurrent_steps.run_direction``) on Tensors, packed as the
        output."""
        x, w_ih, w_hh, *rest = inputs
        b_ih, b_hh = (rest.pop(0), rest.pop(0)) if self.has_bias else (None, None)
        state = None
        if self.has_state:
            state = (rest[0], rest[1]) if self.kind == "LSTM" else rest[0]
        output, final = run_direction(
            self.kind, x, (w_ih, w_hh, b_ih, b_hh), state, self.time_axis, self.reverse, self.nonlinearity
        )
        finals = list(final) if self.kind == "LSTM" else [final]
        axis = self.time_axis
        return ops.concatenate([*(ops.expand_dims(f, axis) for f in finals), output], axis=axis)

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        with no_grad():
            return self._compute([Tensor(a) for a in xs]).data

    def vjp(self, g, out, *xs) -> tuple:
        """By recomputing the layer's steps with recording on and running backward through them."""
        recorded = not isinstance(g, np.ndarray)
        with enable_grad():
            # under create_graph the gradients are recorded in terms of the inputs themselves
            leaves = list(xs) if recorded else [Tensor(x, requires_grad=True) for x in xs]
            wanted = [i for i, need in enumerate(self.needs_grad) if need and leaves[i].requires_grad]
            found = grad(
                self._compute(leaves),
                [leaves[i] for i in wanted],
                g,
                create_graph=recorded,
                allow_unused=True,
            )
        grads = [None] * len(xs)
        for i, value in zip(wanted, found, strict=True):
            grads[i] = value
        return tuple(grads)


def record_direction(
    kind: str, x: Tensor, weights, state, time_axis: int, reverse: bool, nonlinearity: str
) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """As ``recurrent_steps.run_direction`` (its outputs stacked along ``time_axis``, its final state),
    recorded as one ``RecurrentLayer`` op and the slices of its output."""
    w_ih, w_hh, b_ih, b_hh = weights
    inputs = [x, w_ih, w_hh]
    if b_ih is not None:
        inputs += [b_ih, b_hh]
    if state is not None:
        inputs += list(state) if kind == "LSTM" else [state]
    op = RecurrentLayer(
        kind, w_hh.shape[1], time_axis, reverse, nonlinearity, b_ih is not None, state is not None
    )
    packed = apply(op, *inputs)

    def position(index):
        return packed[:, index] if time_axis else packed[index]

    finals = [position(k) for k in range(op.finals)]
    return position(slice(op.finals, None)), (tuple(finals) if kind == "LSTM" else finals[0])
