"""The hand-derived backpropagation of the sigmoid network, in plain NumPy: the oracle the engine is tested against.

Nothing here uses the autodiff engine. The same functions are the "hand-written NumPy" baseline of the speed
benchmark, so they are vectorised, avoid needless copies and keep float32 inputs in float32.

Network: ``params = [(theta_1, b_1), ..., (theta_L, b_L)]`` with ``theta_l`` of shape (units_out, units_in) and
``b_l`` of shape (units_out,); ``a_0 = X`` (m, n), ``z_l = a_{l-1} @ theta_l.T + b_l``, ``a_l = sigmoid(z_l)`` for
every layer, the output included. ``Y`` is one-hot (m, K).

Underflow to zero (``exp(-1000)``) is harmless in these formulas, so every function ignores it even when the
caller runs under ``np.errstate(all="raise")``; so is the overflow of e^-z inside ``sigmoid`` (see there).
0/0 and log(0) cannot happen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Params = Sequence[tuple[np.ndarray, np.ndarray]]

__all__ = ["cost", "cost_and_gradients", "forward", "numerical_gradients", "sigmoid"]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^-z), correct over the whole float range. Float dtypes are kept.

    e^-z underflows to 0 for z > 745 (giving 1, correctly rounded) and overflows to inf for z < -709 (giving 0
    where the true value is a subnormal below 1e-308); only those two warnings are silenced. Elsewhere
    relative precision is full. One exp and three in-place passes.
    """
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    s = np.negative(z, out=np.empty_like(z))  # out= keeps 0-d inputs arrays, so the in-place steps work
    with np.errstate(over="ignore", under="ignore"):
        np.exp(s, out=s)
    s += 1
    np.reciprocal(s, out=s)
    return s


def _check(params: Params, X: np.ndarray, Y: np.ndarray | None = None) -> None:
    """Raise ValueError naming the layer and both shapes when params, X and Y do not fit together."""
    if len(params) == 0:
        raise ValueError("params is empty: the network needs at least one (theta, b) layer")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (m examples, n features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"X of shape {X.shape} has no examples; the cost is an average over examples")
    units = X.shape[1]
    for layer, (theta, b) in enumerate(params, start=1):
        if theta.ndim != 2:
            raise ValueError(
                f"layer {layer}: theta must be 2-D (units_out, units_in), got shape {theta.shape}"
            )
        if theta.shape[1] != units:
            raise ValueError(f"layer {layer}: theta of shape {theta.shape} does not fit {units} inputs")
        if b.shape != (theta.shape[0],):
            raise ValueError(
                f"layer {layer}: b of shape {b.shape} does not fit theta of shape {theta.shape}; "
                f"expected ({theta.shape[0]},)"
            )
        units = theta.shape[0]
    if Y is not None and Y.shape != (X.shape[0], units):
        raise ValueError(
            f"Y of shape {Y.shape} does not fit the output of layer {len(params)}: "
            f"expected ({X.shape[0]}, {units}) for {X.shape[0]} examples and {units} classes"
        )


def _forward(params: Params, X: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Activations [a_0, ..., a_L] and the output logits z_L (kept so the cost can be computed from them)."""
    activations = [X]
    for theta, b in params:
        z = activations[-1] @ theta.T
        z += b
        activations.append(sigmoid(z))
    return activations, z


def _as_arrays(
    params: Params, X: np.ndarray, Y: np.ndarray | None = None
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray | None]:
    """params, X and Y as arrays, checked to fit together."""
    params = [(np.asarray(theta), np.asarray(b)) for theta, b in params]
    X = np.asarray(X)
    Y = None if Y is None else np.asarray(Y)
    _check(params, X, Y)
    return params, X, Y


def _cost_from_logits(params: Params, z: np.ndarray, Y: np.ndarray, m: int, lam: float) -> float:
    """J from the output logits: sum(softplus(z) - Y*z) / m + lam/(2m) sum(theta**2), finite for any z."""
    # -y log sigmoid(z) - (1-y) log(1 - sigmoid(z)) = softplus(z) - y z, where
    # softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|), which never overflows.
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.log1p(e, out=e)
    J = (e.sum() + np.maximum(z, 0).sum() - np.vdot(Y, z)) / m
    if lam:
        J += lam / (2 * m) * sum(np.vdot(theta, theta) for theta, _ in params)
    return float(J)


def forward(params: Params, X: np.ndarray) -> list[np.ndarray]:
    """Activations [a_0 = X, a_1, ..., a_L] of the network on the m rows of X."""
    params, X, _ = _as_arrays(params, X)
    with np.errstate(under="ignore"):
        return _forward(params, X)[0]


def cost(params: Params, X: np.ndarray, Y: np.ndarray, lam: float = 0.0) -> float:
    """The regularised cross-entropy J (summed over classes, averaged over examples), computed from the logits."""
    params, X, Y = _as_arrays(params, X, Y)
    lam = float(lam)  # a NumPy float64 scalar would upcast float32 work
    with np.errstate(under="ignore"):
        _, z = _forward(params, X)
        # One-hot 0/1 are exact in any float type: a float64 (or int) Y must not upcast float32 work.
        return _cost_from_logits(params, z, Y.astype(z.dtype, copy=False), X.shape[0], lam)


def cost_and_gradients(
    params: Params, X: np.ndarray, Y: np.ndarray, lam: float = 0.0
) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    """J and its gradients [(dJ/dtheta_l, dJ/db_l), ...] by backpropagation (never the gradient for X).

    delta_L = (a_L - Y) / m; delta_l = (delta_{l+1} @ theta_{l+1}) * a_l * (1 - a_l);
    dJ/dtheta_l = delta_l.T @ a_{l-1} + (lam/m) theta_l; dJ/db_l = sum of delta_l over the examples.
    """
    params, X, Y = _as_arrays(params, X, Y)
    lam = float(lam)
    m = X.shape[0]
    with np.errstate(under="ignore"):
        activations, z = _forward(params, X)
        Y = Y.astype(z.dtype, copy=False)  # as in cost(): float32 work stays float32
        J = _cost_from_logits(params, z, Y, m, lam)
        grads: list[tuple[np.ndarray, np.ndarray]] = []  # filled from the last layer back
        delta = activations[-1] - Y
        delta /= m
        for layer in range(len(params) - 1, -1, -1):
            theta = params[layer][0]
            a_prev = activations[layer]
            grad_theta = delta.T @ a_prev
            if lam:
                grad_theta += (lam / m) * theta
            grads.append((grad_theta, delta.sum(axis=0)))
            if layer > 0:  # a_0 = X: its delta is never needed
                delta = delta @ theta
                delta *= a_prev
                delta *= 1 - a_prev
    grads.reverse()
    return J, grads


def numerical_gradients(
    params: Params, X: np.ndarray, Y: np.ndarray, lam: float = 0.0, eps: float = 1e-6
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Central differences (J(p + eps) - J(p - eps)) / (2 eps) for every theta and b entry, in float64.

    The course's "gradient checking": slow (two costs per parameter), for small test networks only. The
    caller's arrays are never modified; the work is done on float64 copies.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    params64 = [(np.array(theta, dtype=np.float64), np.array(b, dtype=np.float64)) for theta, b in params]
    X64 = np.asarray(X, dtype=np.float64)
    Y64 = np.asarray(Y, dtype=np.float64)
    _check(params64, X64, Y64)
    grads = []
    for layer in params64:
        layer_grads = []
        for array in layer:
            flat = array.reshape(-1)  # a view: np.array made a contiguous copy
            grad = np.empty_like(flat)
            for i in range(flat.size):
                original = flat[i]
                flat[i] = original + eps
                plus = cost(params64, X64, Y64, lam)
                flat[i] = original - eps
                minus = cost(params64, X64, Y64, lam)
                flat[i] = original
                grad[i] = (plus - minus) / (2 * eps)
            layer_grads.append(grad.reshape(array.shape))
        grads.append((layer_grads[0], layer_grads[1]))
    return grads
