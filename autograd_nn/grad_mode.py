"""What the engine records, and how: ``no_grad``, ``enable_grad``, ``detect_anomaly``, ``name_scope``,
``keep_values``."""

from __future__ import annotations

import threading
from contextlib import ContextDecorator
from typing import NamedTuple

import numpy as np


class _Mode(threading.local):
    """The recording switches every operation reads; one instance, ``STATE``, with its own values in
    each thread (a ``no_grad`` block or a backward pass in one thread never changes another's)."""

    # __init__ runs once in every thread that reads STATE. No __slots__: they would be shared by threads.
    def __init__(self) -> None:
        self.enabled = True  # record operations for backward
        self.anomaly = False  # check every output and gradient for NaN/Inf
        self.scope: str | None = None  # "layer1" or "net/layer1" inside name_scope blocks
        self.keep_values = False  # nodes keep their output's values (or a summary) for drawings
        self.modules: list = []  # the nn.Modules whose forward is running, innermost last (their scopes)
        self.tape: list | None = None  # while ag.compile traces: every applied op, recorded or not


STATE = _Mode()


def is_grad_enabled() -> bool:
    """True when operations are being recorded for backward."""
    return STATE.enabled


class _SetGradEnabled(ContextDecorator):
    _value = True

    def __new__(cls, function=None):
        """``@no_grad`` without parentheses decorates ``function`` directly."""
        mode = super().__new__(cls)
        if function is None:
            return mode
        if not callable(function):
            raise TypeError(f"{cls.__name__}: takes no arguments, or decorates a function; got {function!r}")
        mode.__init__()
        return mode(function)

    def __init__(self) -> None:
        self._saved: list[bool] = []  # a stack: the same instance may be entered again while active

    def _recreate_cm(self) -> _SetGradEnabled:
        # Each call of a decorated function gets its own instance: calls in several threads, or
        # recursive ones, never share what they saved.
        return type(self)()

    def __enter__(self) -> None:
        self._saved.append(STATE.enabled)
        STATE.enabled = self._value

    def __exit__(self, *exc: object) -> None:
        STATE.enabled = self._saved.pop()


class no_grad(_SetGradEnabled):
    """Inside this block (or decorated function) nothing is recorded; results never require grad."""

    _value = False


class enable_grad(_SetGradEnabled):
    """Turn recording back on inside a ``no_grad`` block."""

    _value = True


class detect_anomaly(ContextDecorator):
    """Raise ``AnomalyError`` naming the first op whose output or gradient holds NaN or Inf.

    Slower (every array is checked), so it is meant for hunting a bad value, not for training.
    """

    def __init__(self) -> None:
        self._saved: list[bool] = []  # a stack: the same instance may be entered again while active

    def _recreate_cm(self) -> detect_anomaly:
        return type(self)()  # one instance per call of a decorated function (threads, recursion)

    def __enter__(self) -> None:
        self._saved.append(STATE.anomaly)
        STATE.anomaly = True

    def __exit__(self, *exc: object) -> None:
        STATE.anomaly = self._saved.pop()


class name_scope(ContextDecorator):
    """Tag the tensors and ops created inside with a scope name; drawings group them into a cluster.

    Scopes nest: ``name_scope("net")`` around ``name_scope("layer1")`` gives ``"net/layer1"``.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"name_scope: the name must be a non-empty string without '/', got {name!r}")
        self.name = name
        self._saved: list[str | None] = []  # a stack: the same instance may be entered again while active

    def _recreate_cm(self) -> name_scope:
        return type(self)(self.name)  # one instance per call of a decorated function (threads, recursion)

    def __enter__(self) -> str:
        previous = STATE.scope
        self._saved.append(previous)
        STATE.scope = self.name if previous is None else f"{previous}/{self.name}"
        return STATE.scope

    def __exit__(self, *exc: object) -> None:
        STATE.scope = self._saved.pop()


class keep_values(ContextDecorator):
    """Nodes recorded inside keep what drawings show: their output's values (a copy when it has at most
    ``KEPT_SIZE`` elements, else ``ValueSummary``) and the line of user code that created them.

    Off by default: the engine otherwise frees intermediates nobody holds, and keeps nothing extra.
    """

    def __init__(self) -> None:
        self._saved: list[bool] = []  # a stack: the same instance may be entered again while active

    def __enter__(self) -> None:
        self._saved.append(STATE.keep_values)
        STATE.keep_values = True

    def __exit__(self, *exc: object) -> None:
        STATE.keep_values = self._saved.pop()


KEPT_SIZE = 1024  # outputs with at most this many elements are kept whole under keep_values


class ValueSummary(NamedTuple):
    """What ``keep_values`` keeps of a bigger output: its mean, min and max."""

    mean: float
    min: float
    max: float


def kept_values(out: np.ndarray) -> np.ndarray | ValueSummary:
    """What a node recorded under ``keep_values`` keeps of its output ``out``."""
    if out.size <= KEPT_SIZE:
        return out.copy()  # a copy: a later in-place change to the output must not rewrite history
    return ValueSummary(float(out.mean()), float(out.min()), float(out.max()))
