"""Replay: a signature's program run call after call, and the node its results hang from.

A later call fills the leaves and runs the forward steps. The result it returns, and the gradients
its ``backward()`` leaves in ``.grad``, are fresh arrays that belong to the caller: the program never
writes into them. The result's node is one ``CompiledCall`` op whose VJP runs the planned backward, so
``backward()``, ``ag.grad`` and further eager ops on the result work as in eager mode (the engine
accumulates into ``.grad`` with its usual rules). Under ``no_grad`` only the forward runs. Backward
through an older result whose buffers a newer call has reused replays that call's forward first; a
leaf changed in place since the forward (its ``_version``) is an error. An op whose forward updates
arrays it was given (``updates_state``: BatchNorm's running statistics in training) runs its plain
forward at every replay, so the update happens once per call as in eager mode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from .. import ops
from ..errors import AutogradError
from ..grad_mode import STATE
from ..recording import _new
from ..tensor import _HOOKS, Tensor, _accumulate_into_leaf
from .backward import build_steps, mark_gradients
from .check import compare, confirm_second_call, eager_reference
from .codegen import generate_code
from .fuse import fuse_patterns
from .graph import Graph
from .plan import plan_buffers
from .tape import Outside
from .trace import record


class Program(Graph):
    """The traced ops of one signature as a planned straight-line program, and its replays: the
    ``Graph`` the stages fill, the buffer plan, and the generated code's functions and arrays."""

    def __init__(
        self, tape: list, result: Tensor, arguments: tuple, name: str, wrapped: dict, outside: Outside
    ) -> None:
        super().__init__(name)
        self.replays = 0
        self.lock = threading.Lock()
        self.owner: CompiledCall | None = None  # the call whose values the buffers hold
        self.confirmed = False  # whether the second call agreed with the trace
        # The stages, in order (see the package's docstring)
        record(self, tape, result, arguments, wrapped, outside)
        self.nodes = fuse_patterns(self, self.nodes)
        mark_gradients(self)
        build_steps(self)
        plan = self.plan = plan_buffers(self)
        self.slot, self.slot_specs, self.scratch_slots = plan.slot, plan.slot_specs, plan.scratch_slots
        code = generate_code(self, plan)
        self.source, self.buffers, self.env = code.source, code.buffers, code.env
        self.externals, self.read_tensors, self.unit_seed = code.externals, code.read_tensors, code.unit_seed
        self.leaves_only, self.fits = code.leaves_only, code.fits
        self._enter, self._versions, self._targets = code.enter, code.versions, code.targets
        self._forward, self._checked_forward, self._backward = (
            code.forward,
            code.checked_forward,
            code.backward,
        )

    def as_eager_gives(self, result: Tensor) -> Tensor:
        """A result of ``fn`` run on the tape (recording on), as eager mode under the caller's mode gives it."""
        if STATE.enabled and self.differentiable:
            return result
        detached = result.detach()  # nothing would have been recorded
        detached._name = None
        return detached

    def confirm(self, fn: Callable, args: tuple, kwargs: dict) -> Tensor:
        """The second call, run eagerly and compared with the trace (``check.confirm_second_call``)."""
        return confirm_second_call(self, fn, args, kwargs)

    def replay(self, args: tuple, kwargs: dict, arguments: tuple, check: bool, fn: Callable) -> Tensor | None:
        """Run the forward for these arguments; None when a held leaf no longer fits the trace."""
        env = self.env
        reference = eager_reference(self, fn, args, kwargs) if check else None
        with self.lock:
            externals = self._enter(env, arguments)
            if externals is None:
                return None
            call = CompiledCall(self, arguments, externals)
            if self.parameters_from_arguments:
                call.parameters = [entry[3](arguments) for entry in self.parameters_from_arguments]
                self._set_parameters(call.parameters)
            if reference is None:
                data = self._forward(env)
            else:
                data = self._checked_forward(env, lambda s: compare(self, self.steps[s], reference))
            self.owner = call
        self.replays += 1
        if not (STATE.enabled and self.differentiable):
            result = _new(data, False)
            result._name = self.result_name
            return result
        result = _new(data, True)
        result.__class__ = _CompiledResult
        result._name = self.result_name
        node = call
        node.versions = self._versions(arguments)
        node.targets = node.parents = self._targets(arguments)
        node.output, node.output_name, node.scope = None, self.result_name, STATE.scope
        node.shape, node.dtype = data.shape, data.dtype
        result._op = node
        return result

    def _set_parameters(self, values: list) -> None:
        for (op, attribute, position, _, _), value in zip(
            self.parameters_from_arguments, values, strict=True
        ):
            if position is None:
                setattr(op, attribute, value)
            else:
                parts = list(getattr(op, attribute))
                parts[position] = value
                setattr(op, attribute, tuple(parts))

    def backward(self, call: CompiledCall, g: np.ndarray) -> tuple:
        """The gradients of the call's leaves (``node.targets`` order), given g for its result."""
        if self._versions(call.arguments) != call.versions:
            self._changed_in_place(call)
        with self.lock:
            env = self.env
            if self.owner is not call:  # a later call reused the buffers: this call's forward again
                for v, array in zip(self.externals, call.externals, strict=True):
                    env[v] = array
                if self.parameters_from_arguments:
                    self._set_parameters(call.parameters)
                self._forward(env)
            env[self.seed] = g
            grads = self._backward(env)
            self.owner = None  # the backward overwrote values the forward left
        return grads

    def _changed_in_place(self, call: CompiledCall) -> None:
        """Raise, naming the tensor the call read that was changed in place since."""
        for read, then, now in zip(
            self.read_tensors, call.versions, self._versions(call.arguments), strict=True
        ):
            if then != now:
                t = read(call.arguments)
                label = f" ({t.name})" if t.name else ""
                raise AutogradError(
                    f"compiled {self.name}: a tensor of shape {t.shape}{label} that the call read was changed "
                    "in place after the call and before its backward, so the gradients would be wrong; "
                    "call backward before changing it (e.g. before optimizer.step())"
                )


class CompiledCall(ops.Op):
    """One replay, and the node of its result: its VJP runs the planned backward of that call. It holds
    the call's arguments, the arrays its leaves had and their versions (to replay the forward again,
    and to check the leaves were not changed in place since)."""

    __slots__ = ("arguments", "externals", "parameters", "program", "versions")
    name = "compiled"
    keeps_inputs = False

    def __init__(self, program: Program, arguments: tuple, externals: list) -> None:
        self.program, self.arguments, self.externals = program, arguments, externals
        self.versions: tuple = ()
        self.parameters: list = []  # the argument arrays its ops took as parameters (an index, say)

    def details(self) -> str:
        return self.program.name

    def forward(self, *xs):
        raise AutogradError("compiled: a compiled call's node is created by its replay, never applied")

    def vjp(self, g, out, *leaves):
        if not isinstance(g, np.ndarray):
            raise AutogradError(
                f"compiled {self.program.name}: backward(create_graph=True) cannot go through a compiled "
                "call; call the function uncompiled to differentiate its gradients"
            )
        return self.program.backward(self, g)


class _CompiledResult(Tensor):
    """The result of a replay that records a gradient: ``backward()`` on it runs the planned backward
    directly and gives the leaves their gradients as the engine would (used, not copied: they are fresh)."""

    __slots__ = ()

    def backward(self, grad=None, create_graph: bool = False) -> None:
        node = self._op
        if grad is not None or create_graph or STATE.anomaly or self.data.size != 1:
            return super().backward(grad, create_graph)
        leaves = node.targets
        if not (node.program.leaves_only or all([isinstance(t, Tensor) for t in leaves])) or (
            _HOOKS and any(id(t) in _HOOKS for t in leaves)
        ):
            return super().backward(grad, create_graph)  # a node of an eager graph, or hooks: the engine
        recording = STATE.enabled
        STATE.enabled = False
        seed = node.program.unit_seed
        try:
            grads = node.program.backward(node, seed)
        finally:
            STATE.enabled = recording
        for leaf, g in zip(leaves, grads, strict=True):
            if g is seed or g.base is seed:  # the seed passed straight through: the caller's own array
                g = g.copy()
            if leaf._grad is None:  # the common case, as _accumulate_into_leaf does it
                leaf._grad = g
            else:
                _accumulate_into_leaf(leaf, g, True, False)
