"""The tutorial's digits network, written only as forward code: parameters, forward pass, cost.

Layer l computes ``z = a @ theta_l.T + b_l`` and ``a = sigmoid(z)``; the cost is the tutorial's
cross-entropy summed over classes and averaged over examples, plus ``lam/(2m) * sum(theta**2)``
(biases excluded). No gradient is written here: ``cost(...).backward()`` derives them all. The
hand-derived backprop of the same network lives in ``reference.py``, as the oracle for tests.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import AutogradError
from ..files import write_atomically
from ..grad_mode import name_scope, no_grad
from ..ops import binary_cross_entropy_with_logits
from ..tensor import Tensor


class WeightsFileError(AutogradError, ValueError):
    """A weights file that is missing, unreadable or does not describe a network."""


def init_epsilon(fan_in: int, fan_out: int) -> float:
    """Half-width of the uniform initialisation: sqrt(6) / sqrt(L_in + L_out).

    (The tutorial's code writes ``6**1/2``, which Python reads as (6**1)/2 = 3, not sqrt(6).)
    """
    return float(np.sqrt(6.0) / np.sqrt(fan_in + fan_out))


def input_scale_for(X: np.ndarray) -> float:
    """The ``input_scale`` that puts X in [-1, 1]: its largest |value| (1 for an empty or all-zero X)."""
    largest = float(np.max(np.abs(X))) if np.size(X) else 0.0
    return largest if largest > 0 else 1.0


def labels_from_scores(scores: np.ndarray) -> np.ndarray:
    """Predicted labels 1..K: the argmax of each row of outputs (or logits: sigmoid keeps the order)."""
    return np.argmax(scores, axis=1) + 1


class Network:
    """A fully connected sigmoid network, e.g. sizes ``[400, 25, 10]`` as in the tutorial.

    ``params`` is ``[(theta1, b1), (theta2, b2), ...]``: ``theta_l`` has shape (units out, units in)
    and ``b_l`` (units out,), each a Tensor with ``requires_grad=True`` and its tutorial name.
    """

    def __init__(
        self, sizes: Sequence[int], seed: int = 0, dtype=np.float64, input_scale: float = 1.0
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"Network: sizes must be at least two positive layer sizes, got {sizes}")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"Network: dtype must be float32 or float64, got {np.dtype(dtype)}")
        if not np.isfinite(input_scale) or input_scale <= 0:
            raise ValueError(f"Network: input_scale must be a positive number, got {input_scale}")
        self.sizes = sizes
        self.input_scale = float(input_scale)  # inputs are divided by this before the first layer
        rng = np.random.default_rng(seed)
        self.params: list[tuple[Tensor, Tensor]] = []
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
            eps = init_epsilon(fan_in, fan_out)
            theta = rng.uniform(-eps, eps, size=(fan_out, fan_in)).astype(dtype)
            bias = rng.uniform(-eps, eps, size=fan_out).astype(dtype)
            with name_scope(f"layer{layer}"):  # so a drawing puts each layer's parameters in its frame
                self.params.append(
                    (
                        Tensor(theta, requires_grad=True, name=f"theta{layer}"),
                        Tensor(bias, requires_grad=True, name=f"b{layer}"),
                    )
                )

    @property
    def parameters(self) -> list[Tensor]:
        """All parameters in order theta1, b1, theta2, b2, ... (what an optimizer updates)."""
        return [p for pair in self.params for p in pair]

    @property
    def dtype(self) -> np.dtype:
        return self.params[0][0].dtype

    def arrays(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The parameters as plain arrays, in the structure ``reference.py`` takes."""
        return [(theta.data, bias.data) for theta, bias in self.params]

    def _check_inputs(self, X) -> Tensor:
        """X as a constant Tensor of the network's dtype, divided by ``input_scale`` (not recorded).

        A Tensor X that requires grad stays in the graph, its scaling recorded, so the forward can
        be traced from its input (``export_onnx``) or differentiated with respect to it.
        """
        tracked = isinstance(X, Tensor) and X.requires_grad
        X = X if tracked else np.asarray(X.data if isinstance(X, Tensor) else X)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(
                f"Network: inputs of shape {X.shape} do not fit a network with {self.sizes[0]} inputs; "
                f"expected (examples, {self.sizes[0]})"
            )
        if tracked:
            if X.dtype != self.dtype:
                raise ValueError(f"Network: inputs of dtype {X.dtype} given to a {self.dtype} network")
            return X / self.input_scale if self.input_scale != 1.0 else X
        X = X.astype(self.dtype, copy=False)
        if self.input_scale != 1.0:
            X = X / np.asarray(self.input_scale, dtype=self.dtype)
        return Tensor(X, name="X")

    def logits(self, X) -> Tensor:
        """The output layer's z: every layer's ``a @ theta.T + b``, with sigmoids in between."""
        a = self._check_inputs(X)
        last = len(self.params)
        for layer, (theta, bias) in enumerate(self.params, start=1):
            with name_scope(f"layer{layer}"):
                z = a @ theta.T + bias
                z.name = f"z{layer + 1}"  # the tutorial's numbering: theta1 maps a1 = X to z2
                if layer < last:
                    a = z.sigmoid()
                    a.name = f"a{layer + 1}"
        return z

    def forward(self, X) -> Tensor:
        """The network's output ``h = sigmoid(z_out)``, one row of class scores in (0, 1) per example."""
        return self.logits(X).sigmoid()

    __call__ = forward

    def cost(self, X, Y, lam: float = 0.0, num_examples: int | None = None) -> Tensor:
        """The tutorial's cost J: cross-entropy summed over classes, averaged over the m examples,
        plus ``lam/(2m)`` times the sum of squared thetas. Computed from the logits, so it stays
        finite however saturated the sigmoid is.

        ``num_examples`` is the m of the regularization term (default: the rows of X). A
        mini-batch passes the training set's size, so every batch estimates the same objective.
        """
        return self.cost_from_logits(self.logits(X), Y, lam, num_examples)

    def cost_from_logits(self, z: Tensor, Y, lam: float = 0.0, num_examples: int | None = None) -> Tensor:
        """``cost`` given the output logits ``z = logits(X)``, for callers that also need z."""
        m = z.shape[0]
        m_reg = m if num_examples is None else num_examples
        Y = Y if isinstance(Y, Tensor) else Tensor(np.asarray(Y, dtype=self.dtype), name="y")
        if Y.shape != z.shape:
            raise ValueError(f"cost: targets of shape {Y.shape} do not match the outputs' shape {z.shape}")
        with name_scope("cost"):
            J = binary_cross_entropy_with_logits(z, Y, reduction="sum") / m
            if lam:
                squares = [(theta**2).sum() for theta, _ in self.params]
                J = J + (lam / (2 * m_reg)) * sum(squares[1:], squares[0])
        J.name = "J"
        return J

    def predict(self, X) -> np.ndarray:
        """Predicted labels 1..K (argmax of the output; label K is digit 0 in the tutorial's data)."""
        with no_grad():
            return labels_from_scores(self.logits(X).data)

    def accuracy(self, X, y) -> float:
        """Fraction of examples whose argmax prediction equals the true label."""
        y = np.asarray(y)
        return float(np.mean(self.predict(X) == y)) if y.size else float("nan")

    # ------------------------------------------------------------ saving and loading (no pickle)
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the parameters to an ``.npz`` file atomically; refuse to replace one unless asked."""
        arrays = {
            "sizes": np.asarray(self.sizes, dtype=np.int64),
            "input_scale": np.asarray(self.input_scale, dtype=np.float64),
        }
        for theta, bias in self.params:
            arrays[theta.name] = theta.data
            arrays[bias.name] = bias.data
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return write_atomically(path, buffer.getvalue(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Network:
        """Read a network written by ``save`` (``allow_pickle=False``: loading runs no code)."""
        path = Path(path)
        if not path.is_file():
            raise WeightsFileError(f"{path}: no such weights file")
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
        except (OSError, ValueError) as error:
            raise WeightsFileError(f"{path}: not a weights file written by autograd-nn ({error})") from None
        if "sizes" not in arrays:
            raise WeightsFileError(
                f"{path}: the file has no 'sizes' entry, so it is not an autograd-nn network"
            )
        sizes = [int(s) for s in np.asarray(arrays["sizes"]).ravel()]
        first = arrays.get("theta1")
        dtype = np.float32 if first is not None and first.dtype == np.float32 else np.float64
        scale = float(arrays["input_scale"]) if "input_scale" in arrays else 1.0
        try:
            network = cls(sizes, dtype=dtype, input_scale=scale)
        except ValueError as error:
            raise WeightsFileError(f"{path}: {error}") from None
        for theta, bias in network.params:
            for tensor in (theta, bias):
                stored = arrays.get(tensor.name)
                if stored is None:
                    raise WeightsFileError(f"{path}: missing the array {tensor.name!r} for sizes {sizes}")
                if stored.shape != tensor.shape:
                    raise WeightsFileError(
                        f"{path}: {tensor.name} has shape {stored.shape}, but sizes {sizes} need {tensor.shape}"
                    )
                tensor.data = np.array(stored, dtype=tensor.dtype)
        return network
