"""The tutorial's digits network, written only as forward code: parameters, forward pass, cost.

Layer l computes ``z = a @ theta_l.T + b_l`` and ``a = sigmoid(z)``; the cost is the tutorial's
cross-entropy summed over classes and averaged over examples, plus ``lam/(2m) * sum(theta**2)``
(biases excluded). No gradient is written here: ``cost(...).backward()`` derives them all. The
hand-derived backprop of the same network lives in ``reference.py``, as the oracle for tests.

``Network`` is an ``nn.Module`` whose Parameters carry the tutorial's names (theta1, b1, theta2, ...), so
``parameters()``, ``state_dict()`` and the training loop (``autograd_nn.training``) treat it like any other
model; it tells the loop its logits, its numbering of classes and its facts for a run folder through the
loop's optional methods, and keeps its own ``.npz`` format (the sizes and input scale beside the arrays). Loading follows PyTorch's rule, as
``Module.load`` does: ``net.load(path)`` fills ``net`` in place and returns it; ``Network.from_file(path)``
builds a new network from the sizes the file records.
"""

from __future__ import annotations

import itertools
import os
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import AutogradError
from ..files import read_arrays, write_arrays
from ..grad_mode import name_scope, no_grad
from ..nn import Module, Parameter
from ..ops import binary_cross_entropy_with_logits
from ..tensor import Tensor
from ..training.cost import l2_penalty
from .classes import classes_from_labels, predicted_labels
from .data import SplitRecord


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


def parameter_count(sizes: Sequence[int]) -> int:
    """How many numbers the thetas and biases of a network with these layer sizes hold."""
    return sum(fan_out * (fan_in + 1) for fan_in, fan_out in itertools.pairwise(sizes))


def memory_needed(sizes: Sequence[int], rows: int, dtype=np.float64, optimizer_slots: int = 2) -> int:
    """A lower estimate, in bytes, of the memory a training step over ``rows`` examples needs.

    Parameters, their gradients, the optimizer's state (``optimizer_slots`` arrays per parameter;
    Adam keeps 2) and a copy of the best parameters, plus the float64 draw that initialises the
    largest theta; and per example each layer's z, activation and their gradients.
    """
    itemsize = np.dtype(dtype).itemsize
    largest = max(fan_out * fan_in for fan_in, fan_out in itertools.pairwise(sizes))
    parameters = parameter_count(sizes) * itemsize * (3 + optimizer_slots) + largest * 8
    activations = rows * sum(sizes) * itemsize * 4
    return parameters + activations


def labels_from_scores(scores: np.ndarray) -> np.ndarray:
    """The tutorial network's predicted labels 1..K: the argmax of each row of outputs, plus one (or of
    logits: sigmoid keeps the order). Other models number their classes otherwise: see classes.py."""
    return predicted_labels(scores, tutorial=True)


class _InPlaceLoad:
    """``net.load(path)`` loads in place (``Network._load_into``); ``Network.load(path)``, the classmethod of
    earlier versions, raises rather than build a network the caller might not keep (use ``from_file``)."""

    def __get__(self, instance, owner):
        if instance is not None:
            return types.MethodType(owner._load_into, instance)

        def on_the_class(*args, **kwargs):
            if args and isinstance(args[0], owner):  # Network.load(net, path): the unbound method
                return owner._load_into(*args, **kwargs)
            raise TypeError(
                f"{owner.__name__}.load loads into an existing network (net.load(path)) and returns it; "
                f"to build a network from a weights file, use {owner.__name__}.from_file(path)"
            )

        return on_the_class


def _read_network_file(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a weights file written by ``Network.save`` (no pickle), or a ``WeightsFileError``."""
    try:
        arrays = read_arrays(path)
    except FileNotFoundError:
        raise WeightsFileError(f"{path}: no such weights file") from None
    except ValueError as error:
        raise WeightsFileError(f"{path}: not a readable weights file ({error})") from None
    if "sizes" not in arrays:
        raise WeightsFileError(
            f"{path}: not a readable weights file (no 'sizes' entry, so not an autograd-nn network)"
        )
    return arrays


class Network(Module):
    """A fully connected sigmoid network, e.g. sizes ``[400, 25, 10]`` as in the tutorial.

    ``params`` is ``[(theta1, b1), (theta2, b2), ...]``: ``theta_l`` has shape (units out, units in)
    and ``b_l`` (units out,), each an ``nn.Parameter`` registered under its tutorial name
    (``network.theta1``), so ``parameters()`` yields theta1, b1, theta2, b2, ...
    """

    def __init__(
        self, sizes: Sequence[int], seed: int = 0, dtype=np.float64, input_scale: float = 1.0
    ) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"Network: sizes must be at least two positive layer sizes, got {sizes}")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"Network: dtype must be float32 or float64, got {np.dtype(dtype)}")
        if not np.isfinite(input_scale) or input_scale <= 0:
            raise ValueError(f"Network: input_scale must be a positive number, got {input_scale}")
        self.sizes = sizes
        self.input_scale = float(input_scale)  # inputs are divided by this before the first layer
        self.split: SplitRecord | None = None  # how the run that trained it split its data, if known
        rng = np.random.default_rng(seed)
        self.params: list[tuple[Parameter, Parameter]] = []
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
            eps = init_epsilon(fan_in, fan_out)
            theta = rng.uniform(-eps, eps, size=(fan_out, fan_in)).astype(dtype)
            bias = rng.uniform(-eps, eps, size=fan_out).astype(dtype)
            with name_scope(f"layer{layer}"):  # so a drawing puts each layer's parameters in its frame
                pair = (Parameter(theta), Parameter(bias))
            setattr(self, f"theta{layer}", pair[0])  # registered, and named after the attribute
            setattr(self, f"b{layer}", pair[1])
            self.params.append(pair)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}" + (
            f", input_scale={self.input_scale:g}" if self.input_scale != 1 else ""
        )

    @property
    def dtype(self) -> np.dtype:
        return self.params[0][0].dtype

    def arrays(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The parameters as plain arrays, in the structure ``reference.py`` takes."""
        return [(theta.data, bias.data) for theta, bias in self.params]

    def _check_inputs(self, X) -> Tensor:
        """X as a Tensor of the network's dtype, divided by ``input_scale`` with a tensor op.

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
        given = X
        if not tracked:
            X = Tensor(X.astype(self.dtype, copy=False))
        elif X.dtype != self.dtype:
            raise ValueError(f"Network: inputs of dtype {X.dtype} given to a {self.dtype} network")
        if (
            self.input_scale != 1.0
        ):  # a tensor op: a compiled step divides each new batch, an export records it
            X = X / np.asarray(self.input_scale, dtype=self.dtype)
        if X is not given:  # (the caller's own tensor keeps its name)
            X.name = "X"
        return X

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
                J = J + l2_penalty(self, lam, m_reg)
        J.name = "J"
        return J

    # ------------------------------------------------------------ what the training loop asks of a model
    def training_logits(self, X) -> Tensor:
        """What the loop trains on: ``logits(X)``, as the output's sigmoid is part of the cost."""
        return self.logits(X)

    def classes_from_labels(self, labels: np.ndarray, num_labels: int) -> np.ndarray:
        """The course's numbering (classes.py): output j stands for label j + 1, so class = label - 1."""
        return classes_from_labels(labels, num_labels, tutorial=True)

    def keep_split(self, split: SplitRecord) -> None:
        """Keep how the training run split its data; ``save`` writes it beside the weights."""
        self.split = split

    def run_facts(self) -> dict:
        """The network's entry in a run's summary.json: its sizes and input scale."""
        return {"sizes": self.sizes, "input_scale": self.input_scale}

    def run_title(self) -> str:
        """How a run's cost curve names the network, e.g. "64-25-10 sigmoid network"."""
        return "-".join(str(s) for s in self.sizes) + " sigmoid network"

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
        """Write the parameters (and ``split``, if known) to an ``.npz`` file atomically; refuse to
        replace a file unless asked. Only plain arrays and strings: loading runs no code."""
        arrays = {
            "sizes": np.asarray(self.sizes, dtype=np.int64),
            "input_scale": np.asarray(self.input_scale, dtype=np.float64),
        }
        if self.split is not None:
            arrays["split_seed"] = np.asarray(self.split.seed, dtype=np.int64)
            arrays["split_holdout"] = np.asarray(self.split.holdout, dtype=np.float64)
            arrays["split_data_sha256"] = np.asarray(self.split.data_sha256)
            arrays["split_data_source"] = np.asarray(self.split.data_source)
        for theta, bias in self.params:
            arrays[theta.name] = theta.data
            arrays[bias.name] = bias.data
        return write_arrays(path, arrays, overwrite=overwrite)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Network:
        """A new network built from a file written by ``save``: the file records its sizes, dtype and input
        scale (``allow_pickle=False``: loading runs no code). ``net.load(path)`` fills an existing one instead.

        Files from before the split was recorded load with ``split = None``. A damaged file, one that
        is not a network, or one holding NaN or infinite parameters raises ``WeightsFileError``.
        """
        path = Path(path)
        arrays = _read_network_file(path)
        try:
            sizes = [int(s) for s in np.asarray(arrays["sizes"]).ravel()]
            first = arrays.get("theta1")
            dtype = np.float32 if first is not None and first.dtype == np.float32 else np.float64
            network = cls(sizes, dtype=dtype)
        except (TypeError, ValueError) as error:
            raise WeightsFileError(f"{path}: not a readable weights file ({error})") from None
        return network._fill_from(arrays, path)

    def _load_into(self, path: str | os.PathLike) -> Network:
        """Load a file written by ``save`` into this network, in place (its sizes must be the file's), and
        return it, as ``Module.load`` does; its dtype stays. The input scale and split come from the file."""
        path = Path(path)
        arrays = _read_network_file(path)
        try:
            sizes = [int(s) for s in np.asarray(arrays["sizes"]).ravel()]
        except (TypeError, ValueError) as error:
            raise WeightsFileError(f"{path}: not a readable weights file ({error})") from None
        if sizes != self.sizes:
            raise WeightsFileError(
                f"{path}: holds a network of sizes {sizes}, but this one has sizes {self.sizes}; "
                "Network.from_file(path) builds a network of the file's sizes"
            )
        return self._fill_from(arrays, path)

    def _fill_from(self, arrays: dict[str, np.ndarray], path: Path) -> Network:
        """Check every array of a weights file against this network, then copy them all in."""
        try:
            scale = float(arrays["input_scale"]) if "input_scale" in arrays else 1.0
            if not np.isfinite(scale) or scale <= 0:
                raise ValueError(f"input_scale must be a positive number, got {scale}")
            split = _split_record(arrays)
        except (TypeError, ValueError) as error:
            raise WeightsFileError(f"{path}: not a readable weights file ({error})") from None
        updates = []
        for theta, bias in self.params:
            for tensor in (theta, bias):
                stored = arrays.get(tensor.name)
                if stored is None:
                    raise WeightsFileError(
                        f"{path}: missing the array {tensor.name!r} for sizes {self.sizes}"
                    )
                if stored.shape != tensor.shape:
                    raise WeightsFileError(
                        f"{path}: {tensor.name} has shape {stored.shape}, but sizes {self.sizes} need {tensor.shape}"
                    )
                if stored.dtype.kind != "f":
                    raise WeightsFileError(f"{path}: {tensor.name} holds {stored.dtype} values, not numbers")
                bad = int(np.count_nonzero(~np.isfinite(stored)))
                if bad:
                    raise WeightsFileError(
                        f"{path}: {tensor.name} holds {bad} NaN or infinite value{'s' if bad > 1 else ''} "
                        f"(of {stored.size}); these weights cannot predict anything"
                    )
                updates.append((tensor, stored))
        for tensor, stored in updates:  # nothing changes until every array has passed
            tensor.data[...] = stored  # in place, in the network's dtype, like Module.load
            if hasattr(tensor, "_version"):
                tensor._version += 1
        self.input_scale, self.split = scale, split
        return self

    load = _InPlaceLoad()  # net.load(path): in place; Network.load(path) on the class says to use from_file


def _split_record(arrays: dict[str, np.ndarray]) -> SplitRecord | None:
    """The split stored by ``Network.save``, or None for a file written before splits were recorded."""
    names = ("split_seed", "split_holdout", "split_data_sha256", "split_data_source")
    if not all(name in arrays for name in names):
        return None
    return SplitRecord(
        seed=int(arrays["split_seed"]),
        holdout=float(arrays["split_holdout"]),
        data_sha256=str(arrays["split_data_sha256"]),
        data_source=str(arrays["split_data_source"]),
    )
