"""Training the tutorial's network: the library's loop (``autograd_nn.training``) with the sigmoid
``Network`` as its default model, built after a memory check from ``TrainConfig``'s ``hidden``, ``seed``,
``dtype`` and ``scale_inputs``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import AutogradError
from ..nn import Module
from ..training import loop
from ..training.loop import Loss, TrainConfig, TrainResult
from .data import Dataset
from .network import Network, input_scale_for, memory_needed

OPTIMIZER_SLOTS = {"gd": 0, "momentum": 1, "adam": 2}  # state arrays an optimizer keeps per parameter


class TooLargeError(AutogradError, MemoryError):
    """A network or step that would need more memory than the machine has available."""


def available_memory() -> int | None:
    """Bytes of memory this process could still get (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(sizes: Sequence[int], rows: int, dtype="float64", optimizer_slots: int = 2) -> int:
    """Raise ``TooLargeError`` before allocating anything if training the network with these layer
    sizes on ``rows`` examples at a time would need more memory than is available; else the estimate."""
    needed = memory_needed(sizes, rows, dtype, optimizer_slots)
    available = available_memory()
    if available is not None and needed > available:
        shape = "-".join(str(s) for s in sizes)
        raise TooLargeError(
            f"a {shape} network would need about {_size(needed)} of memory for its parameters and one "
            f"step, but only {_size(available)} is available"
        )
    return needed


def _size(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def tutorial_network(train_set: Dataset, config: TrainConfig) -> Network:
    """The sigmoid ``Network`` of ``config.hidden`` layers for this training part, after checking that
    training it fits in memory: seeded by ``config.seed``, in ``config.dtype``, dividing its inputs by
    the training part's largest |value| when ``config.scale_inputs``."""
    sizes = [train_set.n, *config.hidden, train_set.num_labels]
    dtype = np.dtype(config.dtype)
    check_memory(sizes, train_set.m, dtype, OPTIMIZER_SLOTS.get(config.optimizer, 2))
    scale = input_scale_for(train_set.X) if config.scale_inputs else 1.0
    return Network(sizes, seed=config.seed, dtype=dtype, input_scale=scale)


def train_network(
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    model: Module | None = None,
    loss: Loss | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> TrainResult:
    """``autograd_nn.training.train_network`` with the tutorial's ``Network`` as the model when none is
    given (``tutorial_network``: may raise ``TooLargeError``); every argument means what it means there."""
    config = config or TrainConfig()
    # warnings.warn's stacklevel reaches past this function too, to the line that called it
    warn = on_warning or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=4))
    return loop.train_network(
        dataset,
        config,
        model=model if model is not None else lambda train_set: tutorial_network(train_set, config),
        loss=loss,
        progress=progress,
        on_epoch=on_epoch,
        on_warning=warn,
    )
