"""Buffer planning: an array for each written-into value, shared by values whose lifetimes do not overlap.

The planner reads a ``Graph``'s steps and the kind of each value, and writes nothing but its
``BufferPlan``. A "buffer" value (written by ``forward_into``, ``vjp_into`` or a sum of gradients)
gets a slot, an array of its shape and dtype that the program allocates once. A "fresh" value (a
plain ``forward`` or ``vjp`` result) gets no slot, but may share memory with any value its step read,
so it keeps those alive as long as itself; an "external" value (an argument, a held leaf, the seed)
belongs to the caller. Slots are handed out in one linear scan over the steps, as a register
allocator does: a slot is free again once every value that may share its memory is dead, and a later
value of the same shape and dtype takes it. A step that declares so (``Step.inplace``) may write over
an input that dies at that step and that no other input shares. Scratch buffers are lent for their
step only. The result and the leaves' gradients escape to the caller: never taken from the pool.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .graph import Graph, Step


class BufferPlan:
    """Where each buffer value lives: its slot, the slots' shapes and dtypes, and what was decided on the way."""

    def __init__(self) -> None:
        self.slot: dict[int, int] = {}  # buffer value -> its slot
        self.slot_specs: list[tuple[tuple[int, ...], np.dtype]] = []  # slot -> (shape, dtype)
        self.scratch_slots: dict[int, list[int]] = {}  # step -> the slots of its scratch buffers
        self.roots: dict[int, frozenset] = {}  # value -> the buffer values whose memory it may share
        self.escaping: set[int] = set()  # the result and the leaves' gradients: handed to the caller
        self.in_place: set[int] = set()  # buffer values whose step may write them over an input


def plan_buffers(graph: Graph) -> BufferPlan:
    """Give every buffer value an array, sharing one array among values whose lifetimes do not overlap.

    A "fresh" value (a plain forward or VJP result) may share memory with any value its step
    read, so it keeps those alive as long as itself. The result and the leaves' gradients
    escape to the caller: they are allocated anew at every call, never taken from the pool.
    """
    plan = BufferPlan()
    steps, kind = graph.steps, graph.kind
    roots: dict[int, frozenset] = {}  # value -> buffer values whose memory it may share
    for v, k in kind.items():
        if k == "buffer":
            roots[v] = frozenset([v])
        elif k == "external":
            roots[v] = frozenset()
    for s, step in enumerate(steps):
        shared = frozenset().union(*(roots[i] for i in step.ins))
        if s < graph.forward_steps and (step.how != "plain" or step.outs[0] in graph.fresh_at_trace):
            shared = frozenset()  # its own array (or scalar): written into, or new at the trace
        for o in step.outs:
            if kind[o] == "fresh":
                roots[o] = frozenset() if o in graph.summed_from_g else shared
    plan.roots = roots
    last_use = defaultdict(lambda: -1)
    for s, step in enumerate(steps):
        for i in step.ins:
            last_use[i] = s
        for o in step.outs:
            last_use[o] = max(last_use[o], s)
    end = len(steps)
    plan.escaping = {graph.result} | {g for _, g in graph.leaf_grads}
    for v in plan.escaping:
        last_use[v] = end
    dies = {}  # buffer value -> the step after which no value sharing its memory is used
    for v, r in roots.items():
        for b in r:
            dies[b] = max(dies.get(b, -1), last_use[v])
    for b in dies:
        if b in plan.escaping:
            dies[b] = end
    free: dict[tuple, list[int]] = defaultdict(list)
    holder: dict[int, int] = {}  # slot -> the value it holds now
    dying_at = defaultdict(list)
    for b, s in dies.items():
        dying_at[s].append(b)
    for s, step in enumerate(steps):
        for o in step.outs:
            if kind[o] != "buffer" or o in plan.escaping:
                continue
            spec = (graph.shapes[o], graph.dtypes[o])
            slot = _overwritable(graph, plan, o, step, s, dies, spec)
            if slot is None:
                pool = free[spec]
                slot = pool.pop() if pool else len(plan.slot_specs)
                if slot == len(plan.slot_specs):
                    plan.slot_specs.append(spec)
            plan.slot[o] = slot
            holder[slot] = o
        taken = []  # scratch: free slots (never this step's inputs or outputs), free again right after
        for spec in step.scratch:
            pool = free[spec]
            taken.append(pool.pop() if pool else len(plan.slot_specs))
            if taken[-1] == len(plan.slot_specs):
                plan.slot_specs.append(spec)
        plan.scratch_slots[s] = taken
        for b in dying_at[s]:
            slot = plan.slot.get(b)
            if slot is not None and holder.get(slot) == b:
                free[plan.slot_specs[slot]].append(slot)
                holder[slot] = -1
        for slot in taken:
            free[plan.slot_specs[slot]].append(slot)
    plan.in_place = {o for step in steps for o, _ in step.inplace if o in plan.slot}
    return plan


def _overwritable(
    graph: Graph, plan: BufferPlan, o: int, step: Step, s: int, dies: dict, spec: tuple
) -> int | None:
    """The slot of an input ``o`` may overwrite: dead after this step, not shared by other inputs."""
    for out, candidates in step.inplace:
        if out != o:
            continue
        for v in candidates:
            if graph.kind.get(v) != "buffer" or v in plan.escaping or v not in plan.slot:
                continue
            if (graph.shapes[v], graph.dtypes[v]) != spec or dies.get(v) != s:
                continue
            if any(w != v and v in plan.roots[w] for w in step.ins):
                continue
            if (  # a VJP written over g may overwrite everything it gets
                step.node is not None
                and s >= graph.forward_steps
                and v == step.ins[0]
                and not _vjp_may_overwrite(graph, plan, step, s, dies)
            ):
                continue
            return plan.slot[v]
    return None


def _vjp_may_overwrite(graph: Graph, plan: BufferPlan, step: Step, s: int, dies: dict) -> bool:
    """An in-place VJP may overwrite every array it gets: each must be a buffer dying here."""
    return all(graph.kind[i] == "buffer" and i not in plan.escaping and dies.get(i) == s for i in step.ins)
