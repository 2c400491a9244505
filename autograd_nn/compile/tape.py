"""Running ``fn`` on the tape: the eager run every trace, second call and checked call starts from.

The function runs eagerly with recording on while ``tensor.apply`` appends every op to a tape,
recorded or not (``grad_mode.STATE.tape``). Float ndarray arguments reach ``fn`` as Tensors around the
same array (``FloatArgument``), so arithmetic on them is recorded too, and the run notes whether
``fn`` read their values outside the ops. Integer and boolean ndarray arguments (labels, masks) reach
it as a view (``IntegerArgument``) that marks every array NumPy derives from them, so the trace can
recompute an op's index array from each call's argument, or refuse it. Besides the tape, a run
returns what ``fn`` did with its arguments outside the ops (``Outside``).
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from ..grad_mode import STATE
from ..tensor import Tensor


def traceable(value):
    """An ndarray argument as the traced function gets it: a float array as a Tensor around the same
    array (so arithmetic on it is recorded), an integer or boolean one as a view that marks what NumPy
    derives from it (labels reshaped, sliced or converted before a loss); anything else as it is."""
    if type(value) is np.ndarray:
        if value.dtype.kind == "f":
            argument = FloatArgument(value)
            argument.read_outside = False
            return argument
        if value.dtype.kind in "biu":
            return value.view(IntegerArgument)
    return value


TENSOR_DATA = Tensor.data  # the slot holding a Tensor's array, read below without the property


class FloatArgument(Tensor):
    """A float ndarray argument during a trace: a Tensor around the caller's array that notes whether
    ``fn`` read its values outside the ops (``.data``, ``.numpy()``, ``np.asarray``, ``.item()``).
    Its shape, dtype and size are free to read: they belong to the signature."""

    __slots__ = ("read_outside",)

    @property
    def data(self) -> np.ndarray:
        self.read_outside = True
        return TENSOR_DATA.__get__(self)

    @data.setter
    def data(self, value: np.ndarray) -> None:
        TENSOR_DATA.__set__(self, value)

    @property
    def shape(self) -> tuple[int, ...]:
        return TENSOR_DATA.__get__(self).shape

    @property
    def ndim(self) -> int:
        return TENSOR_DATA.__get__(self).ndim

    @property
    def size(self) -> int:
        return TENSOR_DATA.__get__(self).size

    @property
    def dtype(self) -> np.dtype:
        return TENSOR_DATA.__get__(self).dtype

    def __len__(self) -> int:
        return len(TENSOR_DATA.__get__(self))


class IntegerArgument(np.ndarray):
    """An integer or boolean ndarray argument during a trace: a view of the caller's array. Arrays
    NumPy derives from it keep this class, and a copy ``astype`` makes remembers its source
    (``converted_from``), so the trace can recompute an op's index array from each call's argument
    (a view by the positions of its elements, a conversion by astype) or refuse it."""

    def __array_finalize__(self, obj) -> None:
        derived = getattr(_TRACING, "derived", None)
        if derived is not None:  # every array of this class made during the trace
            derived.append(self)

    def astype(self, dtype, *args, **kwargs):
        result = super().astype(dtype, *args, **kwargs)
        if result is not self and not np.may_share_memory(result, self):
            result.converted_from = self
        return result


_TRACING = threading.local()  # .derived: the arrays NumPy derived from integer arguments during a trace


class _Tape(list):
    """The ops a trace applied, in order, and what tensor.py notes beside them while it traces."""

    def __init__(self) -> None:
        super().__init__()
        self.masks: list = []  # the comparison results of traced tensors, and arrays NumPy derived from them
        self.sources: dict = {}  # id(an op's constant or index) -> (it, the array it was converted from)


class Outside(NamedTuple):
    """What a traced run of fn did with its arguments outside the ops."""

    read: frozenset  # the float arguments whose values it read
    derived: list  # the arrays NumPy derived from its integer arguments
    masks: list  # the comparison masks of traced values (tensor.py's _TracedMask)
    sources: dict  # what each constant operand or index was converted from


def _read_outside(argument) -> bool:
    """Whether fn read a float argument's values outside the ops during the trace."""
    return isinstance(argument, FloatArgument) and argument.read_outside


def run_on_tape(fn, args, kwargs) -> tuple[object, list, tuple, Outside]:
    """Run ``fn`` eagerly with recording on; its result, every op it applied, the arguments it got, and
    what it did with them outside the ops."""
    derived: list = []
    saved_derived, _TRACING.derived = getattr(_TRACING, "derived", None), derived
    try:
        args = tuple([traceable(a) for a in args])
        kwargs = {k: traceable(v) for k, v in kwargs.items()}
        tape = _Tape()
        saved = STATE.tape, STATE.enabled
        STATE.tape, STATE.enabled = tape, True  # record all: a later call may need gradients
        try:
            result = fn(*args, **kwargs)
        finally:
            STATE.tape, STATE.enabled = saved
    finally:
        _TRACING.derived = saved_derived
    arguments = (*args, *(kwargs[k] for k in sorted(kwargs)))
    read = frozenset([i for i, a in enumerate(arguments) if _read_outside(a)])  # before the trace reads them
    return result, tape, arguments, Outside(read, derived, tape.masks, tape.sources)
