"""Assertions for your own pytest suite: a hand-written backward pass checked against autodiff.

```python
from autograd_nn.testing import assert_backward

def test_affine_backward():
    assert_backward(affine_forward, affine_backward, x, w, b)
```

Each helper raises ``AssertionError`` (a ``GradientMismatchError``) whose message is the report's table
and the sentence naming the first mismatch and what kind of mistake it is, so pytest shows it as is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .checking.backward_pairs import check_backward, check_value_and_grad
from .checking.compare import GradientMismatchError, GradientReport, _close_to_largest, classify
from .tensor import Tensor

__all__ = ["assert_backward", "assert_gradients_close", "assert_value_and_grad"]


def assert_backward(forward: Callable, backward: Callable, *args, **kwargs) -> GradientReport:
    """``check_backward(forward, backward, *args, **kwargs)``, raising ``AssertionError`` with the table
    unless every gradient agrees; returns the report when it does."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    report = check_backward(forward, backward, *args, **kwargs)
    report.raise_for_mismatch()
    return report


def assert_value_and_grad(fn: Callable, *args, **kwargs) -> GradientReport:
    """``check_value_and_grad(fn, *args, **kwargs)``, raising ``AssertionError`` with the table unless
    every gradient agrees; returns the report when it does."""
    __tracebackhide__ = True
    report = check_value_and_grad(fn, *args, **kwargs)
    report.raise_for_mismatch()
    return report


def assert_gradients_close(
    mine,
    autodiff,
    rtol: float = 1e-6,
    atol: float = 1e-12,
    *,
    name: str = "gradient",
    num_examples: int | None = None,
) -> None:
    """Raise ``AssertionError`` unless the array ``mine`` agrees with ``autodiff`` entry by entry
    (``|mine - autodiff| <= atol + rtol * max|autodiff|``); the message gives the verdict (sign, scale
    with its factor, transpose, shape, broadcast, ...) and the table row."""
    __tracebackhide__ = True
    mine_array, reference = (
        np.asarray(a.data if isinstance(a, Tensor) else a, dtype=np.float64) for a in (mine, autodiff)
    )
    row = classify(name, mine_array, reference, _close_to_largest(rtol, atol), num_examples)
    if row.verdict != "ok":
        report = GradientReport([row], num_examples=num_examples, title="your gradient against autodiff's")
        raise GradientMismatchError(str(report))
