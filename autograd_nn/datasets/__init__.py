"""Data sets that ship inside the package, loaded through importlib.resources so they work from any folder."""

from .names import Names, load_names

__all__ = ["Names", "load_names"]
