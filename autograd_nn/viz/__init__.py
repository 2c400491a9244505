"""Seeing the recorded graph: Graphviz drawings (``graph``)."""

from .graph import LEGEND, GraphvizNotFoundError, draw_graph, save_graph

__all__ = ["LEGEND", "GraphvizNotFoundError", "draw_graph", "save_graph"]
