"""Regenerate every drawing in docs/ (the documentation's images) from the code, deterministically.

    python docs/make_drawings.py            # all of them
    python docs/make_drawings.py cnn page   # only some: network, check, cnn, page

network_graph.svg   the tutorial's 64-25-10 network on all 1,797 digits, as `autograd-nn graph` draws it
check_backprop.svg  examples/check_backprop.py's last check with a mistake (green agrees, red does not)
cnn_collapsed.svg   examples/digits_cnn.py's CNN on 32 digits, each layer (a Module's name_scope) collapsed
graph_page.png      the interactive page of the tutorial network drawn with a gradient check (compare=),
                    stepped to the fourth backward step, in headless Chromium at 1400x900 (needs selenium and
                    Debian's chromium and chromium-driver; skipped with a message otherwise)

Seeds are fixed and Graphviz's output is deterministic, so running it twice gives the same SVG files; the
"created at FILE:LINE" of the tooltips is written relative to the project, so any checkout gives the same.
"""

from __future__ import annotations

import runpy
import sys
import tempfile
from pathlib import Path

import numpy as np

import autograd_nn as ag
from autograd_nn.digits import cli
from autograd_nn.digits.data import load_dataset, one_hot
from autograd_nn.digits.network import Network, input_scale_for
from autograd_nn.digits.reference import sigmoid
from autograd_nn.viz.browser import chromium_paths, headless_chromium

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
DIGITS = ROOT / "data" / "digits.xlsx"


def _project_relative(svg: Path) -> Path:
    """Drop this checkout's folder from the file paths of the tooltips ("created at autograd_nn/...")."""
    text = svg.read_text(encoding="utf-8")
    svg.write_text(text.replace(f"{ROOT}/", ""), encoding="utf-8")
    return svg


def network_graph() -> Path:
    out = DOCS / "network_graph.svg"
    cli.main(["graph", "--out", str(out), "--overwrite"])
    return _project_relative(out)


def check_backprop() -> Path:
    out = DOCS / "check_backprop.svg"
    argv = sys.argv
    try:
        sys.argv = ["check_backprop.py", "--graph", str(out)]
        runpy.run_path(str(ROOT / "examples" / "check_backprop.py"), run_name="__main__")
    finally:
        sys.argv = argv
    return _project_relative(out)


def cnn_collapsed() -> Path:
    sys.path.insert(0, str(ROOT / "examples"))
    from digits_cnn import digits_cnn

    data = load_dataset(DIGITS)
    images = (data.X[:32] / np.abs(data.X).max()).reshape(-1, 1, 8, 8)
    model = digits_cnn(np.random.default_rng(0))
    loss = ag.cross_entropy(model(images), data.y[:32] - 1)  # labels 1..10 as classes 0..9
    loss.name = "loss"
    loss.backward()
    title = "digits CNN, one node per layer (collapse=True)"
    drawing = ag.draw_graph(loss, collapse=True, title=title)
    return _project_relative(ag.save_graph(drawing, DOCS / "cnn_collapsed.svg", overwrite=True))


def tutorial_check(m: int = 200):
    """The tutorial network's cost on m digits, and its hand-derived gradients checked against autodiff."""
    data = load_dataset(DIGITS)
    net = Network([data.n, 25, 10], seed=0, input_scale=input_scale_for(data.X))
    X, Y = data.X[:m], one_hot(data.y[:m])
    with ag.keep_values():
        cost = net.cost(X, Y)
    cost.backward()
    (theta1, b1), (theta2, b2) = net.arrays()
    A1 = X / net.input_scale
    a2 = sigmoid(A1 @ theta1.T + b1)
    delta3 = sigmoid(a2 @ theta2.T + b2) - Y
    delta2 = delta3 @ theta2 * a2 * (1 - a2)
    manual = {
        "z3": delta3,
        "theta2": delta3.T @ a2 / m,
        "b2": delta3.sum(axis=0) / m,
        "z2": delta2,
        "theta1": delta2.T @ A1 / m,
        "b1": delta2.sum(axis=0) / m,
    }
    report = ag.compare_gradients(cost, manual, scale={"z3": 1 / m, "z2": 1 / m})
    assert report.ok, report
    return net, cost, report


def graph_page() -> Path | None:
    try:
        from selenium.webdriver import ActionChains
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        print("graph_page.png: skipped, selenium is not installed (pip install -e '.[browser]')")
        return None
    if chromium_paths() is None:
        print("graph_page.png: skipped, Chromium is not installed (apt-get install chromium chromium-driver)")
        return None
    net, cost, report = tutorial_check()
    drawing = ag.draw_graph(cost, title="the tutorial's network", show_values=True, compare=report)
    out = DOCS / "graph_page.png"
    with tempfile.TemporaryDirectory() as folder:
        page = ag.save_graph(drawing, Path(folder) / "graph.html")
        browser = headless_chromium(Path(folder) / "profile", window=(1400, 900), hide_scrollbars=True)
        try:  # the page's own area 1400x900, a laptop's browser window, as the page's tests check it
            browser.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            )
            browser.get(page.as_uri())
            WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.body.dataset.ready"))
            theta2 = browser.find_element("id", drawing.node_name(net.params[1][0]))
            ActionChains(browser).move_to_element(theta2).perform()
            for _ in range(4):
                browser.find_element("id", "next").click()
            browser.save_screenshot(str(out))
        finally:
            browser.quit()
    return out


DRAWINGS = {"network": network_graph, "check": check_backprop, "cnn": cnn_collapsed, "page": graph_page}


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in DRAWINGS]
    if unknown:
        print(
            f"make_drawings: unknown drawing {unknown[0]!r}; choose from {', '.join(DRAWINGS)}",
            file=sys.stderr,
        )
        return 2
    for name in argv or DRAWINGS:
        written = DRAWINGS[name]()
        if written is not None:
            print(f"wrote {written.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
