"""Is a gradient right? Central differences (``gradcheck``) and hand-derived backprop (``compare_gradients``)."""

from .compare import GradientMismatchError, GradientReport, GradientRow, compare_gradients
from .gradcheck import gradcheck
from .numeric import numerical_gradient

__all__ = [
    "GradientMismatchError",
    "GradientReport",
    "GradientRow",
    "compare_gradients",
    "gradcheck",
    "numerical_gradient",
]
