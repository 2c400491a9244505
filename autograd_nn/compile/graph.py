"""The program's graph form: numbered values, the traced ops as nodes, and the steps that run them.

A value is an index into ``shapes`` and ``dtypes``: an argument, a held leaf, an op's output, a
gradient. A node is ``(op, ins, out, recorded)``: the traced op (a copy), the values it reads, the
value it makes, and whether eager mode recorded it (it was not under ``no_grad``). A ``Step`` is one
instruction of the straight-line program the later stages build from the nodes: a forward step, a
VJP, or a sum of gradient contributions. Each stage fills its part of a ``Graph`` (the fields below
say which); none of them runs anything.
"""

from __future__ import annotations

import numpy as np


class Stand:
    """What a VJP gets for a value its op does not keep: only the shape and dtype."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


class Step:
    """One instruction of the program: ``run(env)`` reads values ``ins`` and writes values ``outs``."""

    __slots__ = ("how", "inplace", "ins", "label", "node", "outs", "scratch")

    def __init__(
        self, label: str, ins: list[int], outs: list[int], inplace=(), node: int | None = None, how: str = ""
    ):
        self.label, self.ins, self.outs = label, ins, outs
        self.inplace = inplace  # (out, candidate inputs it may overwrite) pairs
        self.node = node  # the index of the traced op it runs (None: a sum of gradients)
        self.scratch: tuple = ()  # (shape, dtype) of each buffer the step needs only while it runs
        # How its op runs: "scalar" (a SCALAR_RULES expression), "expression" (a fused op written
        # out), "into" (forward_into/vjp_into a buffer), "passes" (g handed on) or "plain" (forward/vjp)
        self.how = how


class Graph:
    """The values and nodes of one traced signature, and the steps built from them.

    ``trace.record`` fills the values, the leaves and the nodes; ``fuse.fuse_patterns`` rewrites the
    nodes; ``backward`` adds which values carry a gradient, and the steps with the values' kinds.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name  # the traced function's, for messages
        self.shapes: list[tuple[int, ...]] = []
        self.dtypes: list[np.dtype] = []
        # Filled by the trace
        self.nodes: list[tuple] = []  # (op, ins, out, recorded) the result depends on, in order
        self.result: int = -1
        self.result_name: str | None = None
        self.arg_values: list[tuple[int, int]] = []  # (value, argument index)
        self.leaf_values: list[tuple[int, object]] = []  # (value, tensor held by identity)
        self.grad_leaf: dict[int, object] = {}  # value -> argument index or Tensor, for leaves needing grad
        self.fresh_at_trace: set[int] = set()  # values whose op gave a new array, sharing no input's memory
        self.tape_position: dict[int, int] = {}  # value -> the index of the tape entry that made it
        self.tape_labels: list[str] = []  # what check=True compares a call's ops with
        # (op, attribute, position or None, read(arguments) -> the array, the argument's index)
        self.parameters_from_arguments: list[tuple] = []
        self.given_tensor: list[bool] = []  # whether argument i came as a Tensor (its .data is read)
        # What the second call must find unchanged: (tape position, input k, held leaf) and
        # (tape position, attribute, position in a tuple or None, array) of the ops that matter
        self.confirm_leaves: list[tuple] = []
        self.confirm_parameters: list[tuple] = []
        # Filled by the backward's construction
        self.needs_grad: set[int] = set()
        self.differentiable = False  # whether the result carries a gradient
        self.ops: list = []  # the op of each node
        self.steps: list[Step] = []  # the forward steps, then the VJPs and the sums of gradients
        self.forward_steps = 0  # how many of the steps are the forward's
        self.kind: dict[int, str] = {}  # value -> "external" | "buffer" | "fresh"
        self.seed: int = -1  # the value holding the result's gradient
        self.summed_from_g: set[int] = set()  # gradient values a passed-through g was summed into
        self.leaf_grads: list[tuple[int, int]] = []  # (leaf value, its gradient's value)

    def new_value(self, shape: tuple[int, ...], dtype: np.dtype) -> int:
        """A new value of this shape and dtype; its index."""
        self.shapes.append(shape)
        self.dtypes.append(dtype)
        return len(self.shapes) - 1
