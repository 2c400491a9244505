"""Check autodiff gradients against central differences, in float64, and never vacuously."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import numpy as np

from ..errors import GradcheckError
from ..grad_mode import no_grad
from ..tensor import Tensor, _backpropagate, _seed, _target
from .compare import GradientReport, backward_order, classify
from .numeric import directional_derivative, numerical_gradient, random_directions

__all__ = ["gradcheck", "numerical_gradient"]


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs,
    wrt: Iterable[Tensor] | Callable[[], Iterable[Tensor]] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    mode: str = "auto",
    max_full_size: int = 1000,
    directions: int = 3,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool | GradientReport:
    """Compare the gradients autodiff gives for ``fn(*inputs)`` with central differences.

    ``fn`` returns a single-valued Tensor. Every input Tensor with ``requires_grad=True`` is
    checked, on a float64 copy (the caller's tensors are not touched). ``wrt`` checks tensors that
    ``fn`` reads by itself, such as a model's parameters (``wrt=model.parameters()``): they are
    perturbed in place, in float64 (a float32 model's parameters are cast for the check), and
    restored afterwards. Checking in float64 is announced by a warning when something was float32.

    An input that ``fn``'s output does not depend on (it is not in the recorded graph) is an
    error: both gradients would be zero and the check would pass without testing anything.

    ``mode="full"`` perturbs each entry; ``"direction"`` compares directional derivatives along
    ``directions`` random unit vectors (cheap for big inputs, as JAX and HIPS autograd do);
    ``"auto"`` picks full mode for inputs of at most ``max_full_size`` entries. An entry passes when
    ``|analytic - numeric| <= atol + rtol * |numeric|``. Returns True, or raises ``GradcheckError``
    naming the input, the worst index, both values and the errors; with ``raise_exception=False``
    it returns a ``GradientReport`` (autodiff against central differences) instead.
    """
    if mode not in ("auto", "full", "direction"):
        raise ValueError(f"gradcheck: mode must be 'auto', 'full' or 'direction', got {mode!r}")
    copies = []
    checked: list[tuple[str, Tensor]] = []  # (how messages name it, the tensor perturbed)
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
            if copy.requires_grad:
                checked.append((_describe(f"input {i}", copy), copy))
        else:
            copies.append(x)
    params = _wrt_tensors(wrt)
    checked += [(_describe(f"wrt tensor {j}", p), p) for j, p in enumerate(params)]
    if not checked:
        raise ValueError(
            "gradcheck: no input is a Tensor with requires_grad=True, so there is nothing to check"
        )

    originals = [p.data for p in params]
    narrow = [
        f"{p.name or f'wrt tensor {j}'} ({p.dtype})" for j, p in enumerate(params) if p.dtype != np.float64
    ]
    if narrow:
        warnings.warn(
            f"gradcheck: checking in float64: {', '.join(narrow)} are cast to float64 for the check and "
            "restored afterwards, because float32 differences are too coarse for a meaningful comparison",
            stacklevel=2,
        )
    try:
        for p in params:  # a float64 contiguous copy, perturbed in place; the caller's array stays as it was
            p.data = np.array(p.data, dtype=np.float64)
        return _check(
            fn, copies, checked, eps, atol, rtol, mode, max_full_size, directions, seed, raise_exception
        )
    finally:
        for p, original in zip(params, originals, strict=True):
            p.data = original


def _wrt_tensors(wrt) -> list[Tensor]:
    if wrt is None:
        return []
    if callable(wrt):  # the method itself (model.parameters) as well as what it returns
        wrt = wrt()
    params: list[Tensor] = []
    for j, p in enumerate(wrt):
        if not isinstance(p, Tensor) or not p.requires_grad:
            raise ValueError(f"gradcheck: wrt tensor {j} is not a Tensor with requires_grad=True")
        if p.op is not None:
            raise ValueError(
                f"gradcheck: wrt tensor {j} is an intermediate result; wrt takes leaves (parameters)"
            )
        if all(p is not q for q in params):
            params.append(p)
    return params


def _check(fn, copies, checked, eps, atol, rtol, mode, max_full_size, directions, seed, raise_exception):
    out = fn(*copies)
    if not isinstance(out, Tensor) or out.size != 1:
        shape = out.shape if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"gradcheck: fn must return a single-valued Tensor, got {shape}")
    order = backward_order(_target(out)) if out.requires_grad else []
    position = {id(item): k for k, item in enumerate(order)}
    unused = [label for label, x in checked if id(x) not in position]
    if unused:
        raise GradcheckError(
            f"gradcheck: fn's output does not depend on {', '.join(unused)}: it is not in the recorded graph, "
            "so both gradients would be zero and the check would pass without testing anything. If fn "
            "reads a model's own parameters, pass them as wrt=model.parameters() instead of as inputs."
        )
    found = _backpropagate(out, _seed(out, None, False, "gradcheck"), False, wanted={x for _, x in checked})

    def evaluate() -> float:
        with no_grad():
            return fn(*copies).item()  # float(ndarray) fails for shape (1,) in NumPy 2

    rng = np.random.default_rng(seed)
    rows = []
    for label, x in sorted(checked, key=lambda pair: position[id(pair[1])]):
        g = found.get(x)
        analytic = np.zeros(x.shape) if g is None else np.asarray(g, dtype=np.float64)
        full = mode == "full" or (mode == "auto" and x.size <= max_full_size)
        if full:
            numeric = numerical_gradient(evaluate, x.data, eps)
            if raise_exception:
                _compare(label, x, analytic, numeric, atol, rtol)
            else:
                rows.append(classify(x.name or label, analytic, numeric, _close(atol, rtol), None, _WORDS))
        else:
            projected, numeric = [], []
            for direction in random_directions(x.shape, directions, rng):
                projected.append(float(np.sum(analytic * direction)))
                numeric.append(directional_derivative(evaluate, x.data, direction, eps))
                if raise_exception:
                    _compare_direction(label, projected[-1], numeric[-1], atol, rtol)
            if not raise_exception:
                row = classify(
                    x.name or label, np.array(projected), np.array(numeric), _close(atol, rtol), None, _WORDS
                )
                row.shape, row.worst_index = x.shape, None
                row.note = f"{row.note} (along {directions} random directions)".lstrip()
                rows.append(row)
    if raise_exception:
        return True
    return GradientReport(
        rows,
        title="gradcheck: autodiff compared with central differences in float64",
        reference="central differences",
    )


_WORDS = ("autodiff", "central differences")


def _close(atol: float, rtol: float):
    def close(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
        return np.abs(x - reference) <= atol + rtol * np.abs(reference)

    return close


def _describe(label: str, x: Tensor) -> str:
    name = f" ({x.name})" if x.name else ""
    return f"{label}{name} of shape {x.shape}"


def _compare(
    label: str, x: Tensor, analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float
) -> None:
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
        f"gradcheck: the gradient of {label} disagrees with central differences at index "
        f"{tuple(int(k) for k in worst)}: analytic {a:.10g}, numeric {n:.10g}, absolute error {abs(a - n):.3g}, "
        f"relative error {relative:.3g} (atol={atol:g}, rtol={rtol:g}; {count} of {x.size} entries out of tolerance)"
    )


def _compare_direction(label: str, analytic: float, numeric: float, atol: float, rtol: float) -> None:
    error = abs(analytic - numeric)
    if error <= atol + rtol * abs(numeric):
        return
    relative = error / max(abs(numeric), np.finfo(np.float64).tiny)
    raise GradcheckError(
        f"gradcheck: the gradient of {label} disagrees with central differences along a random "
        f"direction: analytic {analytic:.10g}, numeric {numeric:.10g}, absolute error {error:.3g}, "
        f"relative error {relative:.3g} (atol={atol:g}, rtol={rtol:g}); use mode='full' to find the index"
    )
