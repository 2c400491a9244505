"""Recording an op onto the graph: ``apply`` runs an op's forward on arrays and, when an input requires
grad, stores the op as the result's node, keeping only what its VJP reads.

This is the part of the engine the ops call (each op's function is ``apply(SomeOp(...), x)``), so it sits
below them; backward, hooks and the Tensor's methods sit above them in ``tensor.py``. The Tensor class is
defined there and handed to this module as it is defined (``_use_tensor_class``): the results ``apply``
makes are Tensors, without this module importing the one that imports the ops. Also here: operands that
are not Tensors as constants, the hooks ``ag.compile``'s tracing reads (``_TracedMask``, ``_trace_source``,
``STATE.tape``) and the forward half of anomaly detection.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from .errors import AnomalyError, ShapeError
from .grad_mode import STATE, kept_values

if TYPE_CHECKING:  # for annotations only: at run time the class comes from _use_tensor_class
    from .ops.base import Op
    from .tensor import Tensor
else:
    Tensor = None  # the Tensor class, once tensor.py has defined it


def _use_tensor_class(tensor_class: type) -> None:
    """Make ``tensor_class`` the class of every tensor recorded here (tensor.py calls it once, at import)."""
    global Tensor
    Tensor = tensor_class


def _as_float_array(data, where: str) -> np.ndarray:
    """``data`` as a float array: float32 and float64 are kept, integers and booleans become float64."""
    array = np.asarray(data)
    if array.dtype == np.float64 or array.dtype == np.float32:
        return array
    if array.dtype.kind in "biuf":
        return array.astype(np.float64)
    raise TypeError(
        f"{where}: cannot make a tensor from {type(data).__name__} (dtype {array.dtype}); "
        "give numbers, a list of numbers or a numeric ndarray"
    )


def _new(data: np.ndarray, requires_grad: bool) -> Tensor:
    """A Tensor around an array the engine produced (no conversion or checks: the fast path)."""
    t = Tensor.__new__(Tensor)
    t.data = data
    t._requires_grad = requires_grad
    t._grad = None
    t._name = None
    t._op = None
    t._version = 0
    t._base = None
    t.scope = STATE.scope
    return t


def _as_tensor(x) -> Tensor:
    """x itself when a Tensor, else a constant Tensor around it (an operand of NumPy's functions)."""
    return x if isinstance(x, Tensor) else Tensor(x)


class _TracedMask(np.ndarray):
    """A comparison's result while ``ag.compile`` traces: its values come from traced tensors, so a
    replay could not recompute it. Arrays NumPy derives from it keep the class; compile refuses them."""

    def __array_finalize__(self, obj) -> None:
        masks = getattr(STATE.tape, "masks", None)
        if masks is not None:  # every array of this class made during the trace
            masks.append(self)


def _trace_source(made, source) -> None:
    """While ``ag.compile`` traces, note that ``made`` (an op's constant or index) was converted from
    ``source``, so compile can tell whether that source came from a traced value or an argument."""
    sources = getattr(STATE.tape, "sources", None)
    if sources is not None:
        sources[id(made)] = (made, source)


def _constant(value, dtype: np.dtype, op: Op) -> Tensor:
    """A non-Tensor operand as a constant tensor; numbers take the other operand's dtype."""
    if STATE.tape is not None and isinstance(value, np.ndarray):  # compile checks what the copy came from
        result = _constant_of(value, dtype, op)
        _trace_source(result.data, value)
        return result
    return _constant_of(value, dtype, op)


def _constant_of(value, dtype: np.dtype, op: Op) -> Tensor:
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (complex, np.complexfloating)):
        return _new(np.asarray(value, dtype=dtype), False)
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "biu":  # ints, bool masks
        return _new(np.asarray(value, dtype=dtype), False)
    if isinstance(value, (np.ndarray, list, tuple)):
        return _new(_as_float_array(value, op.name), False)
    raise TypeError(
        f"{op.name}: unsupported operand type {type(value).__name__!r}; use a Tensor, an ndarray or a number"
    )


def apply(op: Op, *args) -> Tensor:
    """Run ``op`` on its inputs and, when any of them requires grad, record it as the result's node."""
    for a in args:
        if not isinstance(a, Tensor):
            dtype = next((b.data.dtype for b in args if isinstance(b, Tensor)), np.dtype(np.float64))
            args = tuple(b if isinstance(b, Tensor) else _constant(b, dtype, op) for b in args)
            break
    try:
        out = op.forward(*[a.data for a in args])
    except ShapeError:
        raise
    except ValueError:
        raise ShapeError(op.shape_error(*[a.data.shape for a in args])) from None
    except IndexError as error:
        raise IndexError(f"{op.name}: {error} (tensor of shape {args[0].data.shape})") from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)  # NumPy reductions give scalars; a Tensor always holds an ndarray
    requires_grad = False
    if STATE.enabled:
        for a in args:
            if a._requires_grad:
                requires_grad = True
                break
    result = _new(out, requires_grad)
    if requires_grad:
        # Where each input's gradient goes, and what the VJP reads: an intermediate input whose
        # values it does not need is held as its node, so that tensor's array is freed once the
        # user drops it. (One tuple serves both when they agree: fewer objects for the cyclic GC.)
        targets = tuple([(a if a._op is None else a._op) if a._requires_grad else None for a in args])
        op.targets = targets
        if op.keeps_inputs:  # the values are read in backward: remember their versions, to check then
            unread = ()  # (Op.vjp_reads) the inputs its VJP does not read for the ones needing grad
            if op.drops_for is not None:  # looked up by which inputs require grad
                unread = op.drops_for[
                    (args[0]._requires_grad, args[1]._requires_grad)
                    if len(args) == 2
                    else tuple([a._requires_grad for a in args])
                ]
            if unread:  # held as their nodes (a constant stays, for drawings and export), no version
                parents = list(args)
                versions = [a._version if a._base is None else a._base._version for a in args]
                for i in unread:
                    versions[i] = None
                    if targets[i] is not None:
                        parents[i] = targets[i]
                op.parents, op.input_versions = tuple(parents), tuple(versions)
            else:
                op.parents = args
                op.input_versions = tuple([a._version if a._base is None else a._base._version for a in args])
        else:
            op.parents = targets
            for t in targets:
                if t is None:  # (`None in targets` would compare tensors elementwise)
                    op.parents = tuple([_target(a) for a in args])
                    break
        if op.keeps_output:
            op.output, op.output_version = out, 0
        else:
            op.output = None
        op.shape, op.dtype, op.output_name = out.shape, out.dtype, None
        op.scope = result.scope  # (STATE is thread-local: each read costs a lookup)
        result._op = op
        if STATE.keep_values:  # for drawings: the values and the user's line (grad_mode.keep_values)
            op.kept, op.origin = kept_values(out), _user_location()
    if out.base is not None:  # a view (transpose, reshape, basic indexing): of one of the inputs?
        for a in args:
            if out.base is a.data or out.base is a.data.base:
                result._base = a._owner()
                break
    if STATE.anomaly:
        op.origin = _user_location()
        _check_forward(op, out, args)
    if STATE.tape is not None:  # ag.compile is tracing: it sees every op, even one nothing differentiates
        STATE.tape.append((op, args, result, STATE.enabled))
    return result


def _target(value: Tensor | Op) -> Tensor | Op:
    """Where a value's gradient is collected: the node that computed it, or the leaf tensor itself."""
    if isinstance(value, Tensor) and value._op is not None:
        return value._op
    return value


# ---------------------------------------------------------------- anomaly detection, forward


def _user_location() -> str:
    """' (created at file:line)' for the first caller outside the engine's own modules."""
    frame = sys._getframe(2)
    while frame is not None and _is_engine_module(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
    return "" if frame is None else f" (created at {frame.f_code.co_filename}:{frame.f_lineno})"


_PACKAGE = __name__.rpartition(".")[0]
# The modules whose frames lead to a recorded op (named, not imported: all of them sit above this one)
_ENGINE_MODULES = frozenset(
    (__name__, f"{_PACKAGE}.tensor", f"{_PACKAGE}.numpy_dispatch", f"{_PACKAGE}.ops", "numpy")
)
_ENGINE_PREFIXES = (f"{_PACKAGE}.ops.", "numpy.")


def _is_engine_module(name: str) -> bool:
    """The engine's recording modules, and NumPy's (``np.sum(t)`` reaches the engine through them)."""
    return name in _ENGINE_MODULES or name.startswith(_ENGINE_PREFIXES)


def _first_bad(array: np.ndarray) -> str | None:
    bad = ~np.isfinite(array)
    if not bad.any():
        return None
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{int(bad.sum())} of {array.size} values are NaN or Inf, the first at index {where}"


def _check_forward(op: Op, out: np.ndarray, inputs: tuple[Tensor, ...]) -> None:
    problem = _first_bad(out)
    if problem is None:
        return
    tainted = [i for i, a in enumerate(inputs) if not np.isfinite(a.data).all()]
    cause = f"input(s) {tainted} already held NaN/Inf" if tainted else "every input was finite"
    raise AnomalyError(
        f"{op.label()}{op.origin} gave a non-finite output of shape {out.shape}: {problem}; {cause}"
    )
