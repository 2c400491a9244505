"""Seeing the recorded graph: Graphviz drawings (``graph``) and the interactive HTML page (``page``)."""

from .graph import LEGEND, Drawing, GraphvizNotFoundError, draw_graph, save_graph

__all__ = ["LEGEND", "Drawing", "GraphvizNotFoundError", "draw_graph", "save_graph"]
