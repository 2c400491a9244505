"""Is a gradient right? Central differences (``gradcheck``)."""

from .gradcheck import gradcheck, numerical_gradient

__all__ = ["gradcheck", "numerical_gradient"]
