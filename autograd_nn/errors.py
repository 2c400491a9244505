"""The exceptions autograd_nn raises on purpose; every one derives from AutogradError."""

from __future__ import annotations


class AutogradError(Exception):
    """Base class of the errors this project raises (catch this to catch them all)."""


class ShapeError(AutogradError, ValueError):
    """Operand shapes that an operation cannot combine, or a gradient of the wrong shape."""


class AnomalyError(AutogradError, FloatingPointError):
    """Raised under ``detect_anomaly()`` when an op's output or gradient holds NaN or Inf."""


class GradcheckError(AutogradError):
    """Autodiff gradients disagree with central differences."""


class LeftTheGraphWarning(UserWarning):
    """NumPy turned a tensor that requires grad into a plain array: what it computes gets no gradient."""
