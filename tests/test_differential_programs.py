"""Random programs, run twice: by the engine and by plain NumPy in float64.

Hypothesis draws a few leaves (0-d tensors included, float32 or float64, shapes that broadcast
together), float64 ndarray constants, and a short program over the ops. The engine's values are
compared with NumPy's; every leaf's gradient with central differences of the NumPy program (and its
dtype with the leaf's); and second order (Hessian-vector products through ``create_graph=True`` and
``ag.grad``) with central differences of the engine's own first gradient, in float64.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import autograd_nn as ag
from autograd_nn import Tensor


def np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def np_bce(z, y):
    return np.logaddexp(0, z) - y * z


# name: (engine version, NumPy version, the smallest rank it takes). Ops whose values could grow
# without bound are composed with tanh, so central differences stay accurate.
UNARY = {
    "neg": (lambda t: -t, lambda a: -a, 0),
    "tanh": (lambda t: t.tanh(), np.tanh, 0),
    "sigmoid": (ag.sigmoid, np_sigmoid, 0),
    "exp": (lambda t: t.tanh().exp(), lambda a: np.exp(np.tanh(a)), 0),
    "log": (lambda t: (t * t + 1).log(), lambda a: np.log(a * a + 1), 0),
    "square": (lambda t: t * t.tanh(), lambda a: a * np.tanh(a), 0),
    "cube": (lambda t: t.tanh() ** 3, lambda a: np.tanh(a) ** 3, 0),
    "reciprocal": (lambda t: 1 / (t * t + 1), lambda a: 1 / (a * a + 1), 0),
    "2 ** t": (lambda t: 2 ** t.tanh(), lambda a: 2.0 ** np.tanh(a), 0),
    "sum": (lambda t: t.sum(), np.sum, 0),
    "mean axis 0": (lambda t: t.mean(axis=0), lambda a: a.mean(axis=0), 1),
    "max last axis": (lambda t: t.max(axis=-1), lambda a: a.max(axis=-1), 1),
    "logsumexp": (lambda t: t.logsumexp(axis=-1), lambda a: np.log(np.exp(a).sum(axis=-1)), 1),
    "softmax": (
        lambda t: ag.softmax(t, axis=-1),
        lambda a: np.exp(a) / np.exp(a).sum(axis=-1, keepdims=True),
        1,
    ),
    "log_softmax": (
        lambda t: ag.log_softmax(t, axis=-1),
        lambda a: a - np.log(np.exp(a).sum(axis=-1, keepdims=True)),
        1,
    ),
    "transpose": (lambda t: t.T, lambda a: a.T, 0),
    "flatten": (lambda t: t.reshape(-1), lambda a: a.reshape(-1), 0),
    "reverse": (lambda t: t[..., ::-1], lambda a: a[..., ::-1], 1),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    "pow": (lambda a, b: (a * a + 1) ** b.tanh(), lambda a, b: (a * a + 1) ** np.tanh(b)),
    "bce": (
        lambda a, b: ag.binary_cross_entropy_with_logits(a, b.sigmoid(), reduction="none"),
        lambda a, b: np_bce(a, np_sigmoid(b)),
    ),
    "bce mean": (
        lambda a, b: ag.binary_cross_entropy_with_logits(a, b.sigmoid()),
        lambda a, b: np.mean(np_bce(a, np_sigmoid(b))),
    ),
    "matmul": (lambda a, b: a @ b, lambda a, b: a @ b),
}
OPS = [*UNARY, *BINARY]


def fits(name: str, a_shape: tuple, b_shape: tuple | None) -> bool:
    if name in UNARY:
        return len(a_shape) >= UNARY[name][2]
    if name == "matmul":
        if not a_shape or not b_shape:
            return False
        inner = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
        return a_shape[-1] == inner and len(a_shape) <= 2 and len(b_shape) <= 2
    try:
        np.broadcast_shapes(a_shape, b_shape)
    except ValueError:
        return False
    return True


class Program:
    """Leaves, constants and steps; ``run`` evaluates them with the engine or with NumPy."""

    def __init__(self, shapes, dtypes, steps, seed):
        rng = np.random.default_rng(seed)
        self.leaves = [rng.uniform(-1.5, 1.5, s).astype(d) for s, d in zip(shapes, dtypes, strict=True)]
        self.constants = [rng.uniform(-1.0, 1.0, s) for s in shapes]  # float64 ndarrays
        self.steps = steps
        self.description = f"Program({list(shapes)}, {[np.dtype(d).name for d in dtypes]}, {steps}, {seed})"

    def __repr__(self) -> str:
        return self.description

    def run(self, leaves, engine: bool):
        """All values the program computes (leaves first) and its single-valued loss."""
        values = list(leaves) + list(self.constants)
        tracked = [True] * len(leaves) + [False] * len(self.constants)  # computed from a leaf?
        # the first operand is always computed from a leaf; the second may be a float64 constant
        for step, (name, i, j) in enumerate(self.steps):
            usable = [k for k, t in enumerate(tracked) if t]
            i, j = usable[i % len(usable)], (j % len(values) if name in BINARY else None)
            a, b = values[i], (None if j is None else values[j])
            if b is not None and not fits(name, np.shape(a), np.shape(b)):
                # a float64 constant that fits instead: a's shape, or a vector for matmul
                shape = np.shape(a)[-1:] if name == "matmul" else np.shape(a)
                b, j = np.random.default_rng(step).uniform(-1.0, 1.0, shape), None
            if not fits(name, np.shape(a), None if b is None else np.shape(b)):
                continue
            if not engine:
                a = np.asarray(a, np.float64)
                result = UNARY[name][1](a) if b is None else BINARY[name][1](a, b)
                values.append(np.asarray(result))
            elif b is None:
                values.append(UNARY[name][0](a))
            else:
                if not isinstance(b, Tensor) and name in ("pow", "bce", "bce mean"):
                    b = Tensor(b)  # these call b.tanh() or b.sigmoid()
                values.append(BINARY[name][0](a, b))  # an ndarray constant may be on either side
            tracked.append(True)
        computed = values[len(leaves) + len(self.constants) :]
        loss = 0.0
        for k, v in enumerate(computed):  # every value takes part: fan-out everywhere
            weights = np.random.default_rng(k).uniform(0.5, 1.5, np.shape(v))
            loss = loss + (v * weights).sum()
        return computed, loss

    def numpy_loss(self, arrays) -> float:
        return float(self.run([np.asarray(a, np.float64) for a in arrays], engine=False)[1])


def central_differences(f, arrays: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for x in arrays:
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            original = x[idx]
            x[idx] = original + eps
            plus = f(arrays)
            x[idx] = original - eps
            minus = f(arrays)
            x[idx] = original
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def engine_gradients(program: Program, arrays, create_graph: bool = False):
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    _, loss = program.run(leaves, engine=True)
    if not isinstance(loss, Tensor) or not loss.requires_grad:
        return leaves, None
    loss.backward(create_graph=create_graph)
    return leaves, loss


@st.composite
def programs(draw):
    n = draw(st.integers(1, 3))
    shapes = draw(
        mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=2, max_side=3)
    ).input_shapes
    dtypes = [draw(st.sampled_from([np.float64, np.float32])) for _ in shapes]
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50)), min_size=2, max_size=7
        )
    )
    return Program(shapes, dtypes, steps, draw(st.integers(0, 2**16)))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(program=programs())
def test_random_programs_values_gradients_and_second_order_agree_with_numpy(program):
    # ---- values, with the leaves in their own dtypes
    leaves, loss = engine_gradients(program, program.leaves)
    if loss is None:
        return  # every step was skipped: nothing was recorded
    computed, reference_loss = program.run(program.leaves, engine=False)
    engine_values, _ = program.run([Tensor(a) for a in program.leaves], engine=True)
    mixed = any(a.dtype == np.float32 for a in program.leaves)
    rtol, atol = (2e-4, 2e-5) if mixed else (1e-10, 1e-12)
    for got, expected in zip(engine_values, computed, strict=True):
        assert got.shape == np.shape(expected)
        np.testing.assert_allclose(got.data, expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(loss.item(), reference_loss, rtol=rtol, atol=atol)

    # ---- first order: every leaf's gradient has its dtype and matches central differences
    numeric = central_differences(program.numpy_loss, program.leaves)
    rtol, atol = (2e-3, 2e-3) if mixed else (1e-5, 1e-6)
    for leaf, expected in zip(leaves, numeric, strict=True):
        g = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad
        assert leaf.grad is None or leaf.grad.dtype == leaf.dtype
        np.testing.assert_allclose(
            g, expected, rtol=rtol, atol=atol * max(1.0, np.abs(expected).max(initial=0))
        )

    # ---- create_graph keeps dtypes and gives the same first gradients
    recorded, _ = engine_gradients(program, program.leaves, create_graph=True)
    for plain, leaf in zip(leaves, recorded, strict=True):
        assert (plain.grad is None) == (leaf.grad is None)
        if leaf.grad is not None:
            assert leaf.grad.dtype == leaf.dtype
            np.testing.assert_allclose(np.asarray(leaf.grad.data), plain.grad, rtol=1e-5, atol=1e-6)

    # ---- second order, in float64: H v by differentiating the recorded backward, against
    # central differences of the engine's first gradient along v
    arrays = [a.astype(np.float64) for a in program.leaves]
    v = [np.random.default_rng(7 + i).uniform(-1, 1, a.shape) for i, a in enumerate(arrays)]
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    _, loss64 = program.run(xs, engine=True)
    firsts = ag.grad(loss64, xs, create_graph=True, allow_unused=True)
    directional = sum((g * d).sum() for g, d in zip(firsts, v, strict=True) if g is not None)
    if isinstance(directional, Tensor) and directional.requires_grad:
        hvp = ag.grad(directional, xs, allow_unused=True)
    else:
        hvp = [None] * len(xs)  # the first gradient does not depend on the leaves

    def first_gradient(at):
        ts, _ = engine_gradients(program, at)
        return [np.zeros(t.shape) if t.grad is None else t.grad for t in ts]

    eps = 1e-5
    plus = first_gradient([a + eps * d for a, d in zip(arrays, v, strict=True)])
    minus = first_gradient([a - eps * d for a, d in zip(arrays, v, strict=True)])
    for h, p, m in zip(hvp, plus, minus, strict=True):
        expected = (p - m) / (2 * eps)
        got = np.zeros_like(expected) if h is None else h
        np.testing.assert_allclose(
            got, expected, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(expected).max(initial=0))
        )
