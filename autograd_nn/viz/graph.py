"""Draw a recorded computation graph with Graphviz: ``draw_graph(loss)`` and ``save_graph(graph, path)``.

``draw_graph`` walks the graph backwards from a tensor or a list of them (breadth first, without
recursion, so a chain of 100,000 operations is fine) and returns a ``Drawing``, a ``graphviz.Digraph``
that also carries the data of the interactive page. In Jupyter it displays inline as SVG (the graphviz
package gives it a ``_repr_mimebundle_``); elsewhere ``save_graph`` writes it as SVG, PNG, PDF, DOT
source, or an HTML page (``viz.page``) that pans, zooms, highlights dependencies and steps through the
backward pass.

Legend (the one people know from torchviz)::

    grey box          an operation, labelled like "matmul" or "sum(axis=1)"
    light blue box    a parameter: a leaf with requires_grad=True (name, shape, dtype)
    white ellipse     an input or constant (requires_grad=False); an unnamed scalar constant shows its value
    ivory box         an intermediate result; an unnamed one is named, in italics, by the expression
                      that computed it from its inputs' names ("theta2.T", "X @ theta1.T", "sigmoid(…)")
    green box         an output: a tensor that was drawn
    labelled frame    a name_scope; nested scopes ("net/layer1") are nested frames
    3-D box           a collapsed name_scope (``collapse=``): its ops as one node, between its inputs
                      and the values it hands on
    0, 1, ... in blue at an arrow head: the arrow brings the op's first (0) or second (1) operand, for
                      ops whose operand order matters (sub, div, matmul, ...; not add or mul)
    yellow note       how many tensors and ops were left out past max_nodes

In the forward view arrows follow the data: input tensor -> op -> output tensor. In the backward view
(``backward=True``) red dashed arrows run the other way, from the output towards the parameters, as the
gradients do; grey dotted lines lead to inputs and constants, which receive no gradient.

Tensor labels give the name (if any), the shape ("(5000, 25)", or "scalar") and the dtype; with
``show_values`` a summary of the values (the values themselves for tensors of at most 6 elements, else
mean, min and max), and, when a gradient is present (after ``backward()``) and ``show_grads`` is on, the
gradient's norm and mean. An intermediate's values are usually freed once used: they can be shown only
when the graph was recorded under ``ag.keep_values()``. Hovering a node shows its full name, shape,
dtype, values, gradients (``.grad``, and the gradient of the first output reaching it, from a backward
pass the drawing runs without touching ``.grad``) and, under ``keep_values``, the user's line of code
that created it.

Example, the tutorial's 400-25-10 network::

    with ag.name_scope("layer1"):
        a1 = ag.sigmoid(X @ theta1.T + b1)
    with ag.name_scope("layer2"):
        h = ag.sigmoid(a1 @ theta2.T + b2)
    with ag.name_scope("cost"):
        J = -(Y * ag.log(h) + (1 - Y) * ag.log(1 - h)).sum() / m
    J.backward()
    save_graph(draw_graph(J, title="400-25-10 network"), "network.svg")

The output is deterministic: nodes are named ``t0, t1, ...`` and ``op0, op1, ...`` in the order the walk
meets them, so drawing the same computation twice gives the same DOT text.
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import graphviz
import numpy as np

from ..errors import AutogradError
from ..files import write_atomically
from ..grad_mode import ValueSummary
from ..ops import Op
from ..tensor import Tensor, _backpropagate, _target

__all__ = ["LEGEND", "Drawing", "GraphvizNotFoundError", "draw_graph", "save_graph"]

LEGEND = (
    "grey box: operation (e.g. matmul, sum(axis=1)); "
    "light blue box: parameter (requires_grad leaf); "
    "white ellipse: input or constant; "
    "ivory box: intermediate result; "
    "green box: output; "
    "labelled frame: name_scope; "
    "yellow note: nodes left out past max_nodes; "
    "3-D box: a collapsed name_scope (its ops drawn as one node); "
    "blue 0 or 1 at an arrow head: the arrow brings the op's first (0) or second (1) operand, "
    "for ops whose operand order matters (a - b, a / b, a @ b, but not + or *); "
    "an italic name: an unnamed intermediate, named by the expression that computed it; "
    "backward view: red dashed arrows show gradients flowing from the output to the parameters"
)

_COMPARE_LEGEND = (
    "green / red box: a hand-derived gradient that agrees / disagrees with autodiff (compare=), "
    "the first mismatch bold"
)

FORMATS = ("svg", "png", "pdf", "dot", "html")

# Fill colours and shapes of the node kinds (torchviz's legend: grey ops, blue parameters, green output).
_STYLES = {
    "op": {"shape": "box", "style": "filled", "fillcolor": "lightgrey", "color": "grey40"},
    "parameter": {"shape": "box", "style": "filled,rounded", "fillcolor": "lightblue", "color": "steelblue4"},
    "constant": {"shape": "ellipse", "style": "filled", "fillcolor": "white", "color": "grey30"},
    "intermediate": {"shape": "box", "style": "filled,rounded", "fillcolor": "ivory", "color": "grey50"},
    "output": {
        "shape": "box",
        "style": "filled,rounded,bold",
        "fillcolor": "darkolivegreen1",
        "margin": "0.16,0.09",
        "color": "darkgreen",
    },
    "note": {"shape": "note", "style": "filled", "fillcolor": "lightyellow", "color": "goldenrod3"},
    "scope": {"shape": "box3d", "style": "filled", "fillcolor": "#dbe7f6", "color": "steelblue4"},
}
_OPERAND = {
    "fontsize": "9",
    "fontname": "Helvetica",
    "fontcolor": "blue4",
    "labeldistance": "1.4",
    "labelangle": "30",
}
_COMMUTATIVE = frozenset({"add", "mul"})  # ops whose operands may be swapped: their edges need no label
_CLUSTER_FILLS = ("#f3f6fb", "#e6edf7", "#d9e4f3")  # one shade darker per nesting level
_SHORT_SUMMARY = 32  # a collapsed scope lists the kinds of its ops when they fit in this many characters
_TINY = 6  # tensors with at most this many elements show their values, bigger ones a summary
_EXPRESSION_CAP = 24  # an unnamed intermediate's derived name is at most this long (longer inputs become "…")


class GraphvizNotFoundError(AutogradError, RuntimeError):
    """Graphviz's ``dot`` program is missing, so a graph could not be rendered (its DOT source was saved)."""

    def __init__(self, message: str, dot_path: Path | None = None) -> None:
        super().__init__(message)
        self.dot_path = dot_path


# ---------------------------------------------------------------- drawing


class Drawing(graphviz.Digraph):
    """A ``graphviz.Digraph`` that also carries what the interactive page needs (``page_data``: the
    nodes, their details and dependencies, and the backward pass step by step), so
    ``save_graph(drawing, "graph.html")`` can write the page. Displays inline in Jupyter as SVG."""

    def __init__(self, *args, page_data: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.page_data: dict = page_data if page_data is not None else {}
        self._names: dict[tuple[str, int], str] = {}  # see _names_by_source

    def copy(self) -> Drawing:
        twin = super().copy()
        twin.page_data, twin._names = self.page_data, self._names
        return twin

    def node_name(self, t: Tensor | Op) -> str | None:
        """The DOT name (also the id in the SVG and the page) of the node that draws tensor or op
        ``t``; None when it was not drawn. Something inside a collapsed scope gives the scope's node."""
        key = ("op", id(t)) if isinstance(t, Op) else ("value", id(_target(t)))
        return self._names.get(key)


def draw_graph(
    root: Tensor | Sequence[Tensor],
    *,
    show_values: bool = False,
    show_grads: bool = True,
    backward: bool = False,
    max_nodes: int = 500,
    rankdir: str = "TB",
    title: str | None = None,
    collapse: bool | Iterable[str] = False,
    expand: Iterable[str] = (),
    compare=None,
) -> Drawing:
    """The graph that computed ``root`` (a tensor, or a list of them) as a ``graphviz.Digraph``.

    One node per tensor and per operation. ``show_values`` adds a summary of each tensor's values
    (intermediates keep theirs only when recorded under ``ag.keep_values()``); ``show_grads`` (on by
    default) adds the norm and mean of gradients that ``backward()`` left in ``.grad``.
    ``backward=True`` draws the gradient flow: arrows from the output towards the parameters. At most
    ``max_nodes`` nodes are drawn, those nearest the outputs; a note says how many more were left out.
    ``rankdir`` is "TB" (top to bottom, the default), "LR", "BT" or "RL". Tensors and ops created
    inside ``name_scope`` blocks are grouped into labelled frames; ``collapse=True`` draws every scope
    as one node with its inputs and outputs instead (or only the scopes listed, e.g.
    ``collapse=["layer1"]``), and ``expand`` opens some of them again (``collapse=True,
    expand=["layer2"]``). Edges into ops whose operand order matters are labelled 0, 1, ...
    ``compare``, a ``GradientReport`` from ``compare_gradients``, colours the compared tensors (green:
    your gradient agrees, red: it does not), labels them with the verdict and relative error, and
    draws the first mismatch bold: the one to fix first (the page colours them too).

    The result is a ``Drawing`` (a ``graphviz.Digraph``): it displays inline in Jupyter, and
    ``save_graph`` writes it as SVG, PNG, PDF, DOT or an interactive HTML page. See the module
    docstring (or ``LEGEND``) for what the colours and shapes mean.
    """
    roots = [root] if isinstance(root, Tensor) else list(root) if isinstance(root, (list, tuple)) else None
    if not roots or not all(isinstance(r, Tensor) for r in roots):
        got = type(root).__name__ if roots is None or not roots else "a list holding other objects"
        raise TypeError(f"draw_graph: expected a Tensor or a non-empty list of Tensors, got {got}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, (int, np.integer)):
        raise TypeError(f"draw_graph: max_nodes must be an int, got {type(max_nodes).__name__}")
    if max_nodes < 1:
        raise ValueError(f"draw_graph: max_nodes must be at least 1, got {max_nodes}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be one of 'LR', 'TB', 'RL', 'BT', got {rankdir!r}")
    folding = _Folding(collapse, expand)

    order, inputs = _breadth_first(roots)
    folding.check(order)
    root_values = [order[k] for k in range(len(order)) if isinstance(order[k], _Value) and order[k].is_root]
    home = _homes(order, inputs, folding)  # id(item) -> the collapsed scope that swallows it, or None

    # Display nodes: every item, or for a swallowed one the node of its collapsed scope.
    names: dict[int, str] = {}  # id(value or op) -> DOT node name
    display: list[_Value | Op | str] = []  # items and scope names, in the order the walk meets them
    scope_names: dict[str, str] = {}
    scope_ops: dict[str, list[Op]] = {}
    counts = {"t": 0, "op": 0, "scope": 0}
    for item in order:
        scope = home[id(item)]
        if scope is not None:
            if scope not in scope_names:
                scope_names[scope] = f"scope{counts['scope']}"
                counts["scope"] += 1
                display.append(scope)
                scope_ops[scope] = []
            names[id(item)] = scope_names[scope]
            if isinstance(item, Op):
                scope_ops[scope].append(item)
            continue
        prefix = "op" if isinstance(item, Op) else "t"
        names[id(item)] = f"{prefix}{counts[prefix]}"
        counts[prefix] += 1
        display.append(item)
    drawn, left_out = display[:max_nodes], display[max_nodes:]
    drawn_names = {_display_name(d, names, scope_names) for d in drawn}

    if title is None and backward:
        title = "Backward view: gradients flow from the output to the parameters"
    elif backward:
        title = f"{title} (backward view)"
    graph = Drawing(
        name="autograd_nn",
        graph_attr={
            "rankdir": rankdir,
            "fontname": "Helvetica",
            "nodesep": "0.2",
            "ranksep": "0.3",
            "pad": "0.2",
            **(
                {"label": f"<<b>{html.escape(title)}</b>>", "labelloc": "t", "fontsize": "18"}
                if title is not None
                else {}
            ),
        },
        node_attr={"fontname": "Helvetica", "fontsize": "11", "margin": "0.12,0.06", "height": "0.3"},
        edge_attr={"arrowsize": "0.7", "color": "grey25"},
    )
    # The backward pass of the first output, for the tooltips and the page's steps (drawn nodes only).
    shown = [item for item in order if names[id(item)] in drawn_names]
    flow = _gradient_flow(
        roots[0],
        {item.op if item.op is not None else item.tensor for item in shown if isinstance(item, _Value)},
        {item for item in shown if isinstance(item, Op)},
    )

    unnamed = [item for item in drawn if isinstance(item, _Value) and _tensor_kind(item) == "intermediate"]
    expressions = _expressions(unnamed, inputs)  # id(value) -> "theta2.T", "X @ theta1.T", ...

    # Node statements, grouped by scope so that each open scope becomes one (possibly nested) cluster.
    # Emitted in the order the layout reads (inputs first, or the output first in the backward view):
    # Graphviz then stacks the scopes down the page instead of spreading them sideways.
    nodes: dict[str, dict] = {}  # DOT name -> the page's record of it
    by_scope: dict[str | None, list[tuple[str, dict[str, str]]]] = {None: []}
    for item in drawn if backward else reversed(drawn):
        if isinstance(item, str):  # a collapsed scope
            name = scope_names[item]
            details = _scope_details(item, scope_ops[item])
            kind, label, cluster = "scope", _scope_label(item, scope_ops[item]), folding.open_part(item)
        elif isinstance(item, _Value):
            name = names[id(item)]
            kind = _tensor_kind(item)
            expression = expressions.get(id(item)) if kind == "intermediate" else None
            details = _tensor_details(item, kind, flow, expression)
            label = _tensor_label(item, kind, show_values, show_grads, expression)
            cluster = folding.open_part(item.scope)
        else:
            name = names[id(item)]
            kind, label = "op", _plain(item.label())
            details = _op_details(item)
            cluster = folding.open_part(getattr(item, "scope", None))
        attrs = {"label": label, "tooltip": _plain("\n".join(details)), "id": name, **_STYLES[kind]}
        _scope_bucket(by_scope, cluster).append((name, attrs))
        nodes[name] = {"kind": kind, "title": details[0], "details": details, "inputs": []}
        if compare is not None and isinstance(item, _Value):
            status = _mark_compared(attrs, item, compare)
            if status is not None:
                nodes[name]["status"] = status
    _add_nodes_in_clusters(graph, by_scope)

    # Edges, in data-flow direction (reversed in the backward view); several between the same two
    # display nodes (into or out of a collapsed scope) are drawn once.
    cut: set[str] = set()  # drawn nodes with inputs that were not drawn
    edges: dict[tuple[str, str], list] = {}  # (source, target) -> [carries a gradient, operand label]
    for item in order:
        here = names[id(item)]
        if here not in drawn_names:
            continue
        if isinstance(item, _Value):
            sources = [] if item.op is None else [(item.op, True, None)]
        else:
            ordered = _operand_order_matters(item)
            sources = [
                (parent, needed, str(i) if ordered and home[id(item)] is None else None)
                for i, (parent, needed) in enumerate(zip(inputs[id(item)], item.needs_grad, strict=True))
            ]
        for parent, needed, operand in sources:
            there = names[id(parent)]
            if there == here:
                continue  # inside one collapsed scope
            if there not in drawn_names:
                cut.add(here)
                continue
            edge = edges.setdefault((there, here), [False, None])
            edge[0] = edge[0] or needed
            edge[1] = operand if edge[1] is None else f"{edge[1]},{operand}" if operand else edge[1]
    for (source, target), (needed, operand) in edges.items():
        _edge(graph, source, target, backward, carries_grad=needed, operand=operand)
        nodes[target]["inputs"].append(source)

    if left_out:
        n_tensors = sum(1 for item in left_out if isinstance(item, _Value))
        n_scopes = sum(1 for item in left_out if isinstance(item, str))
        n_ops = len(left_out) - n_tensors - n_scopes
        scopes = f" and {n_scopes:,} collapsed scopes" if n_scopes else ""
        note = (
            f"… {len(left_out):,} more nodes not drawn (max_nodes={max_nodes:,})\n"
            f"{n_tensors:,} tensors{',' if scopes else ' and'} {n_ops:,} ops{scopes}"
        )
        graph.node(
            "omitted",
            label=_plain(note),
            tooltip=_plain(note.replace("\n", ": ")),
            id="omitted",
            **_STYLES["note"],
        )
        edge_style = {"style": "dashed", "color": "goldenrod3"}
        for name in sorted(cut, key=lambda n: list(nodes).index(n)):
            if backward:
                graph.edge(name, "omitted", **edge_style)
            else:
                graph.edge("omitted", name, **edge_style)

    graph._names = {key: name for key, name in _names_by_source(order, names).items() if name in drawn_names}
    graph.page_data = {
        "title": title or "autograd_nn graph",
        "legend": LEGEND + ("; " + _COMPARE_LEGEND if compare is not None else ""),
        "outputs": [names[id(v)] for v in root_values if names[id(v)] in drawn_names],
        "nodes": nodes,
        "steps": _steps(flow, graph._names),
        "steps_note": flow.failure,
    }
    return graph


def _display_name(item, names: dict[int, str], scope_names: dict[str, str]) -> str:
    return scope_names[item] if isinstance(item, str) else names[id(item)]


def _names_by_source(order: list, names: dict[int, str]) -> dict[tuple[str, int], str]:
    """DOT names keyed by what the engine holds: ("op", id(op)) for an op's node and ("value",
    id(op or leaf)) for a value's node (keyed like ``tensor._target``)."""
    keys: dict[tuple[str, int], str] = {}
    for item in order:
        if isinstance(item, Op):
            keys["op", id(item)] = names[id(item)]
        else:
            keys["value", id(item.op if item.op is not None else item.tensor)] = names[id(item)]
    return keys


class _Folding:
    """Which scopes are collapsed: ``collapse`` (True: all; or a list of full scope names) minus
    ``expand``. An item is swallowed by the outermost collapsed scope around it."""

    def __init__(self, collapse, expand) -> None:
        if isinstance(collapse, str) or isinstance(expand, str):
            raise TypeError("draw_graph: collapse and expand take a list of scope names, not one string")
        self.all = collapse is True
        self.listed = set() if isinstance(collapse, bool) else {str(s) for s in collapse}
        self.expanded = {str(s) for s in expand}
        self._swallowing: dict[str, str | None] = {}  # a graph has few scopes and many nodes

    def check(self, order: list) -> None:
        """Refuse scope names the graph does not have (a typo would silently collapse nothing)."""
        if not (self.listed or self.expanded):
            return
        present: set[str] = set()
        for item in order:
            scope = getattr(item, "scope", None)
            if scope is not None and scope not in present:
                parts = scope.split("/")
                present.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
        for option, names in (("collapse", self.listed), ("expand", self.expanded)):
            unknown = sorted(names - present)
            if unknown:
                known = ", ".join(sorted(present)) or "none"
                raise ValueError(
                    f"draw_graph: {option} names scope {unknown[0]!r}, which is not in the graph (its scopes: {known})"
                )

    def collapsed(self, scope: str) -> bool:
        return scope not in self.expanded and (self.all or scope in self.listed)

    def swallowing(self, scope: str | None) -> str | None:
        """The outermost collapsed scope that ``scope`` lies in (itself included), or None."""
        if scope is None or not (self.all or self.listed):
            return None
        if scope not in self._swallowing:
            parts = scope.split("/")
            prefixes = ("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
            self._swallowing[scope] = next((p for p in prefixes if self.collapsed(p)), None)
        return self._swallowing[scope]

    def open_part(self, scope: str | None) -> str | None:
        """The frame a node is drawn in: its scope up to (not including) the first collapsed one."""
        swallowing = self.swallowing(scope)
        if swallowing is None:
            return scope
        return swallowing.rsplit("/", 1)[0] if "/" in swallowing else None


def _homes(order: list, inputs: dict[int, list], folding: _Folding) -> dict[int, str | None]:
    """For every item, the collapsed scope drawn in its place, or None when it is drawn itself.

    An op in a collapsed scope is swallowed. A value is swallowed when its own scope (the op's, for
    an op's output) is collapsed and only ops of that same collapsed scope use it: the values a scope
    hands on to the rest of the graph, and the outputs, stay visible as the scope's outputs, and
    parameters stay visible as its inputs."""
    home: dict[int, str | None] = {}
    users: dict[int, list[Op]] = {}
    for item in order:
        if isinstance(item, Op):
            home[id(item)] = folding.swallowing(getattr(item, "scope", None))
            for value in inputs[id(item)]:
                users.setdefault(id(value), []).append(item)
    for item in order:
        if isinstance(item, _Value):
            scope = folding.swallowing(item.scope)
            used_by = users.get(id(item), [])
            parameter = item.op is None and item.requires_grad
            inside = scope is not None and not item.is_root and not parameter and used_by
            home[id(item)] = scope if inside and all(home[id(op)] == scope for op in used_by) else None
    return home


def _operand_order_matters(op: Op) -> bool:
    """True for ops with two or more inputs whose order changes the result (all but add and mul)."""
    return len(op.parents) >= 2 and op.name not in _COMMUTATIVE


# ---------------------------------------------------------------- the backward pass, for the page


class _Flow:
    """The backward pass of one output, run again for the drawing: the ops in the order
    ``backward()`` visits them, the gradient reaching each value, and what each op sends each input.
    ``failure`` says why there is none when that backward pass raised."""

    def __init__(self) -> None:
        self.failure: str | None = None
        self.ops: list[Op] = []
        self.totals: dict[int, np.ndarray] = {}  # id(op or leaf) -> its whole gradient
        self.sent: dict[int, list[tuple[int, object, np.ndarray]]] = {}  # id(op) -> [(input, target, g)]


def _gradient_flow(root: Tensor, values: set, ops: set[Op]) -> _Flow:
    """Run the backward pass of ``root`` (seeded with ones) without touching any ``.grad``, keeping
    the whole gradient of the ``values`` (ops and leaves, keyed like ``_target``) and what each of
    the ``ops`` sends each of its inputs, in the order the engine visits them. Empty when ``root``
    needs no gradient."""
    flow = _Flow()
    if not root.requires_grad or root.op is None:
        return flow

    def observe(op: Op, sent: list) -> None:
        if op in ops:
            flow.ops.append(op)
            flow.sent[id(op)] = sent

    try:
        found = _backpropagate(root, np.ones_like(root.data), False, wanted=values, observe=observe)
    except (AutogradError, ValueError, FloatingPointError) as error:
        failed = _Flow()  # a graph whose backward pass fails can still be drawn, without the steps
        failed.failure = f"the backward pass failed, so there are no steps: {error}"
        return failed
    flow.totals = {id(item): g for item, g in found.items()}
    return flow


def _steps(flow: _Flow, names: dict[tuple[str, int], str]) -> list[dict]:
    """The page's backward steps: for each drawn op in backward order, the node that shows it and
    the gradient it sends to each input's node (shape and summary). Consecutive ops of one collapsed
    scope make one step, which lists only the gradients that leave the scope."""
    steps: list[dict] = []
    for op in flow.ops:
        node = names.get(("op", id(op)))
        if node is None:
            continue
        collapsed = node.startswith("scope")
        if collapsed and steps and steps[-1]["node"] == node:
            step = steps[-1]
            step["ops"] += 1
            step["op"] = f"{step['first']} … {op.label()} ({step['ops']:,} ops of a collapsed scope)"
        else:
            step = {"node": node, "op": op.label(), "ops": 1, "first": op.label(), "sends": []}
            steps.append(step)
        for i, target, g in flow.sent[id(op)]:
            to = names.get(("value", id(target)))
            if collapsed and to == node:
                continue  # stays inside the collapsed scope
            step["sends"].append(
                {"node": to, "operand": i, "shape": _shape(g.shape), "summary": _grad_summary(g)}
            )
    for step in steps:
        del step["first"]
    return steps


class _Value:
    """One tensor in the drawing. A graph node keeps an intermediate result only as the op that
    computed it (its array may be freed), so a value is a tensor, an op's output, or both."""

    __slots__ = ("is_root", "op", "tensor")

    def __init__(self, tensor: Tensor | None, op: Op | None) -> None:
        self.tensor, self.op = tensor, op
        self.is_root = False  # one of the tensors drawn

    @property
    def name(self) -> str | None:
        return self.tensor.name if self.tensor is not None else self.op.output_name

    @property
    def scope(self) -> str | None:
        return self.tensor.scope if self.tensor is not None else self.op.scope

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensor.shape if self.tensor is not None else self.op.shape

    @property
    def dtype(self) -> np.dtype:
        return self.tensor.dtype if self.tensor is not None else self.op.dtype

    @property
    def data(self) -> np.ndarray | ValueSummary | None:
        """The values while something still holds them, or what ``keep_values`` kept of them."""
        if self.tensor is not None:
            return self.tensor.data
        if self.op.keeps_output:
            return self.op.output
        return getattr(self.op, "kept", None)

    @property
    def origin(self) -> str:
        """Where the user's code created it (" (created at file:line)"), when that was recorded."""
        return "" if self.op is None else getattr(self.op, "origin", "")

    @property
    def grad(self):
        return None if self.tensor is None else self.tensor._grad  # (not .grad: a non-leaf's would warn)

    @property
    def requires_grad(self) -> bool:
        return self.op is not None or (self.tensor is not None and self.tensor.requires_grad)


def _breadth_first(roots: list[Tensor]) -> tuple[list[_Value | Op], dict[int, list[_Value]]]:
    """Every value and op that leads to the ``roots``, nearest first (value, its op, the op's inputs,
    ...), and for each op (by id) the values it takes, in order."""
    values: dict[int, _Value] = {}  # one per leaf tensor (by id) and per op's output (by the op's id)

    def value_of(parent: Tensor | Op) -> _Value:
        source = _target(parent)  # the op that computed the value, or the leaf tensor itself
        key = id(source)
        if key not in values:
            op = source if isinstance(source, Op) else None
            values[key] = _Value(parent if isinstance(parent, Tensor) else None, op)
        elif isinstance(parent, Tensor) and values[key].tensor is None:
            values[key].tensor = parent  # the same output, also held as a tensor: its values are known
        return values[key]

    starts = list({id(v): v for v in map(value_of, roots)}.values())
    for start in starts:
        start.is_root = True
    order: list[_Value | Op] = []
    inputs: dict[int, list[_Value]] = {}
    seen = {id(start) for start in starts}
    queue: deque[_Value | Op] = deque(starts)
    while queue:
        item = queue.popleft()
        order.append(item)
        if isinstance(item, _Value):
            nexts = [] if item.op is None else [item.op]
        else:
            nexts = inputs[id(item)] = [value_of(p) for p in item.parents]
        for nxt in nexts:
            if id(nxt) not in seen:
                seen.add(id(nxt))
                queue.append(nxt)
    return order, inputs


def _mark_compared(attrs: dict[str, str], value: _Value, report) -> str | None:
    """Colour a tensor of a gradient comparison: green when it agrees, red when not, the first mismatch
    bold. Returns the page's status for it ("ok" or "mismatch"), or None when it was not compared."""
    source = value.op if value.op is not None else value.tensor
    row = next((r for r in report.rows if r.target is source), None)
    if row is None:
        return None
    first = report.first_mismatch is row
    colour = ("darkgreen", "#b9eeb0") if row.verdict == "ok" else ("red3", "#ffb0a8")
    verdict = row.verdict if row.factor is None else f"{row.verdict} ×{row.factor:.4g}"
    error = "" if np.isnan(row.relative_error) else f", rel. err {row.relative_error:.2g}"
    line = f'<font point-size="10" color="{colour[0]}"><b>{html.escape(verdict + error)}</b></font>'
    if first:
        line += '<br/><font point-size="10" color="red3"><b>first mismatch</b></font>'
    attrs["label"] = attrs["label"][:-1] + "<br/>" + line + ">"
    attrs.update(color=colour[0], fillcolor=colour[1], penwidth="3" if first else "1.5")
    if first:
        attrs["style"] = attrs["style"] + ",bold"
    attrs["tooltip"] = f"{attrs['tooltip']}; {row.verdict}{': ' + row.note if row.note else ''}"
    return "ok" if row.verdict == "ok" else "mismatch"


_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "div": ("/", 2), "matmul": ("@", 2)}
_REDUCTIONS = frozenset({"sum", "mean", "max", "min", "var", "std"})
_ATOM = 9  # the precedence of a name, a call or an attribute: never needs parentheses


def _expressions(values: list, inputs: dict[int, list[_Value]]) -> dict[int, str]:
    """A readable name for each of the ``values`` (keyed by id of its ``_Value``), written as the
    expression that computed it from its inputs' names: ``theta2.T``, ``X @ theta1.T``, ``sigmoid(…)``,
    at most ``_EXPRESSION_CAP`` characters. Every level of a formula adds a character or more, so inputs
    more than ``_EXPRESSION_CAP`` levels down are "…" without being looked at: a long chain costs no more."""
    written: dict[int, _Written | None] = {}  # None: a value with no name and no number to show
    for start in values:  # depth first with a stack (no recursion), each value after its inputs
        stack = [(start, 0)]
        while stack:
            item, depth = stack[-1]
            if id(item) in written:
                stack.pop()
                continue
            needed = [] if item.name is not None or item.op is None else inputs.get(id(item.op), [])
            if depth >= _EXPRESSION_CAP:
                written[id(item)] = _written_value(item, [None] * len(needed))
                stack.pop()
                continue
            pending = [(value, depth + 1) for value in needed if id(value) not in written]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            written[id(item)] = _written_value(item, [written[id(value)] for value in needed])
    return {id(value): written[id(value)].text for value in values if written[id(value)] is not None}


class _Written(NamedTuple):
    """A value as it reads in a formula, its precedence, and its shortest form (its op around "…")."""

    text: str
    precedence: int
    short: str


def _written_value(value: _Value, args: list[_Written | None]) -> _Written | None:
    """A value as it reads in a formula: its name, a scalar constant's number, or its op applied to
    ``args`` (its inputs as written). Too long, the longest input shrinks to its short form, then to
    "…", until the whole fits in ``_EXPRESSION_CAP`` characters."""
    if value.name is not None:
        return _Written(value.name, _ATOM, value.name)
    if value.op is None:
        data = value.data
        if data is None or isinstance(data, ValueSummary) or data.ndim != 0:
            return None
        return _Written(_number(data.item()), _ATOM, _number(data.item()))
    ellipsis = _Written("…", _ATOM, "…")
    current = [arg if arg is not None else ellipsis for arg in args]
    short = _written(value.op, [ellipsis] * len(current))[0]
    while True:
        text, precedence = _written(value.op, current)
        shrinkable = [k for k, arg in enumerate(current) if arg.text != "…"]
        if len(text) <= _EXPRESSION_CAP or not shrinkable:
            break
        k = max(shrinkable, key=lambda k: len(current[k].text))
        arg = current[k]
        current[k] = (
            _Written(arg.short, arg.precedence, arg.short) if len(arg.short) < len(arg.text) else ellipsis
        )
    if len(text) > _EXPRESSION_CAP:  # many inputs: cut
        text = text[: _EXPRESSION_CAP - 1] + "…"
    return _Written(text, precedence, short)


def _written(op: Op, args: list[_Written]) -> tuple[str, int]:
    """``op`` applied to ``args`` as Python would write it, with the result's precedence."""

    def wrapped(arg: _Written, precedence: int, strict: bool = False) -> str:
        text, own, _ = arg
        return f"({text})" if own < precedence or (strict and own == precedence) else text

    if op.name in _INFIX and len(args) == 2:
        symbol, precedence = _INFIX[op.name]
        return (
            f"{wrapped(args[0], precedence)} {symbol} {wrapped(args[1], precedence, strict=True)}",
            precedence,
        )
    if op.name == "neg" and len(args) == 1:
        return f"-{wrapped(args[0], 3)}", 3
    if op.name == "pow" and len(args) == 1 and hasattr(op, "exponent"):
        return f"{wrapped(args[0], _ATOM)} ** {op.exponent:g}", 4
    if op.name == "transpose" and len(args) == 1 and getattr(op, "axes", None) is None:
        return f"{wrapped(args[0], _ATOM)}.T", _ATOM
    if op.name in _REDUCTIONS and len(args) == 1:
        return f"{wrapped(args[0], _ATOM)}.{op.name}({op.details()})", _ATOM
    return f"{op.name}({', '.join(arg.text for arg in args)})", _ATOM


def _tensor_kind(value: _Value) -> str:
    if value.is_root:
        return "output"
    if value.op is not None:
        return "intermediate"
    return "parameter" if value.requires_grad else "constant"


def _tensor_label(
    value: _Value, kind: str, show_values: bool, show_grads: bool, expression: str | None = None
) -> str:
    """An HTML-like label: bold name (an unnamed intermediate: the ``expression`` that computed it, in
    italics), then shape and dtype, then optional value and gradient lines."""
    data = value.data
    if kind == "constant" and value.name is None and data.ndim == 0:
        return f"<<b>{html.escape(_number(data.item()))}</b>>"  # a Python number in the formula
    title = value.name if value.name is not None else {"parameter": "parameter", "output": "output"}.get(kind)
    lines = [] if title is None else [f"<b>{html.escape(title)}</b>"]
    if title is None and expression is not None:
        lines = [f"<i>{html.escape(expression)}</i>"]
    lines.append(f'<font point-size="10">{html.escape(_shape(value.shape))} {value.dtype}</font>')
    if show_values:
        summary = "values freed after use" if data is None else _values(data)
        lines.append(f'<font point-size="9" color="grey25">{html.escape(summary)}</font>')
    if show_grads and value.grad is not None:
        g = value.grad.data if isinstance(value.grad, Tensor) else np.asarray(value.grad)
        lines.append(f'<font point-size="9" color="firebrick">{html.escape(_grad_summary(g))}</font>')
    return "<" + "<br/>".join(lines) + ">"


def _full_name(name: str | None, scope: str | None) -> str | None:
    return name if name is None or scope is None else f"{scope}/{name}"


def _tensor_details(value: _Value, kind: str, flow: _Flow, expression: str | None = None) -> list[str]:
    """The hover details of a tensor: full name (or the ``expression`` that computed an unnamed one) and
    kind, shape and dtype, values, gradient, origin."""
    name = _full_name(value.name, value.scope) if value.name is not None else expression
    lines = [kind if name is None else f"{name} ({kind})", f"shape {_shape(value.shape)}, {value.dtype}"]
    if value.name is None and value.scope is not None:
        lines.append(f"scope {value.scope}")
    data = value.data
    lines.append(
        "values: freed after use (record under ag.keep_values() to keep them)"
        if data is None
        else f"values: {_values(data)}"
    )
    if value.grad is not None:
        g = value.grad.data if isinstance(value.grad, Tensor) else np.asarray(value.grad)
        lines.append(f".grad {_grad_summary(g).removeprefix('grad: ')}")
    source = value.op if value.op is not None else value.tensor
    total = flow.totals.get(id(source))
    if total is not None and flow.ops:
        lines.append(f"d(output)/d(this): {_grad_summary(total).removeprefix('grad: ')}")
    if value.origin:
        lines.append(value.origin.strip().strip("()"))
    return lines


def _op_details(op: Op) -> list[str]:
    scope = getattr(op, "scope", None)
    lines = [op.label(), f"gives {_shape(op.shape)}, {op.dtype}"]
    if scope is not None:
        lines.append(f"scope {scope}")
    if _operand_order_matters(op):
        lines.append("edges 0, 1, ...: the operands in order (a - b: a is 0)")
    origin = getattr(op, "origin", "")
    if origin:
        lines.append(origin.strip().strip("()"))
    return lines


def _scope_counts(ops: list[Op]) -> str:
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.name] = counts.get(op.name, 0) + 1
    return ", ".join(f"{name} x{n}" if n > 1 else name for name, n in counts.items())


def _scope_label(scope: str, ops: list[Op]) -> str:
    """The scope's name, what it computes when that is short ("conv2d", "matmul, add, sigmoid"), and
    how many ops it stands for."""
    n = len(ops)
    kinds = list(dict.fromkeys(op.name for op in reversed(ops)))  # in the order they ran
    what = ", ".join(kinds)
    line = "" if len(what) > _SHORT_SUMMARY else f'<font point-size="10">{html.escape(what)}</font><br/>'
    return (
        f"<<b>{html.escape(scope.rsplit('/', 1)[-1])}</b><br/>{line}"
        f'<font point-size="9" color="grey30">{n:,} op{"s" if n != 1 else ""} (collapsed)</font>>'
    )


def _scope_details(scope: str, ops: list[Op]) -> list[str]:
    summary = _scope_counts(list(reversed(ops)))  # in the order they ran
    if len(summary) > 300:
        summary = summary[:300] + " …"
    return [f"{scope} (collapsed scope)", f"{len(ops):,} op{'s' if len(ops) != 1 else ''}: {summary}"]


def _shape(shape: tuple[int, ...]) -> str:
    return "scalar" if len(shape) == 0 else str(tuple(int(s) for s in shape))


def _number(x: float) -> str:
    """A number with 4 significant digits that reads as a float: "2.0", "5000.0", "0.1235", "3.825e+04"."""
    x = float(x) + 0.0  # -0.0 shows as 0.0
    text = f"{x:.4g}"
    return f"{text}.0" if text.lstrip("-").isdigit() else text


def _values(a: np.ndarray | ValueSummary) -> str:
    """The values of a tiny tensor, else mean, min and max."""
    if isinstance(a, ValueSummary):
        return f"mean {_number(a.mean)}  min {_number(a.min)}  max {_number(a.max)}"
    if a.size == 0:
        return "empty"
    if a.size <= _TINY:
        if a.ndim == 0:
            return _number(a.item())
        text = np.array2string(a, separator=", ", formatter={"float_kind": _number})
        return " ".join(text.split())  # one line: rows of a matrix are separated by "], ["
    return f"mean {_number(a.mean())}  min {_number(a.min())}  max {_number(a.max())}"


def _grad_summary(g: np.ndarray) -> str:
    if g.size == 0:
        return "grad: empty"
    return f"grad: norm {_number(np.linalg.norm(g.ravel()))}  mean {_number(g.mean())}"


def _plain(text: str) -> str:
    """Plain (not HTML) label text for DOT: backslashes kept literally, newlines as line breaks."""
    return graphviz.nohtml(text.replace("\\", "\\\\").replace("\n", "\\n"))


def _scope_bucket(by_scope: dict, scope: str | None) -> list:
    """The node list of ``scope``, creating it and its parent scopes in order of first appearance."""
    if scope is not None and scope not in by_scope:
        parts = scope.split("/")
        for depth in range(1, len(parts) + 1):
            by_scope.setdefault("/".join(parts[:depth]), [])
    return by_scope[scope]


def _add_nodes_in_clusters(graph: graphviz.Digraph, by_scope: dict) -> None:
    """Emit unscoped nodes at top level and each scope as a ``cluster_<k>`` subgraph nested like its path."""
    for name, attrs in by_scope[None]:
        graph.node(name, **attrs)
    scopes = [s for s in by_scope if s is not None]
    clusters: dict[str, graphviz.Digraph] = {}
    for k, scope in enumerate(scopes):
        depth = scope.count("/")
        cluster = graphviz.Digraph(
            name=f"cluster_{k}",
            graph_attr={
                "label": _plain(scope.rsplit("/", 1)[-1]),
                "tooltip": _plain(scope),
                "style": "filled,rounded",
                "fillcolor": _CLUSTER_FILLS[min(depth, len(_CLUSTER_FILLS) - 1)],
                "color": "steelblue",
                "fontname": "Helvetica-Bold",
                "fontsize": "14",
                "fontcolor": "steelblue4",
                "labeljust": "l",
                "margin": "10",
            },
        )
        for name, attrs in by_scope[scope]:
            cluster.node(name, **attrs)
        clusters[scope] = cluster
    # Innermost first, so every cluster is complete when it is copied into its parent.
    for scope in sorted(scopes, key=lambda s: -s.count("/")):
        parent = scope.rsplit("/", 1)[0] if "/" in scope else None
        (graph if parent is None else clusters[parent]).subgraph(clusters[scope])


def _edge(
    graph: graphviz.Digraph, source: str, target: str, backward: bool, carries_grad: bool, operand: str | None
) -> None:
    label = {} if operand is None else {"headlabel" if not backward else "taillabel": operand, **_OPERAND}
    if not backward:
        graph.edge(source, target, **label)
    elif carries_grad:
        graph.edge(target, source, color="firebrick", style="dashed", penwidth="1.3", **label)
    else:  # an input or constant: no gradient flows to it
        graph.edge(target, source, color="grey50", style="dotted", arrowhead="none", **label)


# ---------------------------------------------------------------- saving


def save_graph(
    graph: graphviz.Digraph,
    path,
    format: str | None = None,
    *,
    overwrite: bool = False,
    dpi: float | None = 150,
) -> Path:
    """Write ``graph`` (from ``draw_graph``) to ``path`` as SVG, PNG, PDF, DOT source or an interactive
    HTML page (one self-contained file: see ``viz.page``); return the path.

    The format is ``format`` or else the path's suffix. "dot" writes the DOT text and needs nothing
    else; the other formats run Graphviz's ``dot`` program. If it is missing, the DOT source is written
    next to ``path`` (same name, ``.dot`` suffix) and ``GraphvizNotFoundError`` says how to install
    Graphviz. An existing file is never replaced unless ``overwrite=True``. Files appear atomically: a
    reader never sees a half-written file. ``dpi`` is the resolution of PNG output (Graphviz's own
    default, 96, blurs small labels on a projector; None keeps the graph's setting).
    """
    path = Path(path)
    if format is None:
        if not path.suffix:
            raise ValueError(
                f"save_graph: {path} has no suffix to tell the format; pass format= one of {', '.join(FORMATS)}"
            )
        fmt = path.suffix[1:].lower()
    else:
        fmt = str(format).lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"save_graph: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not hasattr(graph, "source") or not hasattr(graph, "pipe"):
        raise TypeError(f"save_graph: expected a graphviz.Digraph, got {type(graph).__name__}")
    if fmt == "html" and not isinstance(graph, Drawing):
        raise TypeError(
            f"save_graph: an HTML page needs a drawing from draw_graph, got {type(graph).__name__}"
        )
    if path.exists() and not overwrite:
        raise FileExistsError(f"save_graph: {path} already exists; pass overwrite=True to replace it")

    if fmt == "dot":
        write_atomically(path, graph.source.encode("utf-8"), overwrite=overwrite)
        return path
    if fmt == "png" and dpi is not None and hasattr(graph, "copy") and hasattr(graph, "attr"):
        graph = graph.copy()  # the caller's graph is left as it was
        graph.attr("graph", dpi=f"{float(dpi):g}")
    if fmt == "html" and "label" in graph.graph_attr:
        graph = graph.copy()  # the page's header shows the title: the drawing's own copy would repeat it
        del graph.graph_attr["label"]
    try:
        data = graph.pipe(format="svg" if fmt == "html" else fmt)
    except graphviz.ExecutableNotFound as error:
        dot_path = path.with_suffix(".dot")
        if dot_path.exists() and not overwrite:
            saved = f"{dot_path} already exists and was left as it is (pass overwrite=True to replace it)"
        else:
            write_atomically(dot_path, graph.source.encode("utf-8"), overwrite=True)
            saved = f"the DOT source was written to {dot_path} instead"
        if fmt == "html":  # the page is ours, not a Graphviz format: it embeds the SVG that dot draws
            then = (
                "then call save_graph again (the page is made by autograd_nn around the SVG that `dot` "
                "draws, so `dot` alone cannot make it from the .dot file)"
            )
        else:
            then = f"then render it with `dot -T{fmt} {dot_path} -o {path}` or call save_graph again"
        raise GraphvizNotFoundError(
            f"save_graph: Graphviz's `dot` program was not found, so {path} was not rendered; {saved}. "
            f"Install Graphviz (`apt-get install graphviz` on Debian/Ubuntu, `brew install graphviz` on "
            f"macOS, or see https://graphviz.org/download/), {then}. "
            "(The Python package `graphviz` alone is not enough: it runs the `dot` program.)",
            dot_path=dot_path,
        ) from error
    if fmt == "html":
        from .page import render_page

        data = render_page(data.decode("utf-8"), graph.page_data).encode("utf-8")
    write_atomically(path, data, overwrite=overwrite)
    return path
