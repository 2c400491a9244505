"""How long the interactive graph page of a 2,000-node graph takes to open in headless Chromium.

The graph is a deep sigmoid MLP (ten nodes per layer: theta, b, transpose, matmul, add, sigmoid and their
outputs; one name_scope per layer), drawn with ``draw_graph`` and written with ``save_graph(..., "html")``.
Measured, each the median of ``--repeat`` loads in a fresh tab of one headless Chromium (Debian's
/usr/bin/chromium driven by selenium, offline flags as in the tests):

- draw: ``draw_graph`` in Python (the walk, the labels, and the backward pass the page steps through);
- render: Graphviz laying out the SVG (``save_graph`` to HTML);
- open: from asking the browser to load the file:// URL to the page's script having set
  ``body[data-ready]`` (parsing, SVG layout, and the script wiring every node): the page is interactive;
- click / step: one click that highlights a node's ancestors and descendants, and one backward step,
  timed inside the page (performance.now around the event).

Target: open under 5 s for 2,000 nodes. Usage: ``python benchmarks/page_load.py [--nodes 2000] [--repeat 5]``
(``--quick``: 200 nodes, 2 loads, a smoke run). Needs ``pip install -e '.[browser]'`` and chromium.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import autograd_nn as ag
from autograd_nn.viz.browser import headless_chromium

NODES_PER_LAYER = 10


def deep_network_cost(layers: int) -> ag.Tensor:
    rng = np.random.default_rng(0)
    a = ag.Tensor(rng.random((16, 8)), name="X")
    for layer in range(1, layers + 1):
        with ag.name_scope(f"layer{layer}"):
            theta = ag.Tensor(rng.normal(scale=0.5, size=(8, 8)), requires_grad=True, name=f"theta{layer}")
            b = ag.Tensor(np.zeros(8), requires_grad=True, name=f"b{layer}")
            a = (a @ theta.T + b).sigmoid()
    return a.sum()


TIME_EVENT = """
const [id, kind] = arguments;
const target = kind === "click" ? document.getElementById(id) : document.getElementById("next");
const start = performance.now();
target.dispatchEvent(new MouseEvent("click", {bubbles: true}));
return performance.now() - start;
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2000, help="nodes in the drawing (default 2000)")
    parser.add_argument("--repeat", type=int, default=5, help="page loads to time (default 5)")
    parser.add_argument("--quick", action="store_true", help="200 nodes, 2 loads: a smoke run")
    args = parser.parse_args(argv)
    nodes, repeat = (200, 2) if args.quick else (args.nodes, args.repeat)
    layers = max(1, (nodes - 2) // NODES_PER_LAYER)

    cost = deep_network_cost(layers)
    start = time.perf_counter()
    drawing = ag.draw_graph(cost, max_nodes=nodes + 10, title=f"{layers}-layer MLP")
    draw_s = time.perf_counter() - start
    n_nodes = len(drawing.page_data["nodes"])
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "graph.html"
        start = time.perf_counter()
        ag.save_graph(drawing, page)
        render_s = time.perf_counter() - start
        size_mb = page.stat().st_size / 1e6
        browser = headless_chromium(Path(folder) / "profile")
        try:
            opens, clicks, steps = [], [], []
            for _ in range(repeat):
                start = time.perf_counter()
                browser.get(page.as_uri())  # returns once the document has loaded and its script has run
                while not browser.execute_script("return document.body.dataset.ready === 'true'"):
                    time.sleep(0.005)
                opens.append(time.perf_counter() - start)
                clicks.append(browser.execute_script(TIME_EVENT, drawing.node_name(cost), "click") / 1000)
                steps.append(browser.execute_script(TIME_EVENT, None, "step") / 1000)
            errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        finally:
            browser.quit()
    print(f"graph: {layers} layers, {n_nodes:,} nodes, {len(drawing.page_data['steps']):,} backward steps")
    print(f"draw_graph            {draw_s * 1000:8.0f} ms")
    print(f"Graphviz + page       {render_s * 1000:8.0f} ms   ({size_mb:.2f} MB HTML)")
    print(
        f"open until interactive{statistics.median(opens) * 1000:8.0f} ms   (median of {repeat}; target < 5000 ms)"
    )
    print(f"click (highlight)     {statistics.median(clicks) * 1000:8.1f} ms")
    print(f"one backward step     {statistics.median(steps) * 1000:8.1f} ms")
    if errors:
        print(f"console errors: {errors}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
