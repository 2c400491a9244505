"""Derivatives as functions: vjp, jvp, jacobian, hessian and hvp, all built on the engine's reverse mode.

Each takes ``fn``, a function from Tensors to a Tensor, and ``x``, its input (a Tensor or an array)
or a tuple of inputs. The inputs are wrapped in fresh leaf tensors, so the caller's tensors and
their ``.grad`` are never touched. Results are NumPy arrays (a tuple of them for a tuple of inputs).

Forward mode comes from reverse mode by the double-VJP trick: u -> J^T u is linear in u, so the
VJP of that function, taken at any u along v, is J v.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import ShapeError
from .tensor import Tensor, grad

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vjp"]


def vjp(fn: Callable[..., Tensor], x, v) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, ...]]:
    """``(fn(x), v^T J)``: the vector-Jacobian product, one reverse pass. ``v`` has fn's output shape."""
    xs, single = _leaves(x, "vjp")
    out = _call(fn, xs, "vjp")
    seed = _vector(v, out.shape, out.dtype, "vjp", "v", "the output")
    result = _gradients(out, xs, seed, create_graph=False)
    return out.data, _unpack([_array(g, t) for g, t in zip(result, xs, strict=True)], single)


def jvp(fn: Callable[..., Tensor], x, v) -> tuple[np.ndarray, np.ndarray]:
    """``(fn(x), J v)``: the Jacobian-vector product (forward mode), by two reverse passes.

    ``v`` has x's shape (a tuple of arrays for a tuple of inputs); the result has fn's output shape.
    """
    xs, single = _leaves(x, "jvp")
    vs = _vectors(v, xs, single, "jvp")
    out = _call(fn, xs, "jvp")
    u = Tensor(np.zeros(out.shape, dtype=out.dtype), requires_grad=True, name="u")
    transposed = _gradients(out, xs, u, create_graph=True)  # J^T u, recorded, linear in u
    total = _inner(transposed, vs)
    result = None if total is None else _gradients(total, (u,), None, create_graph=False)[0]
    return out.data, _array(result, u)


def jacobian(fn: Callable[..., Tensor], x) -> np.ndarray | tuple[np.ndarray, ...]:
    """d fn(x) / dx, of shape ``fn(x).shape + x.shape``: one reverse pass per output entry."""
    xs, single = _leaves(x, "jacobian")
    out = _call(fn, xs, "jacobian")
    blocks = [np.zeros(out.shape + t.shape, dtype=t.dtype) for t in xs]
    for k in range(out.size):
        seed = np.zeros(out.shape, dtype=out.dtype)
        seed.flat[k] = 1
        where = np.unravel_index(k, out.shape) if out.ndim else ()
        for block, g, t in zip(blocks, _gradients(out, xs, seed, create_graph=False), xs, strict=True):
            block[where] = _array(g, t)
    return _unpack(blocks, single)


def hessian(fn: Callable[..., Tensor], x):
    """The second derivatives of a single-valued ``fn``, of shape ``x.shape + x.shape``.

    For a tuple of inputs, a tuple of tuples: ``H[i][j]`` has shape ``x_i.shape + x_j.shape``.
    One reverse pass for the gradient, recorded, then one per gradient entry.
    """
    xs, single = _leaves(x, "hessian")
    out = _scalar(_call(fn, xs, "hessian"), "hessian")
    first = _gradients(out, xs, None, create_graph=True)
    rows = []
    for g, ti in zip(first, xs, strict=True):
        blocks = [np.zeros(ti.shape + tj.shape, dtype=tj.dtype) for tj in xs]
        for k in range(ti.size):
            if g is None:
                break
            seed = np.zeros(ti.shape, dtype=ti.dtype)
            seed.flat[k] = 1
            where = np.unravel_index(k, ti.shape) if ti.ndim else ()
            for block, second, tj in zip(
                blocks, _gradients(g, xs, seed, create_graph=False), xs, strict=True
            ):
                block[where] = _array(second, tj)
        rows.append(tuple(blocks))
    return rows[0][0] if single else tuple(rows)


def hvp(fn: Callable[..., Tensor], x, v) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, ...]]:
    """``(fn(x), H v)``: the Hessian-vector product of a single-valued ``fn``, by two reverse passes."""
    xs, single = _leaves(x, "hvp")
    vs = _vectors(v, xs, single, "hvp")
    out = _scalar(_call(fn, xs, "hvp"), "hvp")
    total = _inner(_gradients(out, xs, None, create_graph=True), vs)
    result = [None] * len(xs) if total is None else _gradients(total, xs, None, create_graph=False)
    return out.data, _unpack([_array(g, t) for g, t in zip(result, xs, strict=True)], single)


# ---------------------------------------------------------------- helpers


def _leaves(x, where: str) -> tuple[tuple[Tensor, ...], bool]:
    """Fresh leaves requiring grad for the input(s); whether a single input was given."""
    single = not isinstance(x, tuple)
    xs = (x,) if single else x
    if not xs:
        raise ValueError(f"{where}: give at least one input")
    return tuple(Tensor(t.data if isinstance(t, Tensor) else t, requires_grad=True) for t in xs), single


def _call(fn, xs: tuple[Tensor, ...], where: str) -> Tensor:
    out = fn(*xs)
    if not isinstance(out, Tensor):
        raise TypeError(f"{where}: fn must return a Tensor, got {type(out).__name__}")
    return out


def _scalar(out: Tensor, where: str) -> Tensor:
    if out.size != 1:
        raise ShapeError(f"{where}: fn must return a single value, got shape {out.shape}")
    return out


def _vector(v, shape: tuple[int, ...], dtype, where: str, what: str, of: str) -> np.ndarray:
    array = np.asarray(v.data if isinstance(v, Tensor) else v, dtype=dtype)
    if array.shape != tuple(shape):
        raise ShapeError(f"{where}: {what} has shape {array.shape} but {of} has shape {tuple(shape)}")
    return array


def _vectors(v, xs: tuple[Tensor, ...], single: bool, where: str) -> tuple[np.ndarray, ...]:
    vs = (v,) if single else v
    if not isinstance(vs, tuple) or len(vs) != len(xs):
        raise ValueError(f"{where}: give one v per input: a tuple of {len(xs)} arrays")
    return tuple(
        _vector(vi, t.shape, t.dtype, where, f"v[{i}]", f"input {i}")
        for i, (vi, t) in enumerate(zip(vs, xs, strict=True))
    )


def _gradients(out: Tensor, xs: tuple[Tensor, ...], seed, create_graph: bool) -> list:
    """d out / d xs (None where an input does not reach out, or out depends on none of them)."""
    if not out.requires_grad:
        return [None] * len(xs)
    return grad(out, list(xs), grad_output=seed, create_graph=create_graph, allow_unused=True)


def _inner(gs: list, vs: tuple[np.ndarray, ...]) -> Tensor | None:
    """sum_i <g_i, v_i> as a recorded scalar, or None when no g_i depends on anything."""
    total = None
    for g, v in zip(gs, vs, strict=True):
        if isinstance(g, Tensor) and g.requires_grad:
            term = (g * v).sum()
            total = term if total is None else total + term
    return total


def _array(g, like: Tensor) -> np.ndarray:
    if g is None:
        return np.zeros(like.shape, dtype=like.dtype)
    return np.array(g.data if isinstance(g, Tensor) else g)


def _unpack(results: list, single: bool):
    return results[0] if single else tuple(results)
