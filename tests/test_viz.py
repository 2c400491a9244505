"""Specification of the graph drawings: ``draw_graph`` (DOT text) and ``save_graph`` (files)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import graphviz
import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.errors import AutogradError
from autograd_nn.viz import LEGEND, GraphvizNotFoundError, draw_graph, save_graph

SVG_TEXT = "{http://www.w3.org/2000/svg}text"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NODE = re.compile(r"^\t*(\w+) \[(.*)\]$")
EDGE = re.compile(r"^\t*(\w+) -> (\w+)(?: \[(.*)\])?$")


# ---------------------------------------------------------------- helpers


def two_layer_network(m: int = 8):
    """The tutorial's sigmoid network in miniature (4-3-2), one name_scope per layer and one for the cost."""
    rng = np.random.default_rng(0)
    X = ag.Tensor(rng.random((m, 4)), name="X")
    Y = ag.Tensor(np.eye(2)[rng.integers(0, 2, m)], name="Y")
    with ag.name_scope("layer1"):
        theta1 = ag.Tensor(np.arange(12.0).reshape(3, 4) / 4, requires_grad=True, name="theta1")
        b1 = ag.Tensor([0.5, -0.25, 2.0], requires_grad=True, name="b1")
        a1 = ag.sigmoid(X @ theta1.T + b1)
        a1.name = "a1"
    with ag.name_scope("layer2"):
        theta2 = ag.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="theta2")
        b2 = ag.Tensor(np.zeros(2), requires_grad=True, name="b2")
        h = ag.sigmoid(a1 @ theta2.T + b2)
        h.name = "h"
    with ag.name_scope("cost"):
        J = -(Y * ag.log(h) + (1 - Y) * ag.log(1 - h)).sum(axis=1).mean()
    J.name = "J"
    return SimpleNamespace(X=X, Y=Y, theta1=theta1, b1=b1, theta2=theta2, b2=b2, a1=a1, h=h, J=J)


def nodes(source: str) -> dict[str, str]:
    """DOT node name -> its attribute text."""
    found = {}
    for line in source.splitlines():
        match = NODE.match(line)
        if match and match.group(1) not in ("graph", "node", "edge"):
            found[match.group(1)] = match.group(2)
    return found


def label_of(attrs: str) -> str:
    """The label of a node's attribute text (an HTML-like <...> label, balanced, or a plain one)."""
    start = attrs.index("label=") + len("label=")
    if attrs[start] != "<":
        return re.match(r'"[^"]*"|\S+', attrs[start:]).group(0)
    depth = 0
    for end in range(start, len(attrs)):
        depth += {"<": 1, ">": -1}.get(attrs[end], 0)
        if depth == 0:
            return attrs[start : end + 1]
    raise AssertionError(f"unbalanced label in {attrs!r}")


def labels(source: str) -> str:
    """The node labels of a DOT text, without the other attributes (hover tooltips, styles)."""
    return "\n".join(label_of(attrs) for attrs in nodes(source).values())


def edges(source: str) -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(3) or "") for m in map(EDGE.match, source.splitlines()) if m]


def attribute(attrs: str, key: str) -> str:
    match = re.search(rf'\b{key}=("[^"]*"|[^\s\]]+)', attrs)
    assert match, f"no {key} in {attrs}"
    return match.group(1).strip('"')


def node_labelled(source: str, text: str) -> str:
    """The name of the one node whose label contains ``text``."""
    names = [name for name, attrs in nodes(source).items() if text in attrs.split(" tooltip=")[0]]
    assert len(names) == 1, f"{len(names)} nodes labelled {text!r}"
    return names[0]


def clusters(source: str) -> dict[str, dict]:
    """Cluster label -> {"nodes": names directly inside, "parent": label of the enclosing cluster}."""
    found, stack = {}, []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("subgraph cluster_"):
            stack.append({"label": None, "nodes": set(), "parent": stack[-1]["label"] if stack else None})
        elif stripped == "}" and stack:
            cluster = stack.pop()
            found[cluster["label"]] = cluster
        elif stack and stripped.startswith("graph ["):
            stack[-1]["label"] = attribute(stripped, "label")
        elif stack and (match := NODE.match(line)):
            stack[-1]["nodes"].add(match.group(1))
    return found


def chain(length: int) -> ag.Tensor:
    x = ag.Tensor(1.0, requires_grad=True, name="x")
    for _ in range(length):
        x = -x
    return x


# ---------------------------------------------------------------- labels, clusters, styles


def test_every_tensor_and_op_of_the_network_is_a_labelled_node():
    net = two_layer_network()
    source = draw_graph(net.J).source
    for name, shape in [("theta1", "(3, 4)"), ("b1", "(3,)"), ("theta2", "(2, 3)"), ("b2", "(2,)")]:
        assert f"<b>{name}</b><br/>" in source
        assert f"{shape} float64" in nodes(source)[node_labelled(source, f"<b>{name}</b>")]
    assert f"{(8, 4)} float64" in nodes(source)[node_labelled(source, "<b>X</b>")]
    assert "scalar float64" in nodes(source)[node_labelled(source, "<b>J</b>")]
    op_labels = [attribute(a, "label") for n, a in nodes(source).items() if n.startswith("op")]
    assert sorted(set(op_labels)) == sorted(
        ["add", "log", "matmul", "mean", "mul", "neg", "sigmoid", "sub", "sum(axis=1)", "transpose"]
    )
    assert op_labels.count("matmul") == 2 and op_labels.count("sigmoid") == 2
    tensors = [n for n in nodes(source) if n.startswith("t")]
    assert len(tensors) == 25 and len(op_labels) == 17  # one node per tensor and one per op


def test_an_unnamed_scalar_constant_shows_its_value():
    x = ag.Tensor([1.0, 2.0], requires_grad=True, name="x")
    source = draw_graph((x * 2).sum()).source
    constant = nodes(source)[node_labelled(source, "<b>2.0</b>")]
    assert attribute(constant, "fillcolor") == "white"


def test_scopes_become_labelled_clusters_that_read_input_layer1_layer2_cost():
    net = two_layer_network()
    source = draw_graph(net.J).source
    found = clusters(source)
    assert set(found) == {"layer1", "layer2", "cost"}
    assert node_labelled(source, "<b>theta1</b>") in found["layer1"]["nodes"]
    assert node_labelled(source, "<b>b2</b>") in found["layer2"]["nodes"]
    assert node_labelled(source, "<b>J</b>") in found["cost"]["nodes"]
    assert node_labelled(source, "<b>X</b>") not in set().union(*(c["nodes"] for c in found.values()))
    # Data flows X -> layer1 -> layer2 -> cost: the only edges between clusters go that way.
    where = {name: label for label, c in found.items() for name in c["nodes"]}
    crossings = {(where.get(a, "outside"), where.get(b, "outside")) for a, b, _ in edges(source)}
    crossings = {pair for pair in crossings if pair[0] != pair[1]}
    assert crossings == {("outside", "layer1"), ("layer1", "layer2"), ("layer2", "cost"), ("outside", "cost")}


def test_nested_scopes_give_nested_clusters():
    w = ag.Tensor(np.ones(3), requires_grad=True, name="w")
    with ag.name_scope("net"):
        with ag.name_scope("layer1"):
            a = ag.tanh(w * 2)
        with ag.name_scope("layer2"):
            out = (a * a).sum()
    found = clusters(draw_graph(out).source)
    assert found["net"]["parent"] is None
    assert found["layer1"]["parent"] == "net" and found["layer2"]["parent"] == "net"
    assert found["net"]["nodes"] == set()  # everything sits in the inner scopes


def test_parameters_constants_intermediates_output_and_ops_are_styled_apart():
    net = two_layer_network()
    source = draw_graph(net.J).source
    all_nodes = nodes(source)
    fill = {name: attribute(attrs, "fillcolor") for name, attrs in all_nodes.items()}
    assert fill[node_labelled(source, "<b>theta1</b>")] == "lightblue"
    assert fill[node_labelled(source, "<b>b2</b>")] == "lightblue"
    assert fill[node_labelled(source, "<b>X</b>")] == "white"
    assert attribute(all_nodes[node_labelled(source, "<b>X</b>")], "shape") == "ellipse"
    assert fill[node_labelled(source, "<b>J</b>")] == "darkolivegreen1"
    assert fill["t0"] == "darkolivegreen1"  # the root is the output
    ops = {fill[name] for name in all_nodes if name.startswith("op")}
    assert ops == {"lightgrey"}
    assert attribute(all_nodes["op0"], "shape") == "box"
    intermediate = fill[node_labelled(source, "<b>a1</b>")]
    assert intermediate == "ivory"
    assert fill[node_labelled(source, "<b>h</b>")] == "ivory"
    assert len({"lightblue", "white", "darkolivegreen1", "lightgrey", intermediate}) == 5


def test_unnamed_parameters_and_outputs_get_generic_titles():
    p = ag.Tensor(np.ones(2), requires_grad=True)
    source = draw_graph(p.sum()).source
    assert "<b>parameter</b>" in source and "<b>output</b>" in source


# ---------------------------------------------------------------- gradients and values


def test_gradient_summaries_appear_only_after_backward():
    net = two_layer_network()
    assert "grad:" not in draw_graph(net.J).source
    net.J.backward()
    source = draw_graph(net.J).source
    theta1 = nodes(source)[node_labelled(source, "<b>theta1</b>")]
    g = net.theta1.grad
    assert f"grad: norm {np.linalg.norm(g):.4g}  mean {g.mean():.4g}" in theta1
    assert source.count("grad: norm") == 4  # the four parameters, the only tensors with .grad
    assert "grad:" not in draw_graph(net.J, show_grads=False).source


def test_gradients_from_create_graph_are_summarised_too():
    x = ag.Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x**3).sum()
    y.backward(create_graph=True)
    assert isinstance(x.grad, ag.Tensor)
    assert "grad: norm 12.37  mean 7.5" in draw_graph(y).source  # 3x² = [3, 12]


def test_show_values_lists_tiny_tensors_and_summarises_big_ones():
    net = two_layer_network()
    assert "mean 1.375" not in labels(draw_graph(net.J).source)  # (hover tooltips always have values)
    source = draw_graph(net.J, show_values=True).source
    b1 = label_of(nodes(source)[node_labelled(source, "<b>b1</b>")])  # 3 values: shown
    assert "[0.5, -0.25, 2.0]" in b1 and "mean" not in b1
    theta1 = nodes(source)[node_labelled(source, "<b>theta1</b>")]  # 12 values: summarised
    assert "mean 1.375  min 0.0  max 2.75" in theta1
    J = nodes(source)[node_labelled(source, "<b>J</b>")]
    assert f"{net.J.item():.4g}" in J
    # The border: up to 6 elements are listed, from 7 on they are summarised.
    six = ag.Tensor(np.arange(6.0).reshape(2, 3) / 8, requires_grad=True, name="six")
    seven = ag.Tensor(np.arange(7.0), requires_grad=True, name="seven")
    source = draw_graph(six.sum() + seven.sum(), show_values=True).source
    assert "[[0.0, 0.125, 0.25], [0.375, 0.5, 0.625]]" in nodes(source)[node_labelled(source, "<b>six</b>")]
    assert "mean 3.0  min 0.0  max 6.0" in nodes(source)[node_labelled(source, "<b>seven</b>")]


# ---------------------------------------------------------------- determinism and size


def test_the_same_computation_gives_the_same_dot_text():
    first = draw_graph(two_layer_network().J, show_values=True).source
    second = draw_graph(two_layer_network().J, show_values=True).source
    assert first == second
    assert all(re.fullmatch(r"t\d+|op\d+", name) for name in nodes(first))


def test_a_100000_op_chain_is_drawn_without_recursion_and_collapsed():
    out = chain(100_000)  # 100,001 tensors and 100,000 ops
    source = draw_graph(out).source
    drawn = nodes(source)
    assert len(drawn) == 500 + 1  # max_nodes tensors and ops, plus the note
    assert "t0" in drawn and "op0" in drawn  # the nodes nearest the output are kept
    note = drawn["omitted"]
    assert "199,501 more nodes not drawn (max_nodes=500)" in note
    assert "99,751 tensors and 99,750 ops" in note
    assert ("omitted", "op249", "color=goldenrod3 style=dashed") in edges(source)  # where the cut is


def test_max_nodes_is_respected_and_every_cut_is_pointed_at():
    net = two_layer_network()
    source = draw_graph(net.J, max_nodes=10).source
    drawn = nodes(source)
    assert len(drawn) == 11 and "more nodes not drawn (max_nodes=10)" in drawn["omitted"]
    full = draw_graph(net.J).source
    assert "omitted" not in nodes(full)
    assert set(drawn) - {"omitted"} < set(nodes(full))  # names follow the walk, so the first 10 agree
    # Every drawn node with an input left out gets an arrow from the note, and no other does.
    cut = {b for a, b, _ in edges(full) if b in drawn and a not in drawn}
    assert cut and {b for a, b, _ in edges(source) if a == "omitted"} == cut
    assert {(a, b) for a, b, _ in edges(source) if a != "omitted"} == {
        (a, b) for a, b, _ in edges(full) if a in drawn and b in drawn
    }


def test_bad_arguments_are_refused():
    x = ag.Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(x.sum(), max_nodes=0)
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(x.sum(), rankdir="sideways")
    with pytest.raises(TypeError, match="Tensor"):
        draw_graph(np.ones(3))


# ---------------------------------------------------------------- backward view


def test_backward_view_reverses_the_edges_and_says_so():
    net = two_layer_network()
    forward = draw_graph(net.J).source
    backward = draw_graph(net.J, backward=True).source
    theta1 = node_labelled(forward, "<b>theta1</b>")
    assert theta1 == node_labelled(backward, "<b>theta1</b>")  # same names in both views
    transpose = next(b for a, b, _ in edges(forward) if a == theta1)
    assert (transpose, theta1) in {(a, b) for a, b, _ in edges(backward)}
    assert {(a, b) for a, b, _ in edges(backward)} == {(b, a) for a, b, _ in edges(forward)}
    gradient_edges = [attrs for a, b, attrs in edges(backward) if b == theta1]
    assert gradient_edges == ["color=firebrick penwidth=1.3 style=dashed"]
    x = node_labelled(backward, "<b>X</b>")  # an input: no gradient flows to it
    [into_x] = [attrs for _, b, attrs in edges(backward) if b == x]
    assert into_x.startswith("arrowhead=none color=grey50") and "style=dotted" in into_x
    assert "taillabel=0" in into_x  # X is the first operand of matmul
    assert "backward view" in backward.lower() and "backward view" not in forward.lower()
    assert "My net (backward view)" in draw_graph(net.J, backward=True, title="My net").source


# ---------------------------------------------------------------- saving and rendering


def test_svg_is_rendered_with_node_labels_and_cluster_titles(dot_program, tmp_path):
    net = two_layer_network()
    net.J.backward()
    path = save_graph(draw_graph(net.J, show_values=True), tmp_path / "network.svg")
    assert path == tmp_path / "network.svg"
    texts = [element.text for element in ET.parse(path).getroot().iter(SVG_TEXT)]
    for expected in ("theta1", "matmul", "sigmoid", "sum(axis=1)", "layer1", "layer2", "cost", "J"):
        assert expected in texts
    assert [name.name for name in tmp_path.iterdir()] == ["network.svg"]  # no temporary file left


def test_png_and_pdf_are_rendered(dot_program, tmp_path):
    graph = draw_graph(two_layer_network().J, title="4-3-2 network")
    png = save_graph(graph, tmp_path / "network.png")
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    pdf = save_graph(graph, tmp_path / "graph.out", format="pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert "dpi" not in graph.source  # the PNG resolution did not change the caller's graph


def test_dot_format_writes_the_source_and_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    graph = draw_graph(two_layer_network().J)
    path = save_graph(graph, tmp_path / "network.dot")
    assert path.read_text(encoding="utf-8") == graph.source


def test_without_dot_the_source_is_saved_and_the_error_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")  # no `dot` program to be found
    graph = draw_graph(two_layer_network().J)
    with pytest.raises(GraphvizNotFoundError) as caught:
        save_graph(graph, tmp_path / "network.svg")
    message = str(caught.value)
    for advice in ("apt-get install graphviz", "brew install graphviz", "https://graphviz.org/download/"):
        assert advice in message
    dot_path = tmp_path / "network.dot"
    assert str(dot_path) in message and caught.value.dot_path == dot_path
    assert dot_path.read_text(encoding="utf-8") == graph.source
    assert not (tmp_path / "network.svg").exists()
    assert isinstance(caught.value, AutogradError)


def test_without_dot_an_existing_dot_file_is_left_alone(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    (tmp_path / "network.dot").write_text("mine")
    with pytest.raises(GraphvizNotFoundError, match="already exists"):
        save_graph(draw_graph(two_layer_network().J), tmp_path / "network.png")
    assert (tmp_path / "network.dot").read_text() == "mine"


def test_an_existing_file_is_replaced_only_with_overwrite(tmp_path):
    path = tmp_path / "graph.dot"
    path.write_text("old")
    x = ag.Tensor([1.0], requires_grad=True, name="x")
    graph = draw_graph(x.sum())
    with pytest.raises(FileExistsError, match=re.escape(str(path))):
        save_graph(graph, path)
    assert path.read_text() == "old"
    save_graph(graph, path, overwrite=True)
    assert path.read_text(encoding="utf-8") == graph.source
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.dot"]


def test_unknown_formats_are_refused_with_the_choices(tmp_path):
    graph = draw_graph(ag.Tensor([1.0], requires_grad=True).sum())
    with pytest.raises(ValueError, match="svg, png, pdf, dot"):
        save_graph(graph, tmp_path / "graph.jpg")
    with pytest.raises(ValueError, match="'gif'"):
        save_graph(graph, tmp_path / "graph.svg", format="gif")
    with pytest.raises(ValueError, match="no suffix"):
        save_graph(graph, tmp_path / "graph")
    assert list(tmp_path.iterdir()) == []


def test_the_package_exports_the_drawing_functions_and_a_legend():
    assert ag.draw_graph is draw_graph and ag.save_graph is save_graph
    assert "draw_graph" in ag.__all__ and "save_graph" in ag.__all__
    for words in ("grey box", "light blue", "green", "name_scope", "backward"):
        assert words in LEGEND
