"""Check autodiff gradients against central differences, in float64."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..errors import GradcheckError
from ..grad_mode import no_grad
from ..tensor import Tensor


def numerical_gradient(fn: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences (f(x + eps) - f(x - eps)) / 2eps of ``fn()`` for each entry of ``array``.

    ``array`` is perturbed in place (and restored), so ``fn`` must read it.
    """
    flat = array.reshape(-1)
    if not np.shares_memory(flat, array):
        raise ValueError("numerical_gradient: the array must be contiguous so it can be perturbed in place")
    result = np.empty(array.size, dtype=np.float64)
    for j in range(array.size):
        original = flat[j]
        flat[j] = original + eps
        plus = fn()
        flat[j] = original - eps
        minus = fn()
        flat[j] = original
        result[j] = (plus - minus) / (2 * eps)
    return result.reshape(array.shape)


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    mode: str = "auto",
    max_full_size: int = 1000,
    directions: int = 3,
    seed: int = 0,
) -> bool:
    """Compare the gradients ``backward()`` gives for ``fn(*inputs)`` with central differences.

    ``fn`` returns a single-valued Tensor. Every input Tensor with ``requires_grad=True`` is
    checked, on a float64 copy (the caller's tensors are not touched). ``mode="full"`` perturbs
    each entry; ``"direction"`` compares directional derivatives along ``directions`` random unit
    vectors (cheap for big inputs, as JAX and HIPS autograd do); ``"auto"`` picks full mode for
    inputs of at most ``max_full_size`` entries. An entry passes when
    ``|analytic - numeric| <= atol + rtol * |numeric|``. Returns True, or raises ``GradcheckError``
    naming the input, the worst index, both values and the errors. Warns when given float32.
    """
    if mode not in ("auto", "full", "direction"):
        raise ValueError(f"gradcheck: mode must be 'auto', 'full' or 'direction', got {mode!r}")
    copies = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if x.dtype != np.float64:
                warnings.warn(
                    f"gradcheck: input {i} is {x.dtype}; it is checked as a float64 copy, because "
                    "float32 differences are too coarse for a meaningful comparison",
                    stacklevel=2,
                )
            copy = Tensor(np.array(x.data, dtype=np.float64), requires_grad=x.requires_grad, name=x.name)
            copies.append(copy)
        else:
            copies.append(x)
    checked = [i for i, c in enumerate(copies) if isinstance(c, Tensor) and c.requires_grad]
    if not checked:
        raise ValueError(
            "gradcheck: no input is a Tensor with requires_grad=True, so there is nothing to check"
        )

    out = fn(*copies)
    if not isinstance(out, Tensor) or out.size != 1:
        shape = out.shape if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"gradcheck: fn must return a single-valued Tensor, got {shape}")
    out.backward()

    def evaluate() -> float:
        with no_grad():
            return fn(*copies).item()  # float(ndarray) fails for shape (1,) in NumPy 2

    rng = np.random.default_rng(seed)
    for i in checked:
        x = copies[i]
        analytic = np.zeros_like(x.data) if x.grad is None else np.asarray(x.grad, dtype=np.float64)
        full = mode == "full" or (mode == "auto" and x.size <= max_full_size)
        if full:
            numeric = numerical_gradient(evaluate, x.data, eps)
            _compare(i, x, analytic, numeric, atol, rtol)
        else:
            for _ in range(directions):
                direction = rng.standard_normal(x.shape)
                direction /= np.linalg.norm(direction) or 1.0
                numeric = _directional_derivative(evaluate, x.data, direction, eps)
                _compare_direction(i, x, float(np.sum(analytic * direction)), numeric, atol, rtol)
    return True


def _directional_derivative(
    fn: Callable[[], float], array: np.ndarray, direction: np.ndarray, eps: float
) -> float:
    original = array.copy()
    array += eps * direction
    plus = fn()
    array[...] = original - eps * direction
    minus = fn()
    array[...] = original
    return (plus - minus) / (2 * eps)


def _describe(i: int, x: Tensor) -> str:
    name = f" ({x.name})" if x.name else ""
    return f"input {i}{name} of shape {x.shape}"


def _compare(i: int, x: Tensor, analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float) -> None:
    error = np.abs(analytic - numeric)
    excess = error - (atol + rtol * np.abs(numeric))
    if not (excess > 0).any() and np.isfinite(error).all():
        return
    excess = np.where(np.isfinite(excess), excess, np.inf)
    worst = np.unravel_index(int(np.argmax(excess)), x.shape) if x.ndim else ()
    a, n = analytic[worst], numeric[worst]
    relative = abs(a - n) / max(abs(n), np.finfo(np.float64).tiny)
    count = int((excess > 0).sum())
    raise GradcheckError(
        f"gradcheck: the gradient of {_describe(i, x)} disagrees with central differences at index "
        f"{tuple(int(k) for k in worst)}: analytic {a:.10g}, numeric {n:.10g}, absolute error {abs(a - n):.3g}, "
        f"relative error {relative:.3g} (atol={atol:g}, rtol={rtol:g}; {count} of {x.size} entries out of tolerance)"
    )


def _compare_direction(i: int, x: Tensor, analytic: float, numeric: float, atol: float, rtol: float) -> None:
    error = abs(analytic - numeric)
    if error <= atol + rtol * abs(numeric):
        return
    relative = error / max(abs(numeric), np.finfo(np.float64).tiny)
    raise GradcheckError(
        f"gradcheck: the gradient of {_describe(i, x)} disagrees with central differences along a random "
        f"direction: analytic {analytic:.10g}, numeric {numeric:.10g}, absolute error {error:.3g}, "
        f"relative error {relative:.3g} (atol={atol:g}, rtol={rtol:g}); use mode='full' to find the index"
    )
