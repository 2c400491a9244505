"""Draw a recorded computation graph with Graphviz: ``draw_graph(loss)`` and ``save_graph(graph, path)``.

``draw_graph`` walks the graph backwards from a tensor (breadth first, without recursion, so a chain of
100,000 operations is fine) and returns a ``graphviz.Digraph``. In Jupyter the returned object displays
inline as SVG (the graphviz package gives it a ``_repr_mimebundle_``); elsewhere ``save_graph`` writes
it as SVG, PNG, PDF or DOT source.

Legend (the one people know from torchviz)::

    grey box          an operation, labelled like "matmul" or "sum(axis=1)"
    light blue box    a parameter: a leaf with requires_grad=True (name, shape, dtype)
    white ellipse     an input or constant (requires_grad=False); an unnamed scalar constant shows its value
    ivory box         an intermediate result
    green box         the output: the tensor that was drawn
    labelled frame    a name_scope; nested scopes ("net/layer1") are nested frames
    yellow note       how many tensors and ops were left out past max_nodes

In the forward view arrows follow the data: input tensor -> op -> output tensor. In the backward view
(``backward=True``) red dashed arrows run the other way, from the output towards the parameters, as the
gradients do; grey dotted lines lead to inputs and constants, which receive no gradient.

Tensor labels give the name (if any), the shape ("(5000, 25)", or "scalar") and the dtype; with
``show_values`` a summary of the values (the values themselves for tensors of at most 6 elements, else
mean, min and max), and, when a gradient is present (after ``backward()``) and ``show_grads`` is on, the
gradient's norm and mean.

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
from pathlib import Path

import graphviz
import numpy as np

from ..errors import AutogradError
from ..files import write_atomically
from ..ops import Op
from ..tensor import Tensor, _target

__all__ = ["LEGEND", "GraphvizNotFoundError", "draw_graph", "save_graph"]

LEGEND = (
    "grey box: operation (e.g. matmul, sum(axis=1)); "
    "light blue box: parameter (requires_grad leaf); "
    "white ellipse: input or constant; "
    "ivory box: intermediate result; "
    "green box: output; "
    "labelled frame: name_scope; "
    "yellow note: nodes left out past max_nodes; "
    "backward view: red dashed arrows show gradients flowing from the output to the parameters"
)

FORMATS = ("svg", "png", "pdf", "dot")

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
}
_CLUSTER_FILLS = ("#f3f6fb", "#e6edf7", "#d9e4f3")  # one shade darker per nesting level
_TINY = 6  # tensors with at most this many elements show their values, bigger ones a summary


class GraphvizNotFoundError(AutogradError, RuntimeError):
    """Graphviz's ``dot`` program is missing, so a graph could not be rendered (its DOT source was saved)."""

    def __init__(self, message: str, dot_path: Path | None = None) -> None:
        super().__init__(message)
        self.dot_path = dot_path


# ---------------------------------------------------------------- drawing


def draw_graph(
    root: Tensor,
    *,
    show_values: bool = False,
    show_grads: bool = True,
    backward: bool = False,
    max_nodes: int = 500,
    rankdir: str = "TB",
    title: str | None = None,
    compare=None,
) -> graphviz.Digraph:
    """The graph that computed ``root`` as a ``graphviz.Digraph``: one node per tensor and per operation.

    ``show_values`` adds a summary of each tensor's values; ``show_grads`` (on by default) adds the
    norm and mean of gradients that ``backward()`` left in ``.grad``. ``backward=True`` draws the
    gradient flow: arrows from the output towards the parameters. At most ``max_nodes`` tensors and ops
    are drawn, those nearest the output; a note says how many more were left out and points at where
    the drawing was cut. ``rankdir`` is "TB" (top to bottom, the default: a whole network stays
    narrow enough for a slide), "LR", "BT" or "RL".
    Tensors and ops created inside ``name_scope`` blocks are grouped into labelled frames.
    ``compare``, a ``GradientReport`` from ``compare_gradients``, colours the compared tensors (green:
    your gradient agrees, red: it does not), labels them with the verdict and relative error, and
    draws the first mismatch bold: the one to fix first.

    In Jupyter the returned Digraph displays inline; ``save_graph`` writes it to a file. See the module
    docstring (or ``LEGEND``) for what the colours and shapes mean.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(root).__name__}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, (int, np.integer)):
        raise TypeError(f"draw_graph: max_nodes must be an int, got {type(max_nodes).__name__}")
    if max_nodes < 1:
        raise ValueError(f"draw_graph: max_nodes must be at least 1, got {max_nodes}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be one of 'LR', 'TB', 'RL', 'BT', got {rankdir!r}")

    order, values = _breadth_first(root)
    drawn, left_out = order[:max_nodes], order[max_nodes:]

    names: dict[int, str] = {}  # id(value or op) -> DOT node name, in traversal order
    counts = {"t": 0, "op": 0}
    for item in drawn:
        prefix = "op" if isinstance(item, Op) else "t"
        names[id(item)] = f"{prefix}{counts[prefix]}"
        counts[prefix] += 1

    if title is None and backward:
        title = "Backward view: gradients flow from the output to the parameters"
    elif backward:
        title = f"{title} (backward view)"
    graph = graphviz.Digraph(
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

    # Node statements, grouped by scope so that each scope becomes one (possibly nested) cluster.
    # Emitted in the order the layout reads (inputs first, or the output first in the backward view):
    # Graphviz then stacks the scopes down the page instead of spreading them sideways.
    by_scope: dict[str | None, list[tuple[str, dict[str, str]]]] = {None: []}
    for item in drawn if backward else reversed(drawn):
        if isinstance(item, _Value):
            kind = _tensor_kind(item, item.tensor is root)
            attrs = {
                "label": _tensor_label(item, kind, show_values, show_grads),
                "tooltip": _plain(_tensor_tooltip(item, kind)),
                **_STYLES[kind],
            }
            scope = item.scope
            if compare is not None:
                _mark_compared(attrs, item, compare)
        else:
            scope = getattr(item, "scope", None)
            attrs = {
                "label": _plain(item.label()),
                "tooltip": _plain(_op_tooltip(item, scope)),
                **_STYLES["op"],
            }
        _scope_bucket(by_scope, scope).append((names[id(item)], attrs))
    _add_nodes_in_clusters(graph, by_scope)

    # Edges, in data-flow direction (reversed in the backward view).
    cut: list[str] = []  # drawn nodes with inputs that were not drawn
    for item in drawn:
        here = names[id(item)]
        if isinstance(item, _Value):
            op = item.op
            if op is None:
                continue
            if id(op) in names:
                _edge(graph, names[id(op)], here, backward, carries_grad=True)
            else:
                cut.append(here)
        else:
            missing = False
            for parent, needed in zip(values[id(item)], item.needs_grad, strict=True):
                if id(parent) in names:
                    _edge(graph, names[id(parent)], here, backward, carries_grad=needed)
                else:
                    missing = True
            if missing:
                cut.append(here)

    if left_out:
        n_tensors = sum(1 for item in left_out if isinstance(item, _Value))
        n_ops = len(left_out) - n_tensors
        note = (
            f"… {len(left_out):,} more nodes not drawn (max_nodes={max_nodes:,})\n"
            f"{n_tensors:,} tensors and {n_ops:,} ops"
        )
        graph.node("omitted", label=_plain(note), tooltip=_plain(note.replace("\n", ": ")), **_STYLES["note"])
        edge_style = {"style": "dashed", "color": "goldenrod3"}
        for name in cut:
            if backward:
                graph.edge(name, "omitted", **edge_style)
            else:
                graph.edge("omitted", name, **edge_style)
    return graph


class _Value:
    """One tensor in the drawing. A graph node keeps an intermediate result only as the op that
    computed it (its array may be freed), so a value is a tensor, an op's output, or both."""

    __slots__ = ("op", "tensor")

    def __init__(self, tensor: Tensor | None, op: Op | None) -> None:
        self.tensor, self.op = tensor, op

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
    def data(self) -> np.ndarray | None:
        """The values, while something still holds them."""
        if self.tensor is not None:
            return self.tensor.data
        return self.op.output if self.op.keeps_output else None

    @property
    def grad(self):
        return None if self.tensor is None else self.tensor.grad

    @property
    def requires_grad(self) -> bool:
        return self.op is not None or (self.tensor is not None and self.tensor.requires_grad)


def _breadth_first(root: Tensor) -> tuple[list[_Value | Op], dict[int, list[_Value]]]:
    """Every value and op that leads to ``root``, nearest first (value, its op, the op's inputs, ...),
    and for each op (by id) the values it takes, in order."""
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

    start = value_of(root)
    order: list[_Value | Op] = []
    inputs: dict[int, list[_Value]] = {}
    seen = {id(start)}
    queue: deque[_Value | Op] = deque([start])
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


def _mark_compared(attrs: dict[str, str], value: _Value, report) -> None:
    """Colour a tensor of a gradient comparison: green when it agrees, red when not, the first mismatch bold."""
    source = value.op if value.op is not None else value.tensor
    row = next((r for r in report.rows if r.target is source), None)
    if row is None:
        return
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


def _tensor_kind(value: _Value, is_root: bool) -> str:
    if is_root:
        return "output"
    if value.op is not None:
        return "intermediate"
    return "parameter" if value.requires_grad else "constant"


def _tensor_label(value: _Value, kind: str, show_values: bool, show_grads: bool) -> str:
    """An HTML-like label: bold name, then shape and dtype, then optional value and gradient lines."""
    data = value.data
    if kind == "constant" and value.name is None and data.ndim == 0:
        return f"<<b>{html.escape(_number(data.item()))}</b>>"  # a Python number in the formula
    title = value.name if value.name is not None else {"parameter": "parameter", "output": "output"}.get(kind)
    lines = [] if title is None else [f"<b>{html.escape(title)}</b>"]
    lines.append(f'<font point-size="10">{html.escape(_shape(value.shape))} {value.dtype}</font>')
    if show_values:
        summary = "values freed after use" if data is None else _values(data)
        lines.append(f'<font point-size="9" color="grey25">{html.escape(summary)}</font>')
    if show_grads and value.grad is not None:
        g = value.grad.data if isinstance(value.grad, Tensor) else np.asarray(value.grad)
        lines.append(f'<font point-size="9" color="firebrick">{html.escape(_grad_summary(g))}</font>')
    return "<" + "<br/>".join(lines) + ">"


def _tensor_tooltip(value: _Value, kind: str) -> str:
    name = value.name
    parts = [kind if name is None else f"{name} ({kind})", f"{_shape(value.shape)} {value.dtype}"]
    if value.scope is not None:
        parts.append(f"scope {value.scope}")
    return ", ".join(parts)


def _op_tooltip(op: Op, scope: str | None) -> str:
    return op.label() if scope is None else f"{op.label()} in scope {scope}"


def _shape(shape: tuple[int, ...]) -> str:
    return "scalar" if len(shape) == 0 else str(tuple(int(s) for s in shape))


def _number(x: float) -> str:
    """A number with 4 significant digits that reads as a float: "2.0", "5000.0", "0.1235", "3.825e+04"."""
    x = float(x) + 0.0  # -0.0 shows as 0.0
    text = f"{x:.4g}"
    return f"{text}.0" if text.lstrip("-").isdigit() else text


def _values(a: np.ndarray) -> str:
    """The values of a tiny tensor, else mean, min and max."""
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


def _edge(graph: graphviz.Digraph, source: str, target: str, backward: bool, carries_grad: bool) -> None:
    if not backward:
        graph.edge(source, target)
    elif carries_grad:
        graph.edge(target, source, color="firebrick", style="dashed", penwidth="1.3")
    else:  # an input or constant: no gradient flows to it
        graph.edge(target, source, color="grey50", style="dotted", arrowhead="none")


# ---------------------------------------------------------------- saving


def save_graph(
    graph: graphviz.Digraph,
    path,
    format: str | None = None,
    *,
    overwrite: bool = False,
    dpi: float | None = 150,
) -> Path:
    """Write ``graph`` (from ``draw_graph``) to ``path`` as SVG, PNG, PDF or DOT source; return the path.

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
    if path.exists() and not overwrite:
        raise FileExistsError(f"save_graph: {path} already exists; pass overwrite=True to replace it")

    if fmt == "dot":
        write_atomically(path, graph.source.encode("utf-8"), overwrite=overwrite)
        return path
    if fmt == "png" and dpi is not None and hasattr(graph, "copy") and hasattr(graph, "attr"):
        graph = graph.copy()  # the caller's graph is left as it was
        graph.attr("graph", dpi=f"{float(dpi):g}")
    try:
        data = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as error:
        dot_path = path.with_suffix(".dot")
        if dot_path.exists() and not overwrite:
            saved = f"{dot_path} already exists and was left as it is (pass overwrite=True to replace it)"
        else:
            write_atomically(dot_path, graph.source.encode("utf-8"), overwrite=True)
            saved = f"the DOT source was written to {dot_path} instead"
        raise GraphvizNotFoundError(
            f"save_graph: Graphviz's `dot` program was not found, so {path} was not rendered; {saved}. "
            f"Install Graphviz (`apt-get install graphviz` on Debian/Ubuntu, `brew install graphviz` on "
            f"macOS, or see https://graphviz.org/download/), then render it with "
            f"`dot -T{fmt} {dot_path} -o {path}` or call save_graph again. "
            "(The Python package `graphviz` alone is not enough: it runs the `dot` program.)",
            dot_path=dot_path,
        ) from error
    write_atomically(path, data, overwrite=overwrite)
    return path
