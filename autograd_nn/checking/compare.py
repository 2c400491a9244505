"""Compare a hand-derived backprop with autodiff, tensor by tensor: which gradient is wrong first, and how.

``compare_gradients(loss, {"theta1": my_grad, "z3": my_delta3, ...})`` runs one backward pass from
``loss``, collects autodiff's gradient at every tensor asked about (parameters and intermediates,
found by name in the recorded graph), and classifies each of the user's arrays m against autodiff's
a. Least squares gives the best constant c = <m, a> / <a, a>: when m = c a fits, c = -1 is a sign
error and another c a scale error (often the number of examples m, a missing or extra 1/m, or
(m-1)/m, a Bessel correction on one side only); m.T = a is a transposed gradient. When the shapes
differ, the verdict says how they relate: "broadcast" when m has a's shape only after broadcasting
(NumPy would accept it silently), else "shape" naming the sum, transpose or reshape that relates them. The rows come nearest the loss first, because a wrong gradient there makes
every gradient computed from it wrong too: the first mismatch is the one to fix.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import AutogradError
from ..ops import Op
from ..tensor import Tensor, _backpropagate, _reverse_topological_order, _seed, _target
from .numeric import directional_derivative, numerical_gradient, random_directions

__all__ = ["VERDICTS", "GradientMismatchError", "GradientReport", "GradientRow", "compare_gradients"]

VERDICTS = ("ok", "sign", "scale", "transpose", "shape", "broadcast", "nonfinite", "unused", "mismatch")

NUMERIC_TOLERANCE = 1e-5  # autodiff and float64 central differences agree far better than this
NUMERIC_FULL_SIZE = 1000  # leaves up to this many entries are differenced entry by entry
NUMERIC_DIRECTIONS = 3  # bigger ones along this many random directions


class GradientMismatchError(AutogradError, AssertionError):
    """A hand-derived gradient disagrees with autodiff; the message holds the report's table.

    Also an ``AssertionError``, so pytest shows ``report.raise_for_mismatch()`` as a failed assertion.
    """


@dataclass
class GradientRow:
    """One compared tensor: the verdict on the user's array against autodiff's gradient."""

    name: str
    shape: tuple[int, ...]
    verdict: str
    relative_error: float  # ||a - m|| / (||a|| + ||m||): 0 when equal, 1 for a sign flip or a zero array
    max_abs_error: float
    worst_index: tuple[int, ...] | None
    factor: float | None = None  # m = factor * a, when the verdict is "scale"
    numeric_relative_error: float | None = None  # autodiff against central differences, when asked
    note: str = ""  # the verdict in words, e.g. "yours = -1 × autodiff"
    reference: str | None = None  # what the row was checked against, when a report mixes references
    autodiff: np.ndarray | None = field(default=None, repr=False)
    manual: np.ndarray | None = field(default=None, repr=False)
    target: object = field(default=None, repr=False, compare=False)  # the graph node or leaf compared


class GradientReport:
    """The rows of a gradient comparison, nearest the loss first, and what they say together."""

    def __init__(
        self,
        rows: list[GradientRow],
        *,
        num_examples: int | None = None,
        not_compared: Iterable[str] = (),
        title: str = "gradients compared with autodiff",
        reference: str = "autodiff",
        computed_from_first: Iterable[str] | None = (),
        notes: Iterable[str] = (),
    ) -> None:
        self.rows = list(rows)
        # rows whose gradient flows through the first mismatch; None when the rows are independent
        # (the inputs of one function, as check_backward compares them)
        self.computed_from_first = None if computed_from_first is None else list(computed_from_first)
        self.num_examples = num_examples
        self.not_compared = list(not_compared)
        self.title = title
        self.reference = reference
        self.notes = list(notes)  # lines printed between the table and the summary (how it was checked)
        self.output = None  # the recorded output a drawing starts from, when the report has one

    @property
    def ok(self) -> bool:
        """True when every verdict is "ok" and autodiff agrees with central differences where asked."""
        return self.first_mismatch is None and not self.numeric_disagreements

    @property
    def first_mismatch(self) -> GradientRow | None:
        """The row nearest the loss whose verdict is not "ok" (the rows after it are computed from it)."""
        return next((row for row in self.rows if row.verdict != "ok"), None)

    @property
    def numeric_disagreements(self) -> list[GradientRow]:
        """Rows where autodiff itself disagrees with central differences."""
        return [
            row
            for row in self.rows
            if row.numeric_relative_error is not None and not row.numeric_relative_error <= NUMERIC_TOLERANCE
        ]

    def __getitem__(self, name: str) -> GradientRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row named {name!r}; the rows are {', '.join(r.name for r in self.rows)}")

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def to_frame(self):
        """The rows as a pandas DataFrame (one row per tensor, in the report's order)."""
        import pandas as pd

        columns = [
            "name",
            "shape",
            "verdict",
            "relative_error",
            "max_abs_error",
            "worst_index",
            "factor",
            "numeric_relative_error",
            "note",
            "reference",
        ]
        return pd.DataFrame([{c: getattr(row, c) for c in columns} for row in self.rows], columns=columns)

    def raise_for_mismatch(self) -> None:
        """Raise ``GradientMismatchError`` (with the table) unless every gradient agrees."""
        if not self.ok:
            raise GradientMismatchError(str(self))

    def summary(self) -> str:
        """The one sentence under the table: all agree, or which row to fix first and why."""
        first = self.first_mismatch
        if first is not None:
            what = f"First mismatch: {first.name} ({first.verdict}{': ' + first.note if first.note else ''})."
            if self.computed_from_first is None:
                others = [
                    f"{row.name} ({row.verdict}{': ' + row.note if row.note else ''})"
                    for row in self.rows
                    if row.verdict != "ok" and row is not first
                ]
                return what + "".join(f"\nAlso wrong: {other}." for other in others)
            if self.computed_from_first:
                return (
                    f"{what} The gradients of {', '.join(self.computed_from_first)} are computed from it, "
                    "so fix it first and check again."
                )
            return f"{what} It is the one nearest the loss; no other row's gradient is computed from it."
        if self.numeric_disagreements:
            names = ", ".join(row.name for row in self.numeric_disagreements)
            return (
                f"Every array agrees with {self.reference}, but {self.reference} disagrees with central "
                f"differences for {names}: a custom op's gradient may be wrong, or the function is not "
                "smooth at this point."
            )
        if len(self.rows) == 1:
            return f"The gradient agrees with {self.reference}."
        return f"All {len(self.rows)} gradients agree with {self.reference}."

    def _table(self) -> list[list[str]]:
        """The header and one line of cells per row, as ``str`` and ``_repr_html_`` show them."""
        numeric = any(row.numeric_relative_error is not None for row in self.rows)
        references = any(row.reference is not None for row in self.rows)
        header = ["tensor", "shape", "verdict", "rel. error", "max abs error", "worst at", "factor"]
        if numeric:
            header.append("vs central diff.")
        if references:
            header.append("reference")
        table = [header]
        for row in self.rows:
            cells = [
                row.name,
                _shape_text(row.shape),
                row.verdict,
                _number(row.relative_error),
                _number(row.max_abs_error),
                "" if row.worst_index is None else str(tuple(int(i) for i in row.worst_index)),
                _factor_text(row.factor, self.num_examples),
            ]
            if numeric:
                cells.append(
                    "" if row.numeric_relative_error is None else _number(row.numeric_relative_error)
                )
            if references:
                cells.append(row.reference or "")
            table.append(cells)
        return table

    def _heading(self) -> str:
        return self.title + (f" (m = {self.num_examples} examples)" if self.num_examples else "")

    def __str__(self) -> str:
        table = self._table()
        widths = [max(len(line[k]) for line in table) for k in range(len(table[0]))]
        lines = [self._heading()]
        for line in table:
            lines.append(
                "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            )
        if self.not_compared:
            lines.append(f"Not compared (no array given): {', '.join(self.not_compared)}")
        lines.extend(self.notes)
        lines.append(self.summary())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The report as an HTML table for Jupyter: verdicts in green (ok) or red, the first mismatch
        in bold, then the sentence that says what to fix first."""
        header, *lines = self._table()
        first = self.first_mismatch
        cell = "padding:2px 10px;text-align:left"
        head = "".join(f'<th style="{cell}">{html.escape(text)}</th>' for text in header)
        body = []
        for row, cells in zip(self.rows, lines, strict=True):
            colour = "#1a7f1a" if row.verdict == "ok" else "#c0140c"
            weight = ' style="font-weight:bold"' if row is first else ""
            tds = "".join(
                f'<td style="{cell}' + (f";color:{colour};font-weight:bold" if k == 2 else "") + f'">'
                f"{html.escape(text)}</td>"
                for k, text in enumerate(cells)
            )
            body.append(f'<tr class="verdict-{row.verdict}"{weight}>{tds}</tr>')
        notes = [*self.notes, *self.summary().splitlines()]
        if self.not_compared:
            notes.insert(0, f"Not compared (no array given): {', '.join(self.not_compared)}")
        return (
            f'<div class="gradient-report"><p><b>{html.escape(self._heading())}</b></p>'
            f'<table style="border-collapse:collapse;font-family:monospace"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
            + "".join(f"<p>{html.escape(note)}</p>" for note in notes)
            + "</div>"
        )

    def __repr__(self) -> str:
        verdicts = ", ".join(f"{row.name}: {row.verdict}" for row in self.rows)
        return f"<GradientReport ok={self.ok} [{verdicts}]>"


# ---------------------------------------------------------------- comparing


def compare_gradients(
    loss: Tensor,
    manual: Mapping,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-12,
    numeric: bool = False,
    scale: Mapping | None = None,
    num_examples: int | None = None,
) -> GradientReport:
    """Compare the user's gradients of ``loss`` with autodiff's, one row per tensor, nearest the loss first.

    ``manual`` maps a Tensor of loss's graph, or the name of one ("theta1", "z3"; intermediates are
    found by the name they were given even when nothing holds them any more), to the user's array for
    d(loss)/d(that tensor). ``scale`` maps the same keys to a factor multiplied into the user's array
    first (the tutorial's deltas are m times d(J)/d(z): ``scale={"z3": 1/m}``). An entry agrees when
    ``|mine - autodiff| <= atol + rtol * max|autodiff|``; for a float32 model pass ``rtol=1e-4``.

    ``num_examples`` is the m a "scale" verdict is compared with (a missing or extra 1/m); by default,
    the number of rows of the largest input of the graph that needs no gradient (X for the tutorial's
    network). ``numeric=True`` also checks autodiff against float64 central differences at every leaf
    (entry by entry up to 1000 entries, else along 3 random directions), by replaying the recorded
    forward pass, so the ops must be deterministic.
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"compare_gradients: loss must be a Tensor, got {type(loss).__name__}")
    if not isinstance(manual, Mapping):
        raise TypeError(
            f"compare_gradients: manual must be a mapping from tensors or names to arrays, got {type(manual).__name__}"
        )
    scale = dict(scale or {})
    seed = _seed(loss, None, False, "compare_gradients")
    graph = _Graph(loss)

    requested: dict[object, tuple[str, np.ndarray]] = {}  # target -> (row name, the user's array)
    for key, value in manual.items():
        target, name = graph.resolve(key, "manual")
        if target in requested:
            raise AutogradError(f"compare_gradients: {name} is given twice in manual")
        requested[target] = (name, _user_array(value, name))
    for key, factor in scale.items():
        target, name = graph.resolve(key, "scale")
        if target not in requested:
            raise AutogradError(f"compare_gradients: scale names {name}, which manual does not give")
        if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)):
            raise TypeError(f"compare_gradients: the scale of {name} must be a number, got {factor!r}")
        requested[target] = (name, requested[target][1] * float(factor))

    found = _backpropagate(loss, seed, False, wanted=set(requested))
    m = num_examples if num_examples is not None else graph.num_examples()
    close = _close_to_largest(rtol, atol)
    evaluate = _replay(graph) if numeric else None
    rng = np.random.default_rng(0)

    rows = []
    for target in graph.order:
        if target not in requested:
            continue
        name, mine = requested[target]
        g = found.get(target)
        autodiff = np.zeros(target.shape) if g is None else np.array(g, dtype=np.float64)
        row = classify(name, mine, autodiff, close, m)
        row.target = target
        if evaluate is not None and isinstance(target, Tensor):
            row.numeric_relative_error = _numeric_error(evaluate, target, autodiff, rng)
        rows.append(row)
    not_compared = [
        item.name or f"unnamed {_shape_text(item.shape)}"
        for item in graph.order
        if isinstance(item, Tensor) and item not in requested
    ]
    first = next((row for row in rows if row.verdict != "ok"), None)
    computed_from_first = []
    if first is not None:
        upstream = set(_reverse_topological_order(first.target))  # what first's value was computed from
        computed_from_first = [row.name for row in rows if row is not first and row.target in upstream]
    return GradientReport(
        rows, num_examples=m, not_compared=not_compared, computed_from_first=computed_from_first
    )


class _Graph:
    """The recorded graph behind a loss: its values in backward order, and their names."""

    def __init__(self, loss: Tensor) -> None:
        self.root = _target(loss)
        self.order = backward_order(self.root)  # values that carry a gradient, nearest the loss first
        self.carrying = set(self.order)
        self.constants: dict[int, Tensor] = {}  # leaves that need no gradient (inputs, targets, numbers)
        self.by_name: dict[str, list] = {}
        for item in self.order:
            name = item.name if isinstance(item, Tensor) else item.output_name
            if name is not None:
                self.by_name.setdefault(name, []).append(item)
            if isinstance(item, Op):
                for parent in item.parents:
                    if isinstance(parent, Tensor) and parent._op is None and not parent.requires_grad:
                        self.constants[id(parent)] = parent

    def resolve(self, key, where: str) -> tuple[object, str]:
        """The node or leaf a key of ``manual``/``scale`` stands for, and the name its row gets."""
        if isinstance(key, Tensor):
            target = _target(key)
            label = key.name or f"the unnamed tensor of shape {key.shape}"
            if not key.requires_grad:
                raise AutogradError(
                    f"compare_gradients: {label} (a key of {where}) does not require grad, so it has no gradient"
                )
            if target not in self.carrying:
                raise AutogradError(
                    f"compare_gradients: {label} (a key of {where}) is not in the loss's graph"
                )
            return target, key.name or f"unnamed {_shape_text(key.shape)}"
        if not isinstance(key, str):
            raise TypeError(
                f"compare_gradients: the keys of {where} must be Tensors or names, got {type(key).__name__}"
            )
        matches = self.by_name.get(key, [])
        if len(matches) == 1:
            return matches[0], key
        if matches:
            raise AutogradError(
                f"compare_gradients: {len(matches)} tensors of the loss's graph are named {key!r}; "
                "pass the Tensor itself as the key"
            )
        if any(t.name == key for t in self.constants.values()):
            raise AutogradError(
                f"compare_gradients: {key!r} (a key of {where}) does not require grad, so it has no gradient"
            )
        known = ", ".join(self.by_name) or "none: name tensors with t.name = ..."
        raise AutogradError(
            f"compare_gradients: no tensor named {key!r} (a key of {where}) in the loss's graph; "
            f"the names there are {known}"
        )

    def num_examples(self) -> int | None:
        """Rows of the largest input that needs no gradient and has at least two dimensions."""
        inputs = [t for t in self.constants.values() if t.ndim >= 2]
        return max(inputs, key=lambda t: t.size).shape[0] if inputs else None


def backward_order(root) -> list:
    """Every value that carries a gradient to ``root``, nearest first: by the longest path from
    ``root`` (so a value comes after every value its gradient is computed from), leaves before
    intermediates at the same distance."""
    order = _reverse_topological_order(root)
    depth = {id(root): 0}
    for item in order:
        if isinstance(item, Op):
            d = depth[id(item)] + 1
            for t in item.targets:
                if t is not None and depth.get(id(t), -1) < d:
                    depth[id(t)] = d
    rank = {id(item): k for k, item in enumerate(order)}
    return sorted(order, key=lambda item: (depth[id(item)], isinstance(item, Op), rank[id(item)]))


def _user_array(value, name: str) -> np.ndarray:
    data = value.data if isinstance(value, Tensor) else value
    try:
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"compare_gradients: the array given for {name} is not numeric ({type(value).__name__})"
        ) from None
    return array


# ---------------------------------------------------------------- classifying one array


def _close_to_largest(rtol: float, atol: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Entrywise agreement measured against the reference's largest entry (no cancellation traps)."""

    def close(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
        largest = float(np.max(np.abs(reference))) if reference.size else 0.0
        return np.abs(x - reference) <= atol + rtol * largest

    return close


def classify(
    name: str,
    mine: np.ndarray,
    reference: np.ndarray,
    close: Callable[[np.ndarray, np.ndarray], np.ndarray],
    num_examples: int | None = None,
    words: tuple[str, str] = ("yours", "autodiff"),
) -> GradientRow:
    """The row for the array ``mine`` against ``reference``; ``close(x, ref)`` says which entries agree.

    ``words`` name the two sides in the row's note: ("yours", "autodiff"), or for gradcheck
    ("autodiff", "central differences").
    """
    yours, theirs = words
    shape = tuple(reference.shape)
    row = GradientRow(
        name, shape, "mismatch", float("nan"), float("nan"), None, autodiff=reference, manual=mine
    )
    if mine.shape != reference.shape:
        row.verdict, row.note = shape_verdict(
            mine, shape, lambda candidate: bool(close(candidate, reference).all()), words
        )
        return row
    bad = ~np.isfinite(mine)
    if bad.any():
        row.worst_index = tuple(int(i) for i in np.argwhere(bad)[0])
        row.verdict = "nonfinite"
        row.note = f"{int(bad.sum())} of {mine.size} values are NaN or inf, the first at {row.worst_index}"
        return row
    if not np.isfinite(reference).all():
        row.note = f"{theirs} holds NaN or inf"
        return row

    difference = mine - reference
    norm_sum = float(np.linalg.norm(reference) + np.linalg.norm(mine))
    row.relative_error = float(np.linalg.norm(difference)) / norm_sum if norm_sum else 0.0
    if difference.size:
        worst = int(np.argmax(np.abs(difference)))
        row.max_abs_error = float(np.abs(difference).flat[worst])
        if row.max_abs_error > 0:
            row.worst_index = tuple(int(i) for i in np.unravel_index(worst, shape))
    else:
        row.max_abs_error = 0.0
    if close(mine, reference).all():
        row.verdict = "ok"
        return row

    aa = float(np.vdot(reference, reference))
    if not np.any(mine):
        row.note = f"{yours} is all zeros: a gradient never computed?"
        return row
    if aa == 0.0:
        row.note = f"{theirs} is all zeros, {yours} is not"
        return row
    c = float(np.vdot(mine, reference)) / aa
    if close(mine, c * reference).all():
        if abs(c + 1) <= 1e-3:
            row.verdict, row.note = "sign", f"{yours} = -1 × {theirs}"
        else:
            row.verdict, row.factor = "scale", c
            row.note = f"{yours} = {_factor_text(c, num_examples)} × {theirs}"
            named = _named_factor(c, num_examples)
            if named == "m":
                row.note += ": a missing 1/m?"
            elif named == "1/m":
                row.note += ": divided by m once too often?"
            elif named is not None:  # (m-1)/m or m/(m-1)
                row.note += ": a Bessel correction on one side only (m - 1 where the other divides by m)?"
        return row
    if mine.ndim == 2 and mine.shape[0] == mine.shape[1] and close(mine.T, reference).all():
        row.verdict, row.note = "transpose", f"{yours} is {theirs} transposed"
        return row
    ratio = float(np.linalg.norm(mine)) / float(np.sqrt(aa))  # too small: a term or a sum left out?
    row.note = f"largest difference at {row.worst_index}; {yours} has {ratio:.2g} × the norm of {theirs}"
    return row


def shape_verdict(
    mine: np.ndarray,
    shape: tuple[int, ...],
    agrees: Callable[[np.ndarray], bool],
    words: tuple[str, str] = ("yours", "autodiff"),
) -> tuple[str, str]:
    """The verdict and note for an array whose shape is not the reference's ``shape``: how they relate.

    ``agrees(candidate)`` says whether an array of ``shape`` (``mine`` transposed, summed or reshaped)
    agrees with the reference. "transpose" when a permutation of the axes makes it agree; "broadcast"
    when ``mine`` has ``shape`` only after broadcasting (it is not compared: NumPy would hide the
    difference); else "shape", saying which sum over broadcast axes, transpose or reshape gives
    ``shape`` and whether the values then agree.
    """
    yours, theirs = words
    mine_shape, shape = tuple(mine.shape), tuple(shape)
    head = f"{yours} has shape {mine_shape}, {theirs} {shape}"
    finite = bool(np.isfinite(mine).all())
    if mine.ndim == len(shape) and 2 <= mine.ndim <= 4 and sorted(mine_shape) == sorted(shape):
        for axes in itertools.permutations(range(mine.ndim)):
            if axes == tuple(range(mine.ndim)) or tuple(mine_shape[a] for a in axes) != shape:
                continue
            if finite and agrees(mine.transpose(axes)):
                if mine.ndim == 2:
                    return "transpose", f"{yours} is {theirs} transposed"
                return (
                    "transpose",
                    f"{yours} is {theirs} with its axes in another order: yours.transpose{axes} agrees",
                )
    try:
        joint = np.broadcast_shapes(mine_shape, shape)
    except ValueError:
        joint = None
    same_size = mine.size == math.prod(shape)
    if joint == shape:
        note = f"{head}: it has {theirs}'s shape only after broadcasting, so it was not compared; return an array of shape {shape}"
        if same_size:
            values = "agree" if finite and agrees(mine.reshape(shape)) else "differ"
            note += f" (reshaped to {shape}, its values {values})"
        return "broadcast", note
    if joint == mine_shape:  # the reference broadcasts to yours: summing yours undoes that broadcast
        lead = len(mine_shape) - len(shape)
        kept = [lead + k for k, n in enumerate(shape) if n == 1 and mine_shape[lead + k] != 1]
        axes = list(range(lead)) + kept
        where = f"axis {axes[0]}" if len(axes) == 1 else f"axes {tuple(axes)}"
        if kept:
            where += " (keepdims)" if not lead else f" (keepdims for {', '.join(map(str, kept))})"
        summed = mine.sum(axis=tuple(axes), keepdims=True).reshape(shape)
        relation = f"summing {yours} over {where} gives {theirs}'s {shape}"
        if finite and agrees(summed):
            return "shape", f"{head}: {relation}, and then the values agree (a broadcast not undone)"
        return "shape", f"{head}: {relation}, but even then the values differ"
    if same_size:
        if finite and agrees(mine.reshape(shape)):
            return "shape", f"{head}: {yours} is {theirs} reshaped"
        if mine.ndim == 2 and mine.T.shape == shape:
            return (
                "shape",
                f"{head}: {yours} has {theirs}'s shape transposed, but even transposed the values differ",
            )
        return "shape", f"{head}: the same number of entries, but even reshaped the values differ"
    return "shape", head


# ---------------------------------------------------------------- central differences by replay


def _replay(graph: _Graph) -> Callable[[dict[int, np.ndarray]], float]:
    """A function computing the loss again in float64 from the recorded ops, with some leaves replaced."""
    forward_ops = [item for item in reversed(graph.order) if isinstance(item, Op)]
    leaf_values: dict[int, np.ndarray] = {}

    def evaluate(replaced: dict[int, np.ndarray]) -> float:
        values: dict[int, np.ndarray] = {}

        def value_of(parent) -> np.ndarray:
            if isinstance(parent, Tensor):
                if parent._op is None:
                    key = id(parent)
                    if key in replaced:
                        return replaced[key]
                    if key not in leaf_values:
                        leaf_values[key] = np.asarray(parent.data, dtype=np.float64)
                    return leaf_values[key]
                parent = parent._op
            return values[id(parent)]

        for op in forward_ops:
            values[id(op)] = np.asarray(op.forward(*[value_of(p) for p in op.parents]))
        return float(value_of(graph.root).sum())

    return evaluate


def _numeric_error(
    evaluate: Callable[[dict[int, np.ndarray]], float],
    leaf: Tensor,
    autodiff: np.ndarray,
    rng: np.random.Generator,
) -> float:
    """Relative error of autodiff's gradient at ``leaf`` against central differences."""
    work = np.array(leaf.data, dtype=np.float64)  # perturbed in place; the leaf itself is never touched
    replaced = {id(leaf): work}

    def fn() -> float:
        return evaluate(replaced)

    if leaf.size <= NUMERIC_FULL_SIZE:
        numeric = numerical_gradient(fn, work)
        analytic = autodiff
    else:
        directions = random_directions(leaf.shape, NUMERIC_DIRECTIONS, rng)
        numeric = np.array([directional_derivative(fn, work, d) for d in directions])
        analytic = np.array([float(np.vdot(autodiff, d)) for d in directions])
    denominator = float(np.linalg.norm(analytic) + np.linalg.norm(numeric))
    return float(np.linalg.norm(analytic - numeric)) / denominator if denominator else 0.0


# ---------------------------------------------------------------- formatting


def _shape_text(shape: tuple[int, ...]) -> str:
    return "scalar" if len(shape) == 0 else str(tuple(int(s) for s in shape))


def _number(x: float | None) -> str:
    if x is None:
        return ""
    if np.isnan(x):
        return "-"
    if x == 0:
        return "0"
    return f"{x:.2g}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.3g}"


def _named_factor(factor: float, num_examples: int | None) -> str | None:
    """ "m", "1/m", "(m-1)/m" or "m/(m-1)" when ``factor`` is one of them (to 1e-3 relative, and nearer
    it than to any other), else None."""
    if not num_examples:
        return None
    m = float(num_examples)
    candidates = {"m": m, "1/m": 1 / m}
    if m > 1:
        candidates |= {"(m-1)/m": (m - 1) / m, "m/(m-1)": m / (m - 1)}
    name, value = min(
        candidates.items(), key=lambda item: abs(np.log(abs(factor) or 1e-300) - np.log(item[1]))
    )
    return name if factor > 0 and np.isclose(factor, value, rtol=min(1e-3, 0.25 / m**2)) else None


def _factor_text(factor: float | None, num_examples: int | None) -> str:
    if factor is None:
        return ""
    text = f"{factor:.4g}"
    named = _named_factor(factor, num_examples)
    return text if named is None else f"{text} (= {named})"
