"""Check hand-written backward passes where they live: layer pairs and cost-and-gradient functions.

``check_backward(affine_forward, affine_backward, x, w, b)`` runs the user's forward twice: on copies
of the arrays (the user's own path, whose cache their backward reads) and on Tensors, so autodiff
differentiates the very code the user wrote (NumPy calls on Tensors stay on the graph). The user's
``backward(dout, cache)`` is then compared, input by input, with autodiff's vector-Jacobian product
for the same ``dout``. ``check_value_and_grad(nn_cost_function, params, X, y)`` does the same for a
function returning its value and gradient together.

When the forward leaves the graph on Tensors (it writes results into a preallocated ``np.zeros``
buffer, calls a NumPy function the engine refuses, or returns a plain array), the reference for the
inputs concerned is central differences in float64 instead: entry by entry for small inputs, along
random directions for big ones. Each row says which reference it used. Autodiff's answer is itself
checked along one random direction by central differences (two extra forward calls), so a forward
that left the graph only partly cannot pass on a wrong reference.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from copy import deepcopy

import numpy as np

from ..errors import AutogradError, LeftTheGraphWarning
from ..grad_mode import enable_grad
from ..tensor import Tensor, grad
from .compare import (
    NUMERIC_DIRECTIONS,
    NUMERIC_FULL_SIZE,
    GradientReport,
    GradientRow,
    _close_to_largest,
    classify,
    shape_verdict,
)
from .numeric import directional_derivative, numerical_gradient, random_directions

__all__ = ["check_backward", "check_value_and_grad"]

AUTODIFF = "autodiff"
CENTRAL = "central differences"
NUMERIC_RTOL = 1e-5  # central differences in float64 are good to about 1e-8 of the largest entry
FLOAT32_RTOL = 1e-4  # a float32 backward keeps about 7 digits; sums over a batch lose one or two
EPS = 1e-6
NUMERIC_WORDS = ("yours", "the reference")  # how a row against central differences names the two sides


def check_backward(
    forward: Callable,
    backward: Callable,
    *args,
    dout=None,
    seed: int = 0,
    rtol: float = 1e-6,
    atol: float = 1e-12,
    numeric: bool | str = "auto",
    num_examples: int | None = None,
) -> GradientReport:
    """Check a layer's hand-written ``backward`` against autodiff of its own ``forward``.

    ``forward(*args)`` returns ``out`` or ``(out, cache)``; ``backward(dout, cache)`` (or
    ``backward(dout)`` without a cache) returns one gradient per float-array positional argument, in
    order (a single array when there is one). Other arguments (ints, dicts such as ``conv_param``,
    integer label arrays) are passed through untouched. ``dout`` defaults to a standard-normal array
    of ``out``'s shape drawn from ``seed`` (a stream of its own, never ``default_rng(seed)``'s). Rows
    are named after the forward's parameters.

    Entries agree when ``|yours - reference| <= atol + rtol * max|reference|``; rtol is at least 1e-5
    against central differences and 1e-4 when an input is float32. ``numeric=True`` forces central
    differences, ``numeric=False`` refuses them (an error when autodiff cannot run the forward).
    ``num_examples`` is the m that names a factor (m, 1/m, (m-1)/m); by default the leading dimension
    of the first float-array argument with at least two dimensions (for ``check_value_and_grad``, one
    that is not differentiated comes first: X rather than theta). The user's arrays and ``dout``
    are never changed (every call gets copies), and every call of the forward starts from the same
    global NumPy random state and its own copy of the other arguments, so a seeded dropout draws the
    same mask each time.
    """
    where = "check_backward"
    spec = _Spec(where, forward, args, wrt=None, num_examples=num_examples)
    result = spec.call({})
    has_cache = isinstance(result, tuple) and len(result) == 2
    out = _float_output(where, result[0] if has_cache else result)
    if dout is None:
        dout = _stream(seed, 0).standard_normal(out.shape)
    else:
        dout = np.array(dout.data if isinstance(dout, Tensor) else dout, dtype=np.float64)  # a copy
        if dout.shape != out.shape:
            raise ValueError(
                f"{where}: dout has shape {dout.shape}, but the forward's output has shape {out.shape}"
            )
    users_dout = dout.astype(out.dtype if out.dtype.kind == "f" else np.float64)
    returned = backward(users_dout, result[1]) if has_cache else backward(users_dout)
    mine = spec.gradients(returned, f"{_name(backward)} returned")

    def output_of(value):
        return value[0] if isinstance(value, tuple) and len(value) == 2 else value

    title = f"{_name(forward)} / {_name(backward)}: your gradients"
    return _compare(spec, mine, output_of, out, dout, seed, rtol, atol, numeric, title)


def check_value_and_grad(
    fn: Callable,
    *args,
    wrt: Sequence[str] | str | None = None,
    seed: int = 0,
    rtol: float = 1e-6,
    atol: float = 1e-12,
    numeric: bool | str = "auto",
    num_examples: int | None = None,
) -> GradientReport:
    """Check a function that returns its value and gradient together: ``fn(*args) -> (value, grad)``.

    ``grad`` is one array per float-array argument, in order (a single array when there is one), or
    per argument named in ``wrt`` (``wrt=["nn_params"]`` when X is a float array too). Everything else
    is as for ``check_backward``, with the scalar value in place of ``out`` and ``dout = 1``.
    """
    where = "check_value_and_grad"
    spec = _Spec(where, fn, args, wrt=wrt, num_examples=num_examples)
    result = spec.call({})
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(
            f"{where}: {_name(fn)} must return (value, grad) or (value, (grad1, grad2, ...)), got {_what(result)}"
        )
    value = _float_output(where, result[0])
    if value.size != 1:
        raise ValueError(
            f"{where}: {_name(fn)}'s value must be a single number (a cost), got shape {value.shape}; "
            "for an array output use check_backward"
        )
    mine = spec.gradients(result[1], f"{_name(fn)} returned")

    def output_of(value):
        return value[0] if isinstance(value, tuple) else value

    title = f"{_name(fn)}: your gradients"
    return _compare(spec, mine, output_of, value, np.ones(value.shape), seed, rtol, atol, numeric, title)


# ---------------------------------------------------------------- the arguments and how to call the forward


class _Spec:
    """The forward, its arguments, their names, and which of them are checked."""

    def __init__(self, where: str, forward: Callable, args: tuple, wrt, num_examples: int | None) -> None:
        if not callable(forward):
            raise TypeError(f"{where}: the forward must be callable, got {_what(forward)}")
        self.where, self.forward, self.args = where, forward, args
        self.names = _parameter_names(forward, len(args))
        floats = [i for i, a in enumerate(args) if _is_float_array(a)]
        if wrt is None:
            self.checked = floats
        else:
            wanted = [wrt] if isinstance(wrt, str) else list(wrt)
            self.checked = []
            for name in wanted:
                if name not in self.names:
                    raise ValueError(
                        f"{where}: wrt names {name!r}, but {_name(forward)}'s arguments are {', '.join(self.names)}"
                    )
                i = self.names.index(name)
                if not _is_float_array(args[i]):
                    raise TypeError(
                        f"{where}: wrt names {name!r}, which is {_what(args[i])}, not a float array"
                    )
                self.checked.append(i)
            self.checked.sort()
        if not self.checked:
            raise ValueError(
                f"{where}: none of {_name(forward)}'s arguments is a float ndarray, so there is no gradient to check"
            )
        self.float32 = any(np.asarray(args[i]).dtype == np.float32 for i in self.checked)
        if num_examples is None:  # X when it is an argument not differentiated, else the first array
            arrays = [args[i] for i in floats if i not in self.checked] + [args[i] for i in self.checked]
            first = next((a for a in arrays if a.ndim >= 2), next((a for a in arrays if a.ndim >= 1), None))
            num_examples = None if first is None else int(first.shape[0])
        self.num_examples = num_examples
        self.random_state = np.random.get_state()

    def call(self, replaced: dict[int, object]):
        """The forward on fresh copies of the arguments (``replaced`` ones as given), from the same random state."""
        args = [
            replaced[i] if i in replaced else (a.copy() if isinstance(a, np.ndarray) else deepcopy(a))
            for i, a in enumerate(self.args)
        ]
        np.random.set_state(self.random_state)
        try:
            return self.forward(*args)
        finally:
            np.random.set_state(self.random_state)

    def gradients(self, returned, what: str) -> list[np.ndarray]:
        """The user's gradients as float64 arrays, one per checked argument, or an error saying what is wrong."""
        names = [self.names[i] for i in self.checked]
        if len(names) == 1 and not isinstance(returned, (tuple, list)):
            returned = (returned,)
        if not isinstance(returned, (tuple, list)) or len(returned) != len(names):
            count = len(returned) if isinstance(returned, (tuple, list)) else 1
            raise ValueError(
                f"{self.where}: {what} {count} gradient{'s' * (count != 1)}, but {len(names)} are expected, one per "
                f"float-array argument in order ({', '.join(names)}); pass labels and masks as integer or boolean "
                "arrays"
                + (
                    ", or name the differentiated arguments with wrt="
                    if self.where == "check_value_and_grad"
                    else ""
                )
            )
        gradients = []
        for name, g in zip(names, returned, strict=True):
            try:
                gradients.append(np.array(g.data if isinstance(g, Tensor) else g, dtype=np.float64))
            except (TypeError, ValueError):
                raise TypeError(
                    f"{self.where}: {what} {_what(g)} as the gradient of {name}, not an array"
                ) from None
        return gradients

    def float64_args(self) -> dict[int, np.ndarray]:
        return {i: np.array(self.args[i], dtype=np.float64) for i in self.checked}


def _stream(seed: int, purpose: int) -> np.random.Generator:
    """A random stream of ``seed`` of our own: not ``default_rng(seed)``'s, from which the user's own
    inputs may come (a dout equal to a rescaled x would hide most of a batchnorm's gradient)."""
    return np.random.default_rng([seed, purpose, 0xBAC4])


def _parameter_names(fn: Callable, count: int) -> list[str]:
    """The forward's parameter names for ``count`` positional arguments (``args[2]`` for a ``*args``)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return [f"arg{i}" for i in range(count)]
    names = []
    for i in range(count):
        if i < len(parameters) and parameters[i].kind in (
            parameters[i].POSITIONAL_ONLY,
            parameters[i].POSITIONAL_OR_KEYWORD,
        ):
            names.append(parameters[i].name)
            continue
        star = next((p for p in parameters if p.kind == p.VAR_POSITIONAL), None)
        start = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)
        names.append(f"{star.name}[{i - start}]" if star is not None else f"arg{i}")
    return names


def _is_float_array(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _float_output(where: str, out) -> np.ndarray:
    try:
        array = np.asarray(out.data if isinstance(out, Tensor) else out)
    except (TypeError, ValueError):
        array = None
    if array is None or array.dtype.kind not in "fiu":
        raise TypeError(f"{where}: the forward's output must be a float array or number, got {_what(out)}")
    return array


def _name(fn) -> str:
    fn = getattr(fn, "func", fn)  # functools.partial: the function it calls
    return getattr(fn, "__name__", type(fn).__name__)


def _what(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:80]


# ---------------------------------------------------------------- the reference and the comparison


def _compare(spec: _Spec, mine, output_of, out, dout, seed, rtol, atol, numeric, title) -> GradientReport:
    if numeric not in ("auto", True, False):
        raise ValueError(f"{spec.where}: numeric must be 'auto', True or False, got {numeric!r}")
    notes = []
    if spec.float32:
        rtol = max(rtol, FLOAT32_RTOL)
        notes.append(
            f"Float32 inputs: the reference is computed in float64, and entries agree within rtol={rtol:g}."
        )
    rng = _stream(seed, 1)
    values = spec.float64_args()

    def evaluate(replaced: dict[int, np.ndarray]) -> float:
        """sum(dout * output) on plain float64 arrays, for central differences."""
        result = output_of(spec.call({i: v.copy() for i, v in {**values, **replaced}.items()}))
        return float(
            np.vdot(dout, np.asarray(result.data if isinstance(result, Tensor) else result, np.float64))
        )

    found: dict[int, np.ndarray | None] = dict.fromkeys(spec.checked)
    output = None
    if numeric is True:
        notes.append("Reference: central differences, as asked (numeric=True).")
    else:
        try:
            found, output = _autodiff(spec, output_of, out, dout, values)
            _confirm(found, evaluate, values, dout, out, rng)
        except _LeftTheGraph as reason:
            if numeric is False:
                raise AutogradError(
                    f"{spec.where}: autodiff cannot differentiate {_name(spec.forward)} ({reason}), and numeric=False "
                    "forbids central differences"
                ) from None
            found, output = dict.fromkeys(spec.checked), None
            notes.append(f"Reference: central differences, because {reason}.")
        else:
            left = [spec.names[i] for i in spec.checked if found[i] is None]
            if left and numeric is False:
                raise AutogradError(
                    f"{spec.where}: {_name(spec.forward)}'s output on Tensors does not depend on {', '.join(left)}, and "
                    "numeric=False forbids central differences to find out why"
                )
            if left:
                notes.append(
                    f"The output on Tensors does not depend on {', '.join(left)}: checked by central differences."
                )

    m = spec.num_examples
    rows = []
    for k, i in enumerate(spec.checked):
        name = spec.names[i]
        if found[i] is not None:
            row = classify(name, mine[k], found[i], _close_to_largest(rtol, atol), m)
            row.reference = AUTODIFF
        else:
            row = _numeric_row(name, mine[k], i, values, evaluate, rng, max(rtol, NUMERIC_RTOL), atol, m)
        rows.append(row)
    if output is not None:
        for row, i in zip(rows, spec.checked, strict=True):
            row.target = output.leaves.get(i)
    kinds = {row.reference for row in rows if row.verdict != "unused"} or {CENTRAL}
    reference = (
        AUTODIFF
        if kinds == {AUTODIFF}
        else CENTRAL
        if kinds == {CENTRAL}
        else "autodiff and central differences"
    )
    report = GradientReport(
        rows,
        num_examples=m,
        title=f"{title} against {reference}",
        reference=reference,
        computed_from_first=None,
        notes=notes,
    )
    report.output = None if output is None else output.tensor
    return report


class _Recorded:
    """The output autodiff recorded, and the leaf Tensor of each checked argument (for drawings)."""

    def __init__(self, tensor: Tensor, leaves: dict[int, Tensor]) -> None:
        self.tensor, self.leaves = tensor, leaves


class _LeftTheGraph(Exception):
    """Why autodiff of the forward on Tensors cannot be the reference (the message completes "because ...")."""


def _autodiff(spec: _Spec, output_of, out, dout, values) -> tuple[dict, _Recorded]:
    """Autodiff of the forward run on Tensors: the gradient for each checked argument (None where the
    output does not depend on it) and the recorded output; ``_LeftTheGraph`` when it cannot be used."""
    leaves = {i: Tensor(v.copy(), requires_grad=True, name=spec.names[i]) for i, v in values.items()}
    try:
        with enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", LeftTheGraphWarning)  # a leak is found and reported below
            result = output_of(spec.call(leaves))
    except Exception as error:  # the user's own run succeeded: it is the Tensors that failed
        message = str(error).splitlines()[0][:200] if str(error) else ""
        raise _LeftTheGraph(f"the forward raised {type(error).__name__} on Tensors ({message})") from None
    if not isinstance(result, Tensor):
        if isinstance(result, (int, float, np.generic)):
            how = "float() or .item() turns a Tensor into a plain number"
        else:
            how = "results written into a preallocated array such as np.zeros, or a NumPy call that gave a plain array"
        raise _LeftTheGraph(
            f"on Tensors the forward returned {_what(result)}, not a Tensor: it left the graph ({how})"
        )
    if result.shape != out.shape:
        raise _LeftTheGraph(f"on Tensors the forward's output has shape {result.shape}, not {out.shape}")
    tolerance = 1e-4 if spec.float32 else 1e-7
    largest = float(np.max(np.abs(out), initial=0.0))
    difference = float(np.max(np.abs(result.data - out), initial=0.0))
    if not difference <= tolerance * largest + 1e-12:
        raise _LeftTheGraph(
            f"on Tensors the forward computes a different output (largest difference {difference:.3g} against "
            f"values up to {largest:.3g})"
        )
    found: dict[int, np.ndarray | None] = dict.fromkeys(values)
    if result.requires_grad:
        order = list(leaves)
        gradients = grad(result, [leaves[i] for i in order], grad_output=dout, allow_unused=True)
        for i, g in zip(order, gradients, strict=True):
            found[i] = None if g is None else np.asarray(g, dtype=np.float64)
    return found, _Recorded(result, leaves)


def _confirm(found, evaluate, values, dout, out, rng) -> None:
    """Check autodiff against central differences along one random direction of every input it reached,
    all at once (two forward calls); ``_LeftTheGraph`` when they disagree: part of the forward left the
    graph (an ``np.asarray`` or a buffer write on the way), so autodiff's answer is incomplete."""
    reached = [i for i, g in found.items() if g is not None]
    if not reached:
        return
    directions = {i: rng.standard_normal(values[i].shape) for i in reached}
    plus = evaluate({i: values[i] + EPS * d for i, d in directions.items()})
    minus = evaluate({i: values[i] - EPS * d for i, d in directions.items()})
    numeric = (plus - minus) / (2 * EPS)
    analytic = sum(float(np.vdot(found[i], d)) for i, d in directions.items())
    magnitude = sum(float(np.vdot(np.abs(found[i]), np.abs(d))) for i, d in directions.items())
    size = float(np.vdot(np.abs(dout), np.abs(out.astype(np.float64))))  # what rounding in f scales with
    if abs(numeric - analytic) > 1e-5 * magnitude + 1e-8 * size + 1e-10:
        raise _LeftTheGraph(
            f"autodiff of the forward on Tensors disagrees with central differences along a random direction "
            f"({analytic:.6g} against {numeric:.6g}): part of the forward left the graph"
        )


def _numeric_row(name, mine, i, values, evaluate, rng, rtol, atol, m) -> GradientRow:
    """The row for argument ``i`` against central differences (full up to NUMERIC_FULL_SIZE entries,
    else along random directions), or an "unused" row when the output does not change with it."""
    work = values[i].copy()  # perturbed in place by the helpers

    def fn() -> float:
        return evaluate({i: work})

    close = _close_to_largest(rtol, atol)
    shape = work.shape
    if work.size <= NUMERIC_FULL_SIZE:
        reference = numerical_gradient(fn, work, EPS)
        if not np.any(reference):
            return _unused(name, mine, shape)
        row = classify(name, mine, reference, close, m, NUMERIC_WORDS)
        row.reference = CENTRAL
        return row
    directions = random_directions(shape, NUMERIC_DIRECTIONS, rng)
    numeric = np.array([directional_derivative(fn, work, d, EPS) for d in directions])
    if not np.any(numeric):
        return _unused(name, mine, shape)

    def project(array: np.ndarray) -> np.ndarray:
        return np.array([float(np.vdot(array, d)) for d in directions])

    def agrees(candidate: np.ndarray) -> bool:
        return bool(close(project(candidate), numeric).all())

    along = f"along {NUMERIC_DIRECTIONS} random directions"
    if mine.shape != shape:
        verdict, note = shape_verdict(mine, shape, agrees, NUMERIC_WORDS)
        row = GradientRow(name, shape, verdict, float("nan"), float("nan"), None, note=f"{note} ({along})")
    else:
        row = classify(name, project(mine), numeric, close, m, NUMERIC_WORDS)
        if row.verdict == "mismatch" and mine.ndim == 2 and mine.shape[0] == mine.shape[1] and agrees(mine.T):
            row.verdict, row.note = "transpose", "yours is the reference transposed"
        row.shape, row.worst_index = shape, None
        row.note = f"{row.note} ({along})".lstrip()
    row.reference, row.manual = CENTRAL, mine
    return row


def _unused(name: str, mine: np.ndarray, shape: tuple[int, ...]) -> GradientRow:
    yours = "yours is zero too" if mine.shape == shape and not np.any(mine) else "yours is not zero"
    return GradientRow(
        name,
        shape,
        "unused",
        float("nan"),
        float("nan"),
        None,
        note=(
            f"the output does not change when {name} changes (does the forward read it?), so there is nothing to "
            f"check: this is not a pass ({yours})"
        ),
        reference=CENTRAL,
        manual=mine,
    )
