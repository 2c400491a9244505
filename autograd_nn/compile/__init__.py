"""``ag.compile``: trace a function once per input signature, plan its buffers, then replay it.

A signature is the shapes, dtypes and ``requires_grad`` of the Tensor and ndarray arguments, and
every other argument by value; the cache keeps the ``cache_size`` most recently used. The first call
for a signature builds its program in stages, each in its own module:

1. ``tape``: ``fn`` runs eagerly while every op it applies is appended to a tape; float ndarray
   arguments reach it as Tensors, integer ones as views that mark what NumPy derives from them.
2. ``trace``: the tape becomes the graph form (``graph``): numbered values, leaves held by identity
   (their ``.data`` read again at every call), and the nodes the result depends on; whatever a
   replay would freeze is refused here.
3. ``fuse``: three patterns run as one op each: ``x @ w.T``, a layer ``x @ w.T + b``, ``(x**2).sum()``.
4. ``backward``: the nodes become one straight-line list of steps: the forward, then the VJPs of the
   ops between the leaves needing a gradient and the result, and the sums of fan-out gradients;
   each step says how its op runs.
5. ``plan``: every written-into value gets a buffer, shared among values whose lifetimes do not
   overlap (a linear scan, as a register allocator does).
6. ``codegen``: the steps as straight-line Python (``CompiledFunction.source()``).
7. ``runtime``: later calls replay it; the result's node runs the planned backward.

The second call runs ``fn`` eagerly once more and compares it with the trace, and ``check=True``
compares the next replays with eager runs (``check``).

What cannot be captured (as with jax.jit and tinygrad's TinyJit): Python control flow that depends
on tensor values, values read with ``.item()``/``.data``/NumPy outside the ops, and any other side
effect of ``fn`` are frozen at trace time; the second-call check catches a frozen value that
changes, and ``check=True`` catches a branch taken differently later. A leaf whose ``.data`` changed
shape, dtype or ``requires_grad`` since the trace, or a new signature, traces again. Under
``detect_anomaly`` and inside another trace, the function runs eagerly. Dropout is refused (a
replay would reuse one mask); BatchNorm's running statistics update once per replay, as in eager
mode, and ``check=True`` refuses them (each checked call would update them twice).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from ..grad_mode import STATE
from ..tensor import Tensor
from .check import CHECKED_CALLS, refuse_state_updates_under_check
from .runtime import CompiledCall, Program
from .tape import run_on_tape

__all__ = ["CompiledCall", "CompiledFunction", "compile"]


def compile(fn: Callable | None = None, *, check: bool = False, cache_size: int = 8):
    """``fn`` as a ``CompiledFunction``: traced once per input signature, then replayed into reused buffers.

    Use it as ``step = ag.compile(fn)``, ``@ag.compile`` or ``@ag.compile(check=True)``. ``fn`` returns
    one Tensor; see this module's docstring for what is captured and what is frozen at trace time.
    """
    if fn is None:
        return functools.partial(compile, check=check, cache_size=cache_size)
    return CompiledFunction(fn, check=check, cache_size=cache_size)


class CompiledFunction:
    """A function traced per input signature and replayed; ``traces`` and ``replays`` count the calls."""

    def __init__(self, fn: Callable, *, check: bool = False, cache_size: int = 8) -> None:
        if not callable(fn):
            raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
        if cache_size < 1:
            raise ValueError(f"compile: cache_size must be at least 1, got {cache_size}")
        self.fn, self.check, self.cache_size = fn, check, cache_size
        self.traces = self.replays = 0
        self._programs: OrderedDict[tuple, Program] = OrderedDict()
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<compiled {_name_of(self.fn)}: {len(self._programs)} signature(s) cached>"

    def __get__(self, instance, owner=None):
        """As a method decorator: the instance is one more argument, keyed by identity."""
        return self if instance is None else functools.partial(self, instance)

    def source(self) -> str:
        """The straight-line Python each cached program runs (forward, checked forward, backward)."""
        return "\n\n".join(program.source for program in self._programs.values())

    def __call__(self, *args, **kwargs) -> Tensor:
        if STATE.tape is not None or STATE.anomaly:  # inside another trace, or hunting NaNs: run as written
            return self.fn(*args, **kwargs)
        if kwargs:
            names = tuple(sorted(kwargs))
            arguments = (*args, *(kwargs[k] for k in names))
        else:
            names, arguments = (), args
        key = (
            names,
            *[  # (the common case inline: an array)
                ("array", a.shape, a.dtype, a.strides) if type(a) is np.ndarray else _describe(a, i)
                for i, a in enumerate(arguments)
            ],
        )
        program = self._programs.get(key)
        if program is not None:
            if len(self._programs) > 1:  # (least recently used goes first when the cache is full)
                self._programs.move_to_end(key)
            if program.confirmed:
                check = self.check and program.replays < CHECKED_CALLS
                result = program.replay(args, kwargs, arguments, check, self.fn)
                if result is not None:
                    self.replays += 1
                    return result
            elif program.fits():  # the second call runs eagerly and is compared with the trace
                return program.confirm(self.fn, args, kwargs)
            del self._programs[key]  # a leaf changed shape, dtype or requires_grad: trace again
        result, program = self._trace(args, kwargs, arguments)
        self._programs[key] = program
        if len(self._programs) > self.cache_size:
            self._programs.popitem(last=False)
        self.traces += 1
        return result

    def _trace(self, args, kwargs, given: tuple) -> tuple[Tensor, Program]:
        result, tape, arguments, outside = run_on_tape(self.fn, args, kwargs)
        if not isinstance(result, Tensor):
            raise TypeError(
                f"compile: {_name_of(self.fn)} must return one Tensor, got {type(result).__name__}"
            )
        wrapped = {id(a): a is not g for a, g in zip(arguments, given, strict=True)}
        if self.check:
            refuse_state_updates_under_check(tape, _name_of(self.fn))
        program = Program(tape, result, arguments, _name_of(self.fn), wrapped, outside)
        return program.as_eager_gives(result), program


def _name_of(fn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _describe(value, index: int):
    """The part of the cache key that argument ``index`` decides."""
    if type(value) is np.ndarray:  # strides too: whether a reshape gives a view depends on them
        return ("array", value.shape, value.dtype, value.strides)
    if isinstance(value, Tensor):
        data = value.data
        return ("tensor", data.shape, data.dtype, data.strides, value.requires_grad)
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype, value.strides)
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"compile: argument {index} is a {type(value).__name__}, which is neither a Tensor, an ndarray "
            "nor a hashable value (numbers, strings, tuples) the cache could key on; pass it as an array"
        ) from None
    return ("value", type(value), value)
