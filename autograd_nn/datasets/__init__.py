"""Data sets that ship inside the package, loaded through importlib.resources so they work from any folder."""

from .digits import DigitsData, load_digits
from .names import Names, load_names

__all__ = ["DigitsData", "Names", "load_digits", "load_names"]
