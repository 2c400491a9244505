"""The interactive page: one self-contained HTML file showing a drawing (``save_graph(d, "graph.html")``).

The page holds Graphviz's SVG inline, the drawing's data as JSON (``Drawing.page_data``: every node's
details and inputs, and the backward pass step by step) and a small hand-written script and style
sheet from ``static/``; it loads nothing from the network. In a browser it pans (drag) and zooms
(wheel), shows a node's details on hover, highlights on click everything the node depends on and
everything that depends on it, and steps through the backward pass: each step highlights the op whose
VJP runs, in the order ``backward()`` visits them, and lists the gradient it sends to each input.
A node whose record has a ``status`` (e.g. a gradient check's verdict) gets the CSS class
``status-<status>``, coloured by the style sheet.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources

__all__ = ["render_page"]


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def render_page(svg: str, data: dict) -> str:
    """The HTML page for Graphviz's ``svg`` text and the drawing's ``data`` (``Drawing.page_data``)."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("render_page: the SVG text holds no <svg> element")
    # "</" may not appear inside a <script> element; JSON allows writing "/" as "\/".
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    parts = {
        "{{title}}": html.escape(data.get("title", "autograd_nn graph")),
        "{{legend}}": "".join(
            f"<li>{html.escape(item)}</li>" for item in data.get("legend", "").split("; ") if item
        ),
        "{{style}}": _asset("page.css"),
        "{{svg}}": svg[start:],
        "{{data}}": payload,
        "{{script}}": _asset("page.js"),
    }
    # One pass over the template, so text inside the SVG or the data is never taken for a placeholder.
    return re.sub(r"\{\{\w+\}\}", lambda match: parts[match.group(0)], _asset("page.html"))
