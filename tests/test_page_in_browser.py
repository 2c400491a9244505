"""The interactive page of the tutorial's graph, driven in a real browser (Debian's headless Chromium
through selenium): no console errors, hover details, click highlights, the backward pass step by step.

Skipped when selenium or Chromium is missing, unless ``AUTOGRAD_NN_REQUIRE_BROWSER=1`` (set in CI),
which makes that a failure. The screenshot goes to ``$AUTOGRAD_NN_ARTIFACTS`` when set, else to the
test's temporary folder.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

import autograd_nn as ag
from autograd_nn.datasets.tables import bundled_digits, load_dataset, one_hot
from autograd_nn.digits.network import Network, input_scale_for
from autograd_nn.digits.reference import sigmoid
from autograd_nn.ops import Op
from autograd_nn.tensor import _reverse_topological_order, _target
from autograd_nn.viz.browser import headless_chromium

ROOT = Path(__file__).resolve().parent.parent
VIEWPORT = (1400, 900)  # a laptop's browser window: what the page must be readable in without zooming
READABLE_PX = 11  # the smallest text, in CSS pixels, that reads without zooming


def _require(message: str) -> None:
    if os.environ.get("AUTOGRAD_NN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message}, and AUTOGRAD_NN_REQUIRE_BROWSER=1 requires it")
    pytest.skip(message)


def open_chromium(profile: Path):
    """Headless Chromium (viz.browser), or a skip (a failure in CI) naming what is missing."""
    try:
        return headless_chromium(profile)
    except ImportError:
        _require("selenium is not installed (pip install -e '.[browser]')")
    except FileNotFoundError as missing:
        _require(str(missing))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    session = open_chromium(tmp_path_factory.mktemp("chromium-profile"))
    width, height = VIEWPORT  # the page's own area, without the window's frame
    session.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    yield session
    session.quit()


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """The tutorial network's cost on 200 digits, backpropagated, drawn, and saved as a page."""
    with bundled_digits() as path:
        data = load_dataset(path)
    network = Network([data.n, 25, 10], seed=0, input_scale=input_scale_for(data.X))
    with ag.keep_values():
        cost = network.cost(data.X[:200], one_hot(data.y[:200]))
    cost.backward()
    drawing = ag.draw_graph(cost, title="the tutorial's network", show_values=True)
    page = ag.save_graph(drawing, tmp_path_factory.mktemp("page") / "graph.html")
    return network, cost, drawing, page


@pytest.fixture(scope="module")
def page(browser, tutorial):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(tutorial[3].as_uri())
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.body.dataset.ready"))
    return browser


def engine_backward_ops(cost) -> list[Op]:
    return [item for item in _reverse_topological_order(_target(cost)) if isinstance(item, Op)]


def ancestors_in_the_engine(drawing, op: Op) -> set[str]:
    """The drawn nodes an op depends on, found by walking the engine's graph (not the page's data):
    its input values and, through the ops that computed them, theirs."""
    found: set[str] = set()
    stack = [op]
    while stack:
        for parent in stack.pop().parents:
            source = _target(parent)  # the op that computed an input, or the leaf itself
            found.add(drawing._names["value", id(source)])
            if isinstance(source, Op):
                found.add(drawing._names["op", id(source)])
                stack.append(source)
    return found


def test_the_page_opens_without_console_errors(page):
    errors = [entry for entry in page.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    assert page.title == "the tutorial's network"
    assert page.find_element("css selector", "#canvas svg").is_displayed()


def test_hovering_a_parameter_shows_its_details(page, tutorial):
    from selenium.webdriver import ActionChains

    network, _, drawing, _ = tutorial
    theta1 = network.params[0][0]
    ActionChains(page).move_to_element(page.find_element("id", drawing.node_name(theta1))).perform()
    details = page.find_element("id", "details").text
    assert "layer1/theta1 (parameter)" in details
    assert "shape (25, 64), float64" in details
    assert f".grad norm {ag.viz.graph._number(float((theta1.grad**2).sum() ** 0.5))}" in details


def test_clicking_a_node_highlights_what_it_depends_on_and_what_depends_on_it(page, tutorial):
    _, cost, drawing, _ = tutorial
    [bce] = [op for op in engine_backward_ops(cost) if op.name == "bce_with_logits"]
    node = drawing.node_name(bce)
    page.find_element("id", "fit").click()  # the whole graph: the page opens on its top part
    page.find_element("id", node).click()
    highlighted = {e.get_attribute("id") for e in page.find_elements("css selector", "g.node.ancestor")}
    expected = ancestors_in_the_engine(drawing, bce)
    assert len(highlighted) == len(expected) == 20  # X, y, 4 parameters, 6 ops, 8 values
    assert highlighted == expected
    below = {e.get_attribute("id") for e in page.find_elements("css selector", "g.node.descendant")}
    assert below == {drawing._names["value", id(bce)], drawing.node_name(cost.op), drawing.node_name(cost)}
    page.find_element("id", node).click()  # a second click clears the highlight
    assert not page.find_elements("css selector", "g.node.ancestor")


def test_stepping_the_backward_pass_follows_the_engines_order(page, tutorial):
    _, cost, drawing, _ = tutorial
    engine_order = engine_backward_ops(cost)
    step_box = page.find_element("id", "step")
    seen = []
    for _ in engine_order:
        page.find_element("id", "next").click()
        highlighted = page.find_elements("css selector", "g.node.step-op")
        assert len(highlighted) == 1
        seen.append(step_box.get_attribute("data-node"))
        assert highlighted[0].get_attribute("id") == seen[-1]
        assert in_view(page, seen[-1])  # the page pans to the op whose VJP runs
        assert "grad: norm" in step_box.text or "no input needs a gradient" in step_box.text
    assert seen == [drawing.node_name(op) for op in engine_order]
    page.find_element("id", "next").click()  # past the end it stays on the last step
    assert step_box.get_attribute("data-node") == seen[-1]
    page.find_element("id", "prev").click()
    assert step_box.get_attribute("data-node") == seen[-2]
    assert page.find_elements("css selector", "g.node.step-input")  # the inputs it sends gradients to


def view_box(page) -> list[float]:
    return [
        float(v)
        for v in page.find_element("css selector", "#canvas svg").get_dom_attribute("viewBox").split()
    ]


def in_view(page, node_id: str) -> bool:
    return page.execute_script(
        "const box = document.querySelector('#canvas svg').getBoundingClientRect();"
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;",
        node_id,
    )


def test_the_wheel_zooms_a_drag_pans_and_fit_brings_the_whole_graph_back(page):
    page.find_element("id", "fit").click()
    whole = view_box(page)
    page.execute_script(
        "const box = arguments[0].getBoundingClientRect();"
        "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -400, bubbles: true, cancelable: true,"
        " clientX: box.left + box.width / 2, clientY: box.top + box.height / 2}));",
        page.find_element("id", "canvas"),
    )
    zoomed = view_box(page)
    assert zoomed[2] < whole[2] * 0.7 and zoomed[3] < whole[3] * 0.7  # closer: a smaller part of the graph
    page.execute_script(
        "const canvas = arguments[0];"
        "canvas.dispatchEvent(new MouseEvent('mousedown', {clientX: 300, clientY: 300, bubbles: true}));"
        "window.dispatchEvent(new MouseEvent('mousemove', {clientX: 400, clientY: 350, bubbles: true}));"
        "window.dispatchEvent(new MouseEvent('mouseup', {clientX: 400, clientY: 350, bubbles: true}));",
        page.find_element("id", "canvas"),
    )
    panned = view_box(page)
    assert panned[0] < zoomed[0] and panned[1] < zoomed[1] and panned[2:] == zoomed[2:]  # dragged right, down
    page.find_element("id", "fit").click()
    assert view_box(page) == pytest.approx(whole, abs=0.01)
    page.find_element("id", "readable").click()  # back to the size the page opens with
    assert view_box(page)[2] < whole[2] * 0.7


def test_a_graph_drawn_with_a_gradient_check_shows_its_verdicts_on_the_page(browser, tutorial, tmp_path):
    """compare= with a real report: the tutorial's backprop with the sign of delta2 flipped. The rows
    nearest the loss (z3, b2, theta2) agree and are green; z2 and what is computed from it are red."""
    network, cost, _, _ = tutorial
    with bundled_digits() as path:
        data = load_dataset(path)
    m = 200
    X, Y = data.X[:m] / network.input_scale, one_hot(data.y[:m])
    (theta1, b1), (theta2, b2) = network.arrays()
    a2 = sigmoid(X @ theta1.T + b1)
    delta3 = sigmoid(a2 @ theta2.T + b2) - Y
    delta2 = -(delta3 @ theta2 * a2 * (1 - a2))  # the planted mistake: the wrong sign
    manual = {"z3": delta3, "theta2": delta3.T @ a2 / m, "b2": delta3.sum(axis=0) / m}
    manual.update({"z2": delta2, "theta1": delta2.T @ X / m, "b1": delta2.sum(axis=0) / m})
    report = ag.compare_gradients(cost, manual, scale={"z3": 1 / m, "z2": 1 / m})
    assert {row.name: row.verdict for row in report.rows} == {
        "z3": "ok", "b2": "ok", "theta2": "ok", "z2": "sign", "b1": "sign", "theta1": "sign"
    }  # fmt: skip
    drawing = ag.draw_graph(cost, title="checked", compare=report)
    browser.get(ag.save_graph(drawing, tmp_path / "checked.html").as_uri())
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.body.dataset.ready"))
    node = {row.name: drawing._names["value", id(row.target)] for row in report.rows}
    marked = browser.execute_script(
        "return [...document.querySelectorAll('g.node[class*=status-]')].map(g => [g.id, g.getAttribute('class')])"
    )
    assert dict(marked) == {
        node[name]: f"node status-{'ok' if name in ('z3', 'b2', 'theta2') else 'mismatch'}" for name in node
    }  # exactly the compared tensors, each with its own verdict
    fill = "return getComputedStyle(document.querySelector('#' + arguments[0] + ' :is(polygon, path)')).fill"
    assert browser.execute_script(fill, node["theta2"]) == "rgb(185, 239, 185)"  # page.css: green
    assert browser.execute_script(fill, node["theta1"]) == "rgb(255, 179, 179)"  # page.css: red
    width = "return document.querySelector('#' + arguments[0] + ' :is(polygon, path)').getAttribute('stroke-width')"
    assert browser.execute_script(width, node["z2"]) == "3"  # the first mismatch, bold
    assert browser.execute_script(width, node["b1"]) == "1.5"
    legend = browser.find_element("id", "legend").text
    assert "green / red box: a hand-derived gradient that agrees / disagrees with autodiff" in legend
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []


# What a reader sees at 1400x900 without zooming: every text at least READABLE_PX CSS pixels high. The font
# size of an SVG text in CSS pixels is its font-size times the scale the SVG is drawn at (getScreenCTM).
RENDERED_TEXT_SIZES = """
const sizes = [];
document.querySelectorAll('#canvas svg text').forEach(t => {
  sizes.push([parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a, t.textContent, t.getAttribute('fill')]);
});
document.querySelectorAll('aside li, aside div, aside p, aside h2, header *').forEach(e => {
  if (e.textContent.trim()) sizes.push([parseFloat(getComputedStyle(e).fontSize), e.textContent.slice(0, 40), 'html']);
});
return sizes;
"""


def test_every_text_reads_at_1400x900_as_the_page_opens(browser, tutorial, tmp_path):
    browser.get(tutorial[3].as_uri())  # freshly opened: the view the page starts with
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.body.dataset.ready"))
    assert browser.execute_script("return [innerWidth, innerHeight]") == list(VIEWPORT)
    sizes = browser.execute_script(RENDERED_TEXT_SIZES)
    svg_sizes = [(size, text) for size, text, fill in sizes if fill != "html"]
    gradient_lines = [size for size, text, fill in sizes if text.startswith("grad: norm")]
    assert len(svg_sizes) > 50 and len(gradient_lines) == 4  # every node's text; the 4 parameters' gradients
    assert min(svg_sizes) >= (READABLE_PX, "")  # the node text, operand numbers and gradient lines
    assert min(gradient_lines) >= READABLE_PX
    assert min(size for size, _, fill in sizes if fill == "html") >= READABLE_PX  # header and side panel
    shot = save_artifact(browser, "graph_page_opened.png", tmp_path)
    assert png_size(shot) == VIEWPORT


def test_the_title_appears_once(page):
    title = page.execute_script("return document.querySelector('h1').textContent")
    assert title == "the tutorial's network"
    shown = page.execute_script(
        "return [...document.body.querySelectorAll('*')]"
        ".filter(e => e.children.length === 0 && e.textContent.trim() === arguments[0]).length",
        title,
    )
    assert shown == 1  # the header, not again inside the drawing


def test_unnamed_intermediates_are_named_by_the_expression_that_computed_them(page, tutorial):
    _, cost, drawing, _ = tutorial
    texts = page.execute_script(
        "return [...document.querySelectorAll('#canvas svg text')].map(t => t.textContent)"
    )
    for expression in ("theta1.T", "X @ theta1.T", "theta2.T", "a2 @ theta2.T", "bce_with_logits(z3, y)"):
        assert expression in texts
    [layer2_matmul] = [op for op in engine_backward_ops(cost) if op.name == "matmul" and op.scope == "layer2"]
    step_box = page.find_element("id", "step")
    page.find_element("id", "prev").click()  # from wherever an earlier test left it, back to the start
    for _ in engine_backward_ops(cost):
        page.find_element("id", "prev").click()
    while step_box.get_attribute("data-node") != drawing.node_name(layer2_matmul):
        page.find_element("id", "next").click()
    assert "to operand 1, theta2.T (intermediate): (25, 10), grad: norm" in step_box.text
    assert "to operand 0, layer1/a2 (intermediate): (200, 25)" in step_box.text


EDGE_AND_NODE_COLOURS = """
const stroke = el => getComputedStyle(el).stroke, fill = el => getComputedStyle(el).fill;
const node = cls => stroke(document.querySelector('g.node.' + cls + ' :is(polygon, ellipse, path)'));
const edges = cls => [...document.querySelectorAll('g.edge.' + cls)].map(g => ({
  ends: g.querySelector('title').textContent.split('->'),
  line: stroke(g.querySelector('path')), head: fill(g.querySelector('polygon')),
}));
return {ancestor: node('ancestor'), descendant: node('descendant'),
        upstream: edges('upstream'), downstream: edges('downstream')};
"""


def test_after_a_click_edges_take_the_colour_of_the_nodes_they_join(page, tutorial, tmp_path):
    """Orange nodes and edges above the clicked node, purple nodes and edges below it."""
    _, cost, drawing, _ = tutorial
    [sigmoid] = [op for op in engine_backward_ops(cost) if op.name == "sigmoid"]  # layer1's, in the middle
    node = drawing.node_name(sigmoid)
    page.find_element("id", "fit").click()
    page.find_element("id", node).click()
    colours = page.execute_script(EDGE_AND_NODE_COLOURS)
    below = {e.get_attribute("id") for e in page.find_elements("css selector", "g.node.descendant")}
    above = {e.get_attribute("id") for e in page.find_elements("css selector", "g.node.ancestor")}
    assert colours["descendant"] == "rgb(123, 47, 191)" and colours["ancestor"] == "rgb(230, 126, 0)"
    assert len(colours["downstream"]) >= len(below) > 5 and len(colours["upstream"]) >= len(above) > 5
    for edge in colours["downstream"]:
        assert set(edge["ends"]) <= below | {node}
        assert edge["line"] == edge["head"] == colours["descendant"]
    for edge in colours["upstream"]:
        assert set(edge["ends"]) <= above | {node}
        assert edge["line"] == edge["head"] == colours["ancestor"]
    save_artifact(page, "graph_page_clicked.png", tmp_path)
    page.find_element("id", node).click()  # a second click clears it
    assert not page.find_elements("css selector", "g.edge.downstream, g.edge.upstream")


def save_artifact(browser, name: str, tmp_path) -> Path:
    """A screenshot in $AUTOGRAD_NN_ARTIFACTS when set, else in the test's temporary folder."""
    folder = Path(os.environ.get("AUTOGRAD_NN_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / name
    assert browser.save_screenshot(str(shot))
    return shot


def png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_a_screenshot_is_saved_as_a_test_artifact(page, tmp_path):
    shot = save_artifact(page, "graph_page.png", tmp_path)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    assert png_size(shot) == VIEWPORT
    errors = [entry for entry in page.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_the_page_load_benchmark_runs_end_to_end(browser, capsys):  # browser: skip or fail as above
    """benchmarks/page_load.py --quick reports every figure (how fast is not asserted here)."""
    import runpy

    script = runpy.run_path(str(ROOT / "benchmarks" / "page_load.py"))
    assert script["main"](["--quick"]) == 0
    out = capsys.readouterr().out
    for figure in ("draw_graph", "Graphviz + page", "open until interactive", "click", "one backward step"):
        assert figure in out and " ms" in out.split(figure, 1)[1].splitlines()[0]
