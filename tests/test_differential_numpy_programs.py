"""Random programs written in NumPy (np.* functions, ufuncs, ndarray-style methods, operators with an
ndarray on either side), run unchanged on Tensors and on plain arrays.

The same Python code runs twice: on Tensors (the engine, through NumPy's override protocols) and on
float64 ndarrays (NumPy itself). Hypothesis draws leaves (float32 or float64, 0-d included, shapes that
broadcast together), float64 ndarray constants and a short program over NumPy calls; each step may take
a slice or a view first. Checked: every value computed from a leaf is a Tensor equal to NumPy's; every
leaf's gradient has the leaf's dtype and equals central differences of the NumPy program (float64); the
same program under ``ag.compile``, with the constants and an integer index array as arguments, equals
eager over three calls with different values; and on a sample, Hessian-vector products through
``create_graph`` equal central differences of the first gradient. (test_differential_programs.py does
the same for the engine's own spellings.)
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes
from test_differential_programs import central_differences

import autograd_nn as ag
from autograd_nn import Tensor

# name: (NumPy code run on a Tensor or an ndarray alike, the smallest rank it takes). Values that could
# grow without bound go through tanh first, so central differences stay accurate; kinks (abs, max,
# clip, where) sit where random inputs almost never land.
UNARY = {
    "np.tanh": (np.tanh, 0),
    "np.exp(np.tanh)": (lambda a: np.exp(np.tanh(a)), 0),
    "np.log1p(a*a)": (lambda a: np.log1p(a * a), 0),
    "np.sqrt(np.square+1)": (lambda a: np.sqrt(np.square(a) + 1), 0),
    "np.sin": (np.sin, 0),
    "np.cos": (np.cos, 0),
    "np.abs": (np.abs, 0),
    "np.reciprocal": (lambda a: np.reciprocal(a * a + 1), 0),
    "np.power 1.5": (lambda a: np.power(a * a + 1, 1.5), 0),
    "a ** 3": (lambda a: np.tanh(a) ** 3, 0),
    "2.0 ** a": (lambda a: 2.0 ** np.tanh(a), 0),
    "np.logaddexp(a, 0.3)": (lambda a: np.logaddexp(a, 0.3), 0),
    "np.where(a > 0)": (lambda a: np.where(a > 0, a, 0.5 * a), 0),
    "np.clip": (lambda a: np.clip(a, -0.6, 0.7), 0),
    "a.clip": (lambda a: a.clip(-0.6, None), 0),
    "np.sum": (np.sum, 0),
    "np.sum axis keepdims": (lambda a: np.sum(a, axis=-1, keepdims=True), 1),
    "np.sum axes tuple": (lambda a: np.sum(a, axis=tuple(range(a.ndim)), keepdims=True), 0),
    "a.sum(axis=0)": (lambda a: a.sum(axis=0), 1),
    "np.mean": (lambda a: np.mean(a, axis=0), 1),
    "a.mean()": (lambda a: a.mean(), 0),
    "np.max": (lambda a: np.max(a, axis=-1), 1),
    "np.amin keepdims": (lambda a: np.amin(a, axis=0, keepdims=True), 1),
    "np.prod": (lambda a: np.prod(np.tanh(a) + 2, axis=-1), 1),
    "np.var": (lambda a: np.var(a, axis=-1), 1),
    "a.std()": (lambda a: (a * a + 1).std() + np.sqrt(np.var(a) + 1), 0),
    "np.cumsum": (lambda a: np.cumsum(a, axis=-1), 1),
    "a.cumsum()": (lambda a: a.cumsum(), 0),
    "np.linalg.norm": (lambda a: np.linalg.norm(a + 2), 0),
    "np.linalg.norm axis": (lambda a: np.linalg.norm(a + 2, axis=-1, keepdims=True), 1),
    "np.linalg.norm ord 1": (lambda a: np.linalg.norm(a + 2, ord=1, axis=0), 1),
    "np.sort": (lambda a: np.sort(a, axis=-1), 1),
    "np.flip": (np.flip, 0),
    "np.transpose": (np.transpose, 0),
    "a.T": (lambda a: a.T, 0),
    "np.swapaxes": (lambda a: np.swapaxes(a, 0, -1), 1),
    "np.moveaxis": (lambda a: np.moveaxis(a, 0, -1), 1),
    "np.ravel": (np.ravel, 0),
    "a.flatten()": (lambda a: a.flatten(), 0),
    "np.reshape": (lambda a: np.reshape(a, (-1, 1)), 0),
    "np.expand_dims": (lambda a: np.expand_dims(a, 0), 0),
    "np.squeeze": (lambda a: np.squeeze(np.expand_dims(a, 1), axis=1), 1),
    "np.broadcast_to": (lambda a: np.broadcast_to(a, (2, *np.shape(a))), 0),
    "np.tile": (lambda a: np.tile(a, 2), 0),
    "np.repeat": (lambda a: np.repeat(a, 2, axis=-1), 1),
    "np.pad": (lambda a: np.pad(a, 1, constant_values=0.5), 1),
    "np.take": (lambda a: np.take(a, [0, -1, 0], axis=-1), 1),
    "np.diagonal": (lambda a: np.diagonal(a), 2),
    "np.trace": (lambda a: np.trace(a), 2),
    "np.tril": (lambda a: np.tril(a), 2),
    "np.split": (lambda a: np.split(np.concatenate([a, a], axis=-1), 2, axis=-1)[1] * 2, 1),
    "np.outer self": (lambda a: np.outer(a, np.tanh(a)), 0),
    "np.einsum trace": (lambda a: np.einsum("...i,...i->...", a, a), 1),
    "slice view": (lambda a: a[..., ::-1][..., :1] * 3, 1),
    "np.hstack": (lambda a: np.hstack([a, np.tanh(a)]), 0),
    "np.vstack": (lambda a: np.vstack([a, a * 2]), 0),
    "np.mean dtype": (lambda a: np.mean(a, axis=None, dtype=a.dtype, keepdims=True), 0),
    "np.var ddof": (lambda a: np.var(np.concatenate([a, a * a], axis=-1), axis=-1, ddof=1), 1),
    "np.std": (lambda a: np.std(np.concatenate([a, a * a + 1], axis=-1), axis=-1), 1),
    "np.take_along negative": (lambda a: np.take(a, [-1], axis=0), 1),
    "np.concatenate axis None": (lambda a: np.concatenate([a, np.tanh(a)], axis=None), 0),
    "np.expm1 log2 log10": (lambda a: np.expm1(np.tanh(a)) + np.log2(a * a + 1) + np.log10(a * a + 2), 0),
    "np.sign * a": (lambda a: np.sign(a) * a, 0),
    "np.positive negative": (lambda a: np.positive(np.negative(a)), 0),
    "float32 constant": (lambda a: a * np.float32(1.5) + np.ones(np.shape(a), np.float32), 0),
}

BINARY = {
    "np.add": lambda a, b: np.add(a, b),
    "np.subtract": lambda a, b: np.subtract(a, b),
    "a * b": lambda a, b: a * b,
    "np.divide": lambda a, b: np.divide(a, b * b + 1),
    "a / b": lambda a, b: a / (b * b + 1),
    "np.power": lambda a, b: np.power(a * a + 1, np.tanh(b)),
    "np.maximum": lambda a, b: np.maximum(a, b),
    "np.minimum": lambda a, b: np.minimum(a, b),
    "np.logaddexp": lambda a, b: np.logaddexp(a, b),
    "np.where(b > 0)": lambda a, b: np.where(b > 0, a, b),
    "np.where(a > b)": lambda a, b: np.where(a > b, b, a * 2),
    "np.stack": lambda a, b: np.stack([a + 0 * b, b + 0 * a]),
    "np.concatenate ravel": lambda a, b: np.concatenate([np.ravel(b), np.ravel(a)]),
    "np.outer": lambda a, b: np.outer(a, b),
    "np.clip by b": lambda a, b: np.clip(a, b, None),
}

# contractions need matching inner axes: (code, (a's rank, b's rank) it takes, how b's shape follows a's)
CONTRACTIONS = {
    "np.dot": lambda a, b: np.dot(a, b),
    "a @ b": lambda a, b: a @ b,
    "np.matmul": lambda a, b: np.matmul(a, b),
    "a.dot": lambda a, b: a.dot(b),
    "np.inner": lambda a, b: np.inner(a, b),
    "np.tensordot": lambda a, b: np.tensordot(a, b, axes=1),
    "np.einsum": lambda a, b: np.einsum("...j,jk->...k", a, b),
    "np.einsum optimize": lambda a, b: np.einsum("...j,jk->...k", a, b, optimize=True),
    "np.dot(ndarray, a)": lambda a, b: np.dot(b.T, a.T),  # the ndarray first: NumPy hands it to the Tensor
    "ndarray @ a": lambda a, b: b.T @ a.T,
}
OPS = [*UNARY, *BINARY, *CONTRACTIONS]
COMPARING = {"np.where(a > 0)", "np.where(b > 0)", "np.where(a > b)"}  # masks computed outside the ops


def contraction_partner(name: str, a_shape: tuple) -> tuple | None:
    """The shape of a second operand that ``name`` accepts with ``a``, or None."""
    if not a_shape:
        return None
    n = a_shape[-1]
    if name == "np.inner":
        return (2, n)
    if name in ("np.einsum", "np.einsum optimize"):
        return (n, 2)
    return (n,) if len(a_shape) == 1 else (n, 2)


def fits(name: str, a_shape: tuple, b_shape: tuple | None) -> bool:
    if name in UNARY:
        return len(a_shape) >= UNARY[name][1]
    if name in CONTRACTIONS:
        return b_shape is not None and b_shape == contraction_partner(name, a_shape)
    try:
        np.broadcast_shapes(a_shape, b_shape)
    except ValueError:
        return False
    return True


class Program:
    """Leaves, float64 constants and steps ``(op, i, j, ndarray_first)``; ``run`` evaluates them on
    Tensors (the engine) or on ndarrays (NumPy) with the same code."""

    def __init__(self, shapes, dtypes, steps, seed):
        rng = np.random.default_rng(seed)
        self.leaves = [rng.uniform(-1.5, 1.5, s).astype(d) for s, d in zip(shapes, dtypes, strict=True)]
        self.constants = [rng.uniform(-1.0, 1.0, s) for s in shapes]
        self.steps = steps
        self.seed = seed
        self.description = f"Program({list(shapes)}, {[np.dtype(d).name for d in dtypes]}, {steps}, {seed})"

    def __repr__(self) -> str:
        return self.description

    def run(self, leaves, constants=None, index=None):
        """Every value computed from a leaf, and the single-valued loss (a weighted sum of them all).
        ``index`` (an integer array of 0s and -1s, possibly ``ag.compile``'s traced argument) picks
        entries of the last axis of the last value into the loss."""
        constants = self.constants if constants is None else constants
        values, computed = list(leaves), []
        for step, (name, i, j, ndarray_first) in enumerate(self.steps):
            a = values[i % len(values)]
            b = None
            if name in CONTRACTIONS:
                partner = contraction_partner(name, np.shape(a))
                if partner is None:
                    continue
                b = constants[j % len(constants)]
                if np.shape(b) != partner:  # a float64 constant that fits, drawn per step
                    b = np.random.default_rng(step).uniform(-1.0, 1.0, partner)
            elif name in BINARY:
                b = (values + list(constants))[j % (len(values) + len(constants))]
                if not fits(name, np.shape(a), np.shape(b)):
                    b = np.random.default_rng(step).uniform(-1.0, 1.0, np.shape(a))
            if not fits(name, np.shape(a), None if b is None else np.shape(b)):
                continue
            if b is None:
                result = UNARY[name][0](a)
            else:
                code = BINARY.get(name) or CONTRACTIONS[name]
                # an ndarray on either side: NumPy hands ``ndarray op Tensor`` to the Tensor
                result = code(b, a) if ndarray_first and name in BINARY else code(a, b)
            values.append(result)
            computed.append(result)
        loss = 0.0
        for k, v in enumerate(computed):  # every value takes part: fan-out everywhere
            weights = np.random.default_rng(k).uniform(0.5, 1.5, np.shape(v))
            loss = loss + np.sum(v * weights)
        if index is not None and computed and np.ndim(computed[-1]) >= 1:
            last = computed[-1]
            loss = loss + np.sum(last[..., index])
        return computed, loss


@st.composite
def programs(draw, max_steps: int = 6):
    n = draw(st.integers(1, 3))
    shapes = draw(
        mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=2, max_side=3)
    ).input_shapes
    dtypes = [draw(st.sampled_from([np.float64, np.float32])) for _ in shapes]
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50), st.booleans()),
            min_size=1,
            max_size=max_steps,
        )
    )
    return Program(shapes, dtypes, steps, draw(st.integers(0, 2**16)))


def tolerances(program: Program, first: float, second: float) -> tuple[float, float]:
    return (first, second) if any(a.dtype == np.float32 for a in program.leaves) else (1e-10, 1e-12)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(program=programs())
def test_numpy_programs_on_tensors_agree_with_numpy_values_and_central_differences(program):
    leaves = [Tensor(a.copy(), requires_grad=True) for a in program.leaves]
    computed, loss = program.run(leaves)
    if not computed:
        return
    expected, expected_loss = program.run([a.astype(np.float64) for a in program.leaves])

    # ---- values: each a Tensor connected to the graph, equal to NumPy's
    rtol, atol = tolerances(program, 2e-4, 2e-5)
    for got, want in zip(computed, expected, strict=True):
        assert isinstance(got, Tensor) and got.requires_grad, f"{type(got).__name__} cut from the graph"
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got.data, want, rtol=rtol, atol=atol)
    np.testing.assert_allclose(loss.item(), expected_loss, rtol=rtol, atol=atol)

    # ---- gradients: the leaf's dtype, and central differences of the NumPy program in float64
    loss.backward()
    numeric = central_differences(lambda arrays: float(program.run(arrays)[1]), program.leaves)
    rtol, atol = tolerances(program, 2e-3, 2e-3)
    if not any(a.dtype == np.float32 for a in program.leaves):
        rtol, atol = 1e-5, 1e-6
    for leaf, want in zip(leaves, numeric, strict=True):
        got = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad
        assert leaf.grad is None or leaf.grad.dtype == leaf.dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(1.0, np.abs(want).max(initial=0)))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    program=programs(max_steps=5),
    labels=st.lists(st.integers(-4, 4), min_size=3, max_size=3),
    dtype=st.sampled_from([np.int64, np.int32, np.int16, np.int8]),
)
def test_compiled_numpy_programs_equal_eager_over_three_calls(program, labels, dtype):
    """The constants (float ndarrays) and an integer index array are the compiled function's arguments;
    each call gives them other values."""
    if any(name in COMPARING for name, *_ in program.steps):
        return  # a mask from a comparison is frozen at trace time (test_numpy_review_probes.py)
    leaves = [Tensor(a.astype(np.float64), requires_grad=True) for a in program.leaves]

    def f(*arguments):
        return program.run(leaves, constants=list(arguments[:-1]), index=arguments[-1])[1]

    compiled = ag.compile(f)
    rng = np.random.default_rng(program.seed)
    for call in range(3):
        constants = [rng.uniform(-1.0, 1.0, np.shape(c)) for c in program.constants]
        index = np.array([(label + call) % 2 - 1 for label in labels], dtype)  # 0 or -1: any axis has them
        for leaf in leaves:
            leaf.grad = None
        eager = f(*constants, index)
        if not isinstance(eager, Tensor) or not eager.requires_grad:
            return
        eager.backward()
        expected = [None if t.grad is None else t.grad.copy() for t in leaves]
        for leaf in leaves:
            leaf.grad = None
        got = compiled(*constants, index)
        got.backward()
        np.testing.assert_allclose(got.item(), eager.item(), rtol=1e-10, atol=1e-12, err_msg=f"call {call}")
        for leaf, want in zip(leaves, expected, strict=True):
            assert (leaf.grad is None) == (want is None)
            if want is not None:
                np.testing.assert_allclose(leaf.grad, want, rtol=1e-10, atol=1e-12, err_msg=f"call {call}")


@settings(max_examples=40, deadline=None, derandomize=True)
@given(program=programs(max_steps=4))
def test_numpy_programs_second_order_through_create_graph(program):
    """H v by differentiating the recorded backward equals central differences of the first gradient
    along v, in float64."""
    arrays = [a.astype(np.float64) for a in program.leaves]
    v = [np.random.default_rng(7 + i).uniform(-1, 1, a.shape) for i, a in enumerate(arrays)]

    def first_gradient(at):
        xs = [Tensor(a.copy(), requires_grad=True) for a in at]
        loss = program.run(xs)[1]
        if not isinstance(loss, Tensor) or not loss.requires_grad:
            return None
        return [
            np.zeros(x.shape) if g is None else g
            for x, g in zip(xs, ag.grad(loss, xs, allow_unused=True), strict=True)
        ]

    if first_gradient(arrays) is None:
        return  # nothing was recorded
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    firsts = ag.grad(program.run(xs)[1], xs, create_graph=True, allow_unused=True)
    directional = sum((g * d).sum() for g, d in zip(firsts, v, strict=True) if g is not None)
    if isinstance(directional, Tensor) and directional.requires_grad:
        hvp = ag.grad(directional, xs, allow_unused=True)
    else:
        hvp = [None] * len(xs)  # the first gradient does not depend on the leaves
    eps = 1e-5
    plus = first_gradient([a + eps * d for a, d in zip(arrays, v, strict=True)])
    minus = first_gradient([a - eps * d for a, d in zip(arrays, v, strict=True)])
    for h, p, m in zip(hvp, plus, minus, strict=True):
        want = (p - m) / (2 * eps)
        got = np.zeros_like(want) if h is None else h
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(want).max(initial=0)))
