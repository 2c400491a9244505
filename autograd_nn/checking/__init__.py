"""Is a gradient right? Central differences (``gradcheck``), hand-derived backprop (``compare_gradients``),
and hand-written layer pairs and cost-and-gradient functions (``check_backward``, ``check_value_and_grad``)."""

from .backward_pairs import check_backward, check_value_and_grad
from .compare import GradientMismatchError, GradientReport, GradientRow, compare_gradients
from .gradcheck import gradcheck
from .numeric import numerical_gradient

__all__ = [
    "GradientMismatchError",
    "GradientReport",
    "GradientRow",
    "check_backward",
    "check_value_and_grad",
    "compare_gradients",
    "gradcheck",
    "numerical_gradient",
]
