"""Specification of the drawings that teach: several outputs, operand order, values kept on request,
collapsed scopes, hover details, and the data and file of the interactive page (the page's behaviour in
a browser is tested in test_page_in_browser.py)."""

from __future__ import annotations

import json
import re
import struct
import weakref
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_viz import attribute, edges, label_of, labels, node_labelled, nodes, two_layer_network

import autograd_nn as ag
from autograd_nn.grad_mode import KEPT_SIZE, ValueSummary
from autograd_nn.ops import Op
from autograd_nn.tensor import _reverse_topological_order, _target
from autograd_nn.viz import Drawing, draw_graph, save_graph

XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


def tooltips(svg: str) -> dict[str, str]:
    """SVG node id -> the tooltip Graphviz wrote for it."""
    found = {}
    for group in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g"):
        if group.get("class") == "node":
            link = next(group.iter("{http://www.w3.org/2000/svg}a"), None)
            if link is not None:
                found[group.get("id")] = link.get(XLINK_TITLE).replace(
                    "\xa0", " "
                )  # dot writes "  " as " &#160;"
    return found


def engine_backward_ops(root: ag.Tensor) -> list[Op]:
    """The ops in the order backward() runs their VJPs (the engine's own ordering)."""
    return [item for item in _reverse_topological_order(_target(root)) if isinstance(item, Op)]


# ---------------------------------------------------------------- several outputs


def test_several_outputs_are_drawn_together_sharing_what_they_share():
    net = two_layer_network()
    penalty = (net.theta1**2).sum()
    penalty.name = "penalty"
    source = draw_graph([net.J, penalty]).source
    for output in ("<b>J</b>", "<b>penalty</b>"):
        assert attribute(nodes(source)[node_labelled(source, output)], "fillcolor") == "darkolivegreen1"
    node_labelled(source, "<b>theta1</b>")  # exactly one theta1 node feeds both
    assert len([n for n in nodes(source) if n.startswith("op")]) == 17 + 2  # the network's ops + pow, sum


def test_an_output_that_the_other_uses_is_drawn_once_as_an_output():
    x = ag.Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = x * 3
    y.name = "y"
    z = y.sum()
    source = draw_graph([z, y]).source
    assert attribute(nodes(source)[node_labelled(source, "<b>y</b>")], "fillcolor") == "darkolivegreen1"


def test_outputs_must_be_tensors():
    with pytest.raises(TypeError, match="a Tensor or a non-empty list of Tensors"):
        draw_graph([])
    with pytest.raises(TypeError, match="list holding other objects"):
        draw_graph([ag.Tensor(1.0), 2.0])


# ---------------------------------------------------------------- operand order


def test_edges_into_non_commutative_ops_say_which_operand_they_are():
    a = ag.Tensor([1.0, 2.0], requires_grad=True, name="a")
    b = ag.Tensor([3.0, 4.0], requires_grad=True, name="b")
    M = ag.Tensor(np.ones((2, 2)), requires_grad=True, name="M")
    out = ((a - b) / (b @ M)).sum() + (a * b).sum() + (a + b).sum()
    source = draw_graph(out).source
    into = {}
    for source_name, target, attrs in edges(source):
        label = re.search(r"headlabel=(\d)", attrs)
        into.setdefault(attribute(nodes(source)[target], "label"), []).append(
            (source_name, label.group(1) if label else None)
        )
    name_a, name_b, name_m = (node_labelled(source, f"<b>{n}</b>") for n in "abM")
    assert sorted(into["sub"]) == sorted([(name_a, "0"), (name_b, "1")])
    assert sorted(into["matmul"]) == sorted([(name_b, "0"), (name_m, "1")])
    assert sorted(label for _, label in into["div"]) == ["0", "1"]
    assert all(label is None for _, label in into["mul"] + into["add"])  # order does not matter
    assert "first (0) or second (1) operand" in ag.viz.LEGEND


def test_a_reflected_operand_keeps_its_place():
    h = ag.Tensor([0.25, 0.5], requires_grad=True, name="h")
    source = draw_graph((1 - h).sum()).source
    constant, h_node = node_labelled(source, "<b>1.0</b>"), node_labelled(source, "<b>h</b>")
    labelled = {
        a: re.search(r"headlabel=(\d)", attrs).group(1)
        for a, _, attrs in edges(source)
        if "headlabel" in attrs
    }
    assert labelled == {constant: "0", h_node: "1"}  # 1 - h: the constant comes first


# ---------------------------------------------------------------- values kept on request


def test_intermediate_values_are_freed_unless_kept():
    net = two_layer_network()
    plain = labels(draw_graph(net.J, show_values=True).source)
    assert "values freed after use" in plain
    with ag.keep_values():
        kept = two_layer_network()
    source = draw_graph(kept.J, show_values=True).source
    assert "values freed after use" not in labels(source)
    # A big intermediate keeps mean, min and max; the sum over 8 rows (8 values) too; tiny ones whole.
    h_label = label_of(nodes(source)[node_labelled(source, "<b>h</b>")])
    h = kept.h.data
    assert f"mean {h.mean():.4g}  min {h.min():.4g}  max {h.max():.4g}" in h_label


def test_kept_values_are_a_copy_when_small_and_a_summary_when_big():
    x = ag.Tensor(np.arange(4.0), requires_grad=True)
    big = ag.Tensor(np.arange(KEPT_SIZE + 1.0), requires_grad=True)
    with ag.keep_values():
        small_out, big_out = x * 2, big * 2
    assert np.array_equal(small_out.op.kept, [0.0, 2.0, 4.0, 6.0])
    assert small_out.op.kept is not small_out.data  # a later change to the output leaves it as it was
    assert big_out.op.kept == ValueSummary(float(big_out.data.mean()), 0.0, 2.0 * KEPT_SIZE)
    assert not ag.grad_mode.STATE.keep_values  # the mode ends with the block


def test_without_keep_values_a_node_keeps_nothing_extra_and_frees_intermediates():
    x = ag.Tensor(np.ones(10_000), requires_grad=True)
    y = x.exp()  # exp keeps its output (its VJP reads it)...
    z = (y * 2).sum()  # ...mul keeps y; sum keeps nothing of its input
    for op in (y.op, z.op):
        assert getattr(op, "kept", None) is None and getattr(op, "origin", None) is None
    doubled = y * 2
    freed = weakref.ref(doubled.data)
    total = doubled.sum()
    del doubled
    assert freed() is None  # no node holds the intermediate's array
    assert total.op.parents[0] is not None


def test_keep_values_nests_and_works_as_a_decorator():
    @ag.keep_values()
    def square(t):
        return t * t

    x = ag.Tensor([3.0], requires_grad=True)
    assert np.array_equal(square(x).op.kept, [9.0])
    assert getattr((x * x).op, "kept", None) is None
    with ag.keep_values(), ag.keep_values():
        pass
    assert not ag.grad_mode.STATE.keep_values


# ---------------------------------------------------------------- hover details (SVG tooltips)


def test_svg_tooltips_give_full_name_shape_dtype_values_gradient_and_origin(dot_program, tmp_path):
    with ag.keep_values():
        net = two_layer_network()
    net.J.backward()
    drawing = draw_graph(net.J)
    svg = save_graph(drawing, tmp_path / "g.svg").read_text()
    tips = tooltips(svg)
    theta1 = tips[drawing.node_name(net.theta1)]
    g = net.theta1.grad
    assert "layer1/theta1 (parameter)" in theta1 and "shape (3, 4), float64" in theta1
    assert "values: mean 1.375  min 0.0  max 2.75" in theta1
    assert f".grad norm {np.linalg.norm(g):.4g}  mean {g.mean():.4g}" in theta1
    a1 = tips[drawing.node_name(net.a1)]
    assert "layer1/a1 (intermediate)" in a1 and f"values: mean {net.a1.data.mean():.4g}" in a1
    assert re.search(r"created at \S*test_viz\.py:\d+", a1)  # the user's line that computed a1


# ---------------------------------------------------------------- collapsed scopes


def test_collapse_draws_each_scope_as_one_node_with_its_inputs_and_outputs():
    net = two_layer_network()
    source = draw_graph(net.J, collapse=True).source
    drawn = nodes(source)
    scopes = {label_of(a): n for n, a in drawn.items() if attribute(a, "shape") == "box3d"}
    assert len(scopes) == 3 and all(any(s in lbl for lbl in scopes) for s in ("layer1", "layer2", "cost"))
    assert "4 ops (collapsed)" in next(
        lbl for lbl in scopes if "layer1" in lbl
    )  # transpose, matmul, add, sigmoid
    assert not [n for n in drawn if n.startswith("op")]  # every op is inside some scope
    for visible in ("X", "Y", "theta1", "b1", "theta2", "b2", "a1", "h", "J"):  # inputs and outputs
        node_labelled(source, f"<b>{visible}</b>")
    layer1 = scopes[next(lbl for lbl in scopes if "layer1" in lbl)]
    into_layer1 = {a for a, b, _ in edges(source) if b == layer1}
    assert into_layer1 == {node_labelled(source, f"<b>{n}</b>") for n in ("X", "theta1", "b1")}
    assert {b for a, b, _ in edges(source) if a == layer1} == {node_labelled(source, "<b>a1</b>")}


def test_one_scope_at_a_time_can_be_collapsed_or_expanded():
    net = two_layer_network()
    only_layer1 = draw_graph(net.J, collapse=["layer1"]).source
    ops = [attribute(a, "label") for n, a in nodes(only_layer1).items() if n.startswith("op")]
    assert ops.count("matmul") == 1 and "sigmoid" in ops  # layer2's ops are drawn, layer1's are not
    open_layer2 = draw_graph(net.J, collapse=True, expand=["layer2"]).source
    ops = [attribute(a, "label") for n, a in nodes(open_layer2).items() if n.startswith("op")]
    assert sorted(ops) == ["add", "matmul", "sigmoid", "transpose"]  # layer2's four ops, alone
    with pytest.raises(TypeError, match="list of scope names"):
        draw_graph(net.J, collapse="layer1")
    with pytest.raises(
        ValueError,
        match=r"collapse names scope 'layr1', which is not in the graph \(its scopes: cost, layer1, layer2\)",
    ):
        draw_graph(net.J, collapse=["layr1"])
    with pytest.raises(ValueError, match="expand names scope 'layer3'"):
        draw_graph(net.J, collapse=True, expand=["layer3"])


def test_nested_scopes_collapse_into_the_outermost_unless_it_is_expanded():
    x = ag.Tensor(np.ones(3), requires_grad=True, name="x")
    with ag.name_scope("net"):
        with ag.name_scope("block1"):
            y = (x * 2).exp()
        with ag.name_scope("block2"):
            z = (y + 1).sum()
    outer = nodes(draw_graph(z, collapse=True).source)
    assert sum(attribute(a, "shape") == "box3d" for a in outer.values()) == 1
    inner = draw_graph(z, collapse=True, expand=["net"])
    boxes = [label_of(a) for a in nodes(inner.source).values() if attribute(a, "shape") == "box3d"]
    assert len(boxes) == 2 and any("block1" in b for b in boxes) and any("block2" in b for b in boxes)
    assert inner.node_name(y) == inner.node_name(y)  # y is block1's output: drawn between the two
    assert inner.node_name(y).startswith("t")


def test_a_50000_op_loop_collapsed_renders_small(dot_program, tmp_path):
    x = x0 = ag.Tensor(np.ones(4), requires_grad=True, name="x")
    with ag.name_scope("loop"):
        for step in range(50):
            with ag.name_scope(f"step{step}"):
                for _ in range(1000):
                    x = x * 1.0001
    loss = x.sum()
    drawing = draw_graph(loss, collapse=True, max_nodes=100_000)
    assert "50,000 ops (collapsed)" in drawing.source
    png = save_graph(drawing, tmp_path / "loop.png").read_bytes()
    width, height = struct.unpack(">II", png[16:24])
    assert width < 1000 and height < 1000, (width, height)
    steps = drawing.page_data["steps"]  # sum's VJP, then the loop's 50,000 as one step
    assert [step["ops"] for step in steps] == [1, 50_000]
    growth = 1.0001**50_000  # d(sum)/dx, for each of x's 4 elements
    assert steps[1]["sends"] == [  # only the gradient that leaves the scope: the one reaching x
        {
            "node": drawing.node_name(x0),
            "operand": 0,
            "shape": "(4,)",
            "summary": f"grad: norm {2 * growth:.4g}  mean {growth:.4g}",
        }
    ]


# ---------------------------------------------------------------- the page's data and file


def test_page_steps_follow_the_engines_backward_order():
    net = two_layer_network()
    drawing = draw_graph(net.J)
    steps = drawing.page_data["steps"]
    assert [s["node"] for s in steps] == [drawing.node_name(op) for op in engine_backward_ops(net.J)]
    assert [s["op"] for s in steps] == [op.label() for op in engine_backward_ops(net.J)]


def test_each_step_shows_the_gradient_the_op_sends_to_each_input():
    a = ag.Tensor([1.0, 2.0], requires_grad=True, name="a")
    b = ag.Tensor([3.0, 4.0], requires_grad=True, name="b")
    c = ag.Tensor([5.0, 7.0], name="c")  # needs no gradient: nothing is sent to it
    product = a * b
    out = (product - c).sum()
    drawing = draw_graph(out)
    by_op = {s["op"]: s["sends"] for s in drawing.page_data["steps"]}
    assert by_op["sub"] == [  # to a*b only: c needs no gradient
        {
            "node": drawing.node_name(product),
            "operand": 0,
            "shape": "(2,)",
            "summary": "grad: norm 1.414  mean 1.0",
        }
    ]
    sends = {s["node"]: s for s in by_op["mul"]}
    assert sends[drawing.node_name(a)]["summary"] == "grad: norm 5.0  mean 3.5"  # d(a*b)/da = b
    assert sends[drawing.node_name(b)]["summary"] == "grad: norm 2.236  mean 1.5"  # = a
    assert a.grad is None and b.grad is None  # the drawing's backward pass touches no .grad


def test_no_steps_without_a_gradient_to_follow():
    x = ag.Tensor([1.0, 2.0], name="x")
    assert draw_graph(x.sum()).page_data["steps"] == []


def test_a_graph_whose_backward_pass_fails_is_still_drawn_without_steps():
    class Broken(Op):
        __slots__ = ()
        name = "broken"

        def forward(self, x):
            return x * 2

        def vjp(self, g, out, x):
            raise ag.AutogradError("broken: no VJP here")

    x = ag.Tensor([1.0, 2.0], requires_grad=True, name="x")
    out = ag.tensor.apply(Broken(), x).sum()
    drawing = draw_graph(out)
    assert "broken" in drawing.source
    assert drawing.page_data["steps"] == []
    assert "broken: no VJP here" in drawing.page_data["steps_note"]
    assert ag.grad_mode.STATE.enabled  # recording is back on


def test_node_records_list_inputs_so_the_page_can_find_ancestors():
    net = two_layer_network()
    drawing = draw_graph(net.J)
    data = drawing.page_data
    assert data["outputs"] == [drawing.node_name(net.J)]
    assert set(data["nodes"]) == set(nodes(drawing.source))
    for source_name, target, _ in edges(drawing.source):
        assert source_name in data["nodes"][target]["inputs"]


def test_html_is_one_self_contained_file_with_the_svg_and_the_data(dot_program, tmp_path):
    net = two_layer_network()
    net.J.backward()
    drawing = draw_graph(net.J, title="a </script> in the title")
    page = save_graph(drawing, tmp_path / "graph.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 1
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # nothing loaded from elsewhere
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    payload = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.S)
    assert json.loads(payload.group(1)) == json.loads(json.dumps(drawing.page_data))
    assert "<h1>a &lt;/script&gt; in the title</h1>" in page and "{{" not in page  # placeholders filled
    with pytest.raises(TypeError, match="drawing from draw_graph"):
        save_graph(ag.viz.graph.graphviz.Digraph(), tmp_path / "plain.html")


def test_drawings_display_inline_in_jupyter(dot_program):
    drawing = draw_graph(two_layer_network().J)
    assert isinstance(drawing, Drawing)
    assert "<svg" in drawing._repr_mimebundle_()["image/svg+xml"]
    assert drawing.copy().page_data is drawing.page_data


def test_unnamed_intermediates_are_named_by_the_expression_that_computed_them():
    """Written as Python would write it (parentheses only where precedence needs them), at most 24 characters."""
    a, b, c = (ag.Tensor([1.0, 2.0], requires_grad=True, name=n) for n in "abc")
    M = ag.Tensor(np.ones((2, 2)), requires_grad=True, name="M")
    left, right = (a - b) - c, a - (b - c)
    ratio = (a - b) / (b @ M)
    chain = ((a * 2 + b).sigmoid() * (c @ M.T).tanh()).sum(axis=0)
    outputs = [t.sum() for t in (left, right, ratio, chain)]  # the four are intermediates of these
    titles = {node["title"] for node in draw_graph(outputs).page_data["nodes"].values()}
    for expected in ("a - b", "a - b - c", "b - c", "a - (b - c)", "b @ M", "(a - b) / (b @ M)", "M.T"):
        assert f"{expected} (intermediate)" in titles
    assert "sigmoid(a * 2.0 + b) (intermediate)" in titles  # a number in the formula shows its value
    assert "sigmoid(…) * tanh(…) (intermediate)" in titles  # too long whole: the longest inputs shorten
    assert all(len(t.removesuffix(" (intermediate)")) <= 24 for t in titles if t.endswith("(intermediate)"))
    label = draw_graph(ratio.sum()).source
    assert "<i>(a - b) / (b @ M)</i>" in label  # in the drawing, in italics: not a name the user gave
