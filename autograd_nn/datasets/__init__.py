"""Datasets ready to use: one call loads the data bundled with the package, from any folder."""

from .digits import DigitsData, load_digits

__all__ = ["DigitsData", "load_digits"]
