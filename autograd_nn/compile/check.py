"""Checking against eager mode: the second call, and ``check=True``.

A trace freezes whatever ``fn`` computes outside the ops. The second call for a signature runs ``fn``
eagerly once more and compares it with the trace: a constant the program holds (a held leaf, or an
op's array parameter) that came out different was computed outside the ops (NumPy on an argument,
``.item()``, a mask, a random draw), and the program is refused rather than replayed with the first
value. Arrays an op's forward computes for its own VJP (``op.saved``, e.g. LayerNorm's mean and
inverse std) are not constants: the trace does not note them. ``check=True`` runs ``fn`` eagerly
beside the next ``CHECKED_CALLS`` replays of each signature and raises, naming the first op that
differs, when they disagree (a branch taken differently later). It refuses a function with an op
that updates state outside the graph (BatchNorm's running statistics in training): each checked
call would update it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AutogradError
from ..tensor import Tensor
from .graph import Graph, Step
from .tape import run_on_tape

if TYPE_CHECKING:
    from .runtime import Program

CHECKED_CALLS = 3  # replays of each signature that check=True compares with eager
_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


def refuse_state_updates_under_check(tape: list, name: str) -> None:
    """check=True runs each checked call eagerly and replayed: an op that updates state outside the graph
    (BatchNorm's running statistics in training) would be updated twice, so it is refused."""
    for op, *_ in tape:
        if getattr(op, "updates_state", False) and getattr(op, "training", False):
            raise AutogradError(
                f"compile: {name} uses {op.label()}, which updates running statistics in place; check=True "
                "would run each checked call twice (eagerly and replayed) and update them twice: compile it "
                "without check=True, or check it in evaluation mode (model.eval())"
            )


def confirm_second_call(program: Program, fn: Callable, args: tuple, kwargs: dict) -> Tensor:
    """The second call: run ``fn`` eagerly again, and refuse the program if a value it holds as a
    constant came out different (NumPy on an argument, ``.item()``, a mask, a random draw)."""
    result, tape, _, _ = run_on_tape(fn, args, kwargs)
    _check_same_ops(program, [entry[0].label() for entry in tape])
    for position, k, first in program.confirm_leaves:
        now = tape[position][1][k]
        if now is first:
            continue
        same = not first._requires_grad and now.data.shape == first.data.shape
        if not (same and np.array_equal(now.data, first.data, equal_nan=True)):
            _refuse_a_changed_value(program, position, tape, f"its input {k}")
    for position, attribute, part, first in program.confirm_parameters:
        now = getattr(tape[position][0], attribute, None)
        now = now[part] if part is not None and isinstance(now, tuple) else now
        if not (isinstance(now, np.ndarray) and now.shape == first.shape and np.array_equal(now, first)):
            _refuse_a_changed_value(program, position, tape, f"its parameter {attribute}")
    program.confirmed = True
    return program.as_eager_gives(result)


def _refuse_a_changed_value(graph: Graph, position: int, tape: list, what: str) -> None:
    """Refuse the program: op ``position`` got ``what`` computed outside the ops, and it changed."""
    raise AutogradError(
        f"compile: {graph.name}: op {position} ({tape[position][0].label()}) got {what} as a value computed "
        "outside the ops, and it changed between the first two calls (NumPy on an argument, .item(), a "
        "mask from a comparison, a random draw); a replay would freeze the first call's value. Compute "
        "it with tensor ops or pass it as an argument, or call the function uncompiled"
    )


def eager_reference(graph: Graph, fn: Callable, args: tuple, kwargs: dict) -> list:
    """Each op's output when ``fn`` runs eagerly now; raises if it runs other ops than the trace."""
    _, tape, _, _ = run_on_tape(fn, args, kwargs)
    _check_same_ops(graph, [entry[0].label() for entry in tape])
    return [entry[2].data for entry in tape]


def _check_same_ops(graph: Graph, labels: list[str]) -> None:
    """Raise when an eager run applied other ops than the trace (a branch on tensor values)."""
    for k, (traced, now) in enumerate(zip(graph.tape_labels, [*labels, None], strict=False)):
        if traced != now:
            raise AutogradError(
                f"compile(check=True): {graph.name} ran other ops than at its trace: op {k} was {traced}, "
                f"now {now or 'nothing'}; Python control flow that depends on tensor values is frozen "
                "at trace time, so this function cannot be compiled as it is"
            )
    if len(labels) > len(graph.tape_labels):
        raise AutogradError(
            f"compile(check=True): {graph.name} ran more ops than at its trace (from op "
            f"{len(graph.tape_labels)}, {labels[len(graph.tape_labels)]}); Python control flow that "
            "depends on tensor values is frozen at trace time"
        )


def compare(program: Program, step: Step, reference: list) -> None:
    """Raise when the value ``step`` just replayed differs from the op's output in the eager run."""
    (out,) = step.outs
    position = program.tape_position.get(out)
    if position is None:
        return
    replayed, eager = program.env[out], reference[position]
    rtol = _RTOL.get(np.dtype(eager.dtype), 1e-9)
    if replayed.shape != eager.shape or not np.allclose(
        replayed, eager, rtol=rtol, atol=rtol, equal_nan=True
    ):
        difference = (
            np.max(np.abs(np.asarray(replayed, np.float64) - eager))
            if replayed.shape == eager.shape
            else "shape"
        )
        raise AutogradError(
            f"compile(check=True): {program.name}: op {position} ({step.label}) gives other values when "
            f"replayed than eagerly (largest difference {difference}): a value fn computes outside the "
            "ops, or a branch on tensor values, was frozen at trace time"
        )
