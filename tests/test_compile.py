"""ag.compile: a replay computes what eager mode computes, into buffers the caller never sees."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.digits.network import Network
from autograd_nn.optim import Adam

RTOL = 1e-12


def assert_close(actual, expected, what: str = "") -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    assert actual.dtype == expected.dtype, what
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def gradients(params) -> list[np.ndarray]:
    return [np.array(p.grad) for p in params]


def clear(params) -> None:
    for p in params:
        p.grad = None


def one_hot_batch(rng, m: int, classes: int = 10) -> np.ndarray:
    return np.eye(classes)[rng.integers(0, classes, m)]


# ------------------------------------------------------------------------- the tutorial network


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_training_of_the_tutorial_network_matches_eager_step_for_step(dtype):
    rng = np.random.default_rng(0)
    eager_net = Network([16, 8, 10], seed=1, dtype=dtype, input_scale=3.0)
    compiled_net = Network([16, 8, 10], seed=1, dtype=dtype, input_scale=3.0)
    eager_opt, compiled_opt = Adam(eager_net.parameters(), 0.05), Adam(compiled_net.parameters(), 0.05)
    step = ag.compile(lambda X, Y: compiled_net.cost(X, Y, lam=0.3, num_examples=200))
    for batch in range(8):
        m = 20 if batch < 6 else 7  # the smaller last batch traces a second program
        X = (rng.random((m, 16)) * 3).astype(dtype)
        Y = one_hot_batch(rng, m).astype(dtype)
        eager_opt.zero_grad()
        expected = eager_net.cost(X, Y, lam=0.3, num_examples=200)
        expected.backward()
        compiled_opt.zero_grad()
        loss = step(X, Y)
        loss.backward()
        rtol = RTOL if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(loss.item(), expected.item(), rtol=rtol)
        for got, want in zip(
            gradients(compiled_net.parameters()), gradients(eager_net.parameters()), strict=True
        ):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
        eager_opt.step()
        compiled_opt.step()
    assert (step.traces, step.replays) == (2, 4)  # per signature: a trace, an eager check, then replays


def test_the_tutorial_step_runs_fused_products_and_l2_terms_and_source_names_every_op():
    net = Network([64, 25, 10], seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.random((64, 64)), one_hot_batch(rng, 64)
    step = ag.compile(lambda X, Y: net.cost(X, Y, lam=0.3, num_examples=1000))
    for _ in range(3):  # trace, check, replay
        clear(net.parameters())
        step(X, Y).backward()
    forward = step.source().split("def checked_forward")[0]
    assert forward.count("# linear(x @ w.T + b)") == 2  # a @ theta.T + b per layer: one op, no transpose
    assert forward.count("# sum(x**2)") == 2  # the L2 term of each theta in one pass
    assert "# transpose" not in forward and "# pow" not in forward
    assert "# sigmoid" in forward and "# bce_with_logits(sum)" in forward


@pytest.mark.parametrize(
    ("form", "x_dtype"),
    [("x @ w.T + b", np.float64), ("b + x @ w.T", np.float64), ("x @ w.T + b", np.float32)],
)
def test_a_layer_runs_as_one_fused_op_with_eagers_values_and_gradients(form, x_dtype):
    rng = np.random.default_rng(2)
    x, w, b = (Tensor(rng.normal(size=shape), requires_grad=True) for shape in [(7, 4), (3, 4), (3,)])
    x = Tensor(x.data.astype(x_dtype), requires_grad=True)  # float32 rows against float64 weights too
    layer = (lambda x: x @ w.T + b) if form == "x @ w.T + b" else (lambda x: b + x @ w.T)

    def cost(x):
        return (layer(x).sigmoid() * np.arange(3.0)).sum()

    step = ag.compile(cost)
    eager = cost(x)
    eager.backward()
    expected = [x.grad, w.grad, b.grad]
    for _ in range(3):
        clear([x, w, b])
        loss = step(x)
        loss.backward()
    assert_close(loss.data, eager.data)
    for got, want, name in zip([x.grad, w.grad, b.grad], expected, "xwb", strict=True):
        assert_close(got, want, name)
    assert "# linear(x @ w.T + b)" in step.source()


def test_a_layer_on_a_batch_of_sequences_and_attention_heads_replay_with_eagers_gradients():
    # x (batch, time, features) @ w.T + b runs as one fused op over x's rows; the heads' q @ k^T and
    # weights @ v (4-D stacks) write their gradients straight into the program's buffers
    rng = np.random.default_rng(3)
    x, w, b = (Tensor(rng.normal(size=shape), requires_grad=True) for shape in [(2, 5, 8), (12, 8), (12,)])

    def cost(x):
        qkv = (x @ w.T + b).reshape(2, 5, 3, 2, 2).transpose((2, 0, 3, 1, 4))  # (3, batch, heads, time, 2)
        q, k, v = qkv[0], qkv[1], qkv[2]
        weights = ag.softmax(q @ k.transpose((0, 1, 3, 2)), axis=-1)
        return ((weights @ v).tanh() * np.arange(2.0)).sum()

    step = ag.compile(cost)
    eager = cost(x)
    eager.backward()
    expected = [x.grad, w.grad, b.grad]
    for _ in range(3):  # trace, check, replay
        clear([x, w, b])
        loss = step(x)
        loss.backward()
    assert_close(loss.data, eager.data)
    for got, want, name in zip([x.grad, w.grad, b.grad], expected, "xwb", strict=True):
        assert_close(got, want, name)
    source = step.source()
    assert "# linear(x @ w.T + b)" in source
    heads = [line for line in source.splitlines() if line.endswith("# vjp of matmul")]
    assert len(heads) == 2 and all(".vjp_into(" in line for line in heads)


def test_the_tutorial_cost_as_the_article_writes_it_compiles():
    rng = np.random.default_rng(1)
    theta1 = Tensor(rng.standard_normal((5, 6)), requires_grad=True)
    theta2 = Tensor(rng.standard_normal((3, 5)), requires_grad=True)
    b2 = Tensor(rng.standard_normal(3), requires_grad=True)

    def cost(X, Y):
        a = Tensor(X) @ theta1.T
        a = a.sigmoid()
        h = (a @ theta2.T + b2).sigmoid()
        m = X.shape[0]
        return -(Y * h.log() + (1 - Y) * (1 - h).log()).sum() / m

    step = ag.compile(cost)
    for _ in range(3):
        X, Y = rng.random((9, 6)), one_hot_batch(rng, 9, 3)
        clear([theta1, theta2, b2])
        expected = cost(X, Y)
        expected.backward()
        want = gradients([theta1, theta2, b2])
        clear([theta1, theta2, b2])
        loss = step(X, Y)
        loss.backward()
        assert_close(loss.data, expected.data)
        for got, w in zip(gradients([theta1, theta2, b2]), want, strict=True):
            assert_close(got, w)


def test_an_mlp_written_with_tensors_compiles_with_its_gradients():
    rng = np.random.default_rng(2)
    w1 = Tensor(rng.standard_normal((6, 12)) * 0.5, requires_grad=True)
    b1 = Tensor(np.zeros(12), requires_grad=True)
    w2 = Tensor(rng.standard_normal((12, 4)) * 0.5, requires_grad=True)
    params = [w1, b1, w2]

    def loss_fn(X, labels):
        h = (Tensor(X) @ w1 + b1).relu()
        z = (h @ w2).tanh() * 3
        picked = z.log_softmax(axis=1)[np.arange(len(labels)), labels]
        return -picked.mean() + 0.01 * (w1 * w1).sum()

    step = ag.compile(loss_fn)
    for _ in range(4):
        X, labels = rng.standard_normal((10, 6)), rng.integers(0, 4, 10)
        clear(params)
        expected = loss_fn(X, labels)
        expected.backward()
        want = gradients(params)
        clear(params)
        got = step(X, labels)
        got.backward()
        assert_close(got.data, expected.data)
        for g, w in zip(gradients(params), want, strict=True):
            assert_close(g, w)


# ------------------------------------------------------------------------- random programs

UNARY = {
    "exp": lambda x: (x.tanh()).exp(),
    "log": lambda x: (x * x + 1).log(),
    "sigmoid": lambda x: x.sigmoid(),
    "tanh": lambda x: x.tanh(),
    "relu": lambda x: x.relu(),
    "neg": lambda x: -x,
    "square": lambda x: x**2,
    "cube": lambda x: (x * 0.5) ** 3,
    "sqrt": lambda x: (x * x + 1) ** 0.5,
    "sum0": lambda x: x.sum(axis=0, keepdims=True) + x,
    "sum1": lambda x: x + x.sum(axis=1).reshape(3, 1),
    "sum_all": lambda x: x * x.sum(),
    "l2": lambda x: x + (x**2).sum(),  # compiled as one fused op
    "mean": lambda x: x - x.mean(axis=1, keepdims=True),
    "max": lambda x: x + x.max(axis=1, keepdims=True),
    "logsumexp": lambda x: x - x.logsumexp(axis=0, keepdims=True),
    "softmax": lambda x: x.softmax(axis=1),
    "log_softmax": lambda x: x.log_softmax(axis=0),
    "reshape": lambda x: x.reshape(12).reshape((4, 3)).T,
    "transpose": lambda x: x.transpose(1, 0).T,
    "rows": lambda x: x[[0, 0, 2]],
    "reverse": lambda x: x[:, ::-1],
    "bce": lambda x: x * ag.binary_cross_entropy_with_logits(x, x.sigmoid(), reduction="sum"),
    "bce_none": lambda x: ag.binary_cross_entropy_with_logits(x, x.sigmoid().detach(), reduction="none"),
    "detach": lambda x: x.detach() * x,
    "abs": lambda x: x.abs(),
    "sqrt_abs": lambda x: (x.abs() + 0.5).sqrt(),
    "clip": lambda x: x.clip(-0.5, 0.7),
    "softplus": lambda x: ag.softplus(x),
    "leaky_relu": lambda x: ag.leaky_relu(x, 0.1),
    "min": lambda x: x - x.min(axis=0, keepdims=True),
    "var": lambda x: x * x.var(axis=1, keepdims=True),
    "std": lambda x: x + x.std(),
    "where": lambda x: ag.where(MASK, x, x * 0.5),  # a constant mask (one from x > 0 is frozen: see below)
    "conv": lambda x: ag.conv2d(x.reshape(1, 1, 3, 4), x[:, :3].reshape(1, 1, 3, 3), padding=1).reshape(3, 4),
    "pool": lambda x: ag.concatenate(
        [ag.max_pool2d(x.reshape(1, 1, 3, 4), (1, 2), stride=1).reshape(3, 3), x[:, :1]], axis=1
    ),
    "stack": lambda x: ag.stack([x, x * 2], axis=0).sum(axis=0),
    "cross_entropy": lambda x: x * ag.cross_entropy(x, np.array([0, 3, 1])),
    "mse": lambda x: x + ag.mse_loss(x, x.tanh().detach()),
}
MASK = np.array([[True, False, True, False]] * 3)
BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / (y * y + 1),
    "matmul": lambda x, y: (x @ y.T) @ x * 0.1,
    "bias": lambda x, y: x + y[0],
    "column": lambda x, y: x * y[:, 1:2],
    "maximum": lambda x, y: ag.maximum(x, y),
    "minimum": lambda x, y: ag.minimum(x, y),
    "power": lambda x, y: (x * x + 1) ** (y * 0.5),
}
instruction = st.one_of(
    st.tuples(st.sampled_from(sorted(UNARY)), st.integers(0, 20), st.just(0)),
    st.tuples(st.sampled_from(sorted(BINARY)), st.integers(0, 20), st.integers(0, 20)),
)


def run_program(program, X, leaves) -> Tensor:
    values = [Tensor(X), *leaves]
    for name, i, j in program:
        x = values[i % len(values)]
        if name in UNARY:
            values.append(UNARY[name](x))
        else:
            values.append(BINARY[name](x, values[j % len(values)]))
    weights = np.linspace(0.5, 1.5, len(values))
    return sum(((v * w).sum() for v, w in zip(values[1:], weights[1:], strict=True)), values[0].sum())


@settings(max_examples=60, deadline=None)
@given(program=st.lists(instruction, min_size=1, max_size=8), seed=st.integers(0, 2**16))
def test_random_programs_over_every_op_replay_as_eager(program, seed):
    rng = np.random.default_rng(seed)
    leaves = [Tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(3)]
    step = ag.compile(lambda X: run_program(program, X, leaves))
    for call in range(4):  # a trace, the second call's eager check, then replays
        X = rng.standard_normal((3, 4))
        clear(leaves)
        expected = run_program(program, X, leaves)
        expected.backward()
        want = gradients(leaves) if all(p.grad is not None for p in leaves) else None
        clear(leaves)
        got = step(X)
        assert_close(got.data, expected.data, f"call {call}: value")
        got.backward()
        if want is not None:
            for k, (g, w) in enumerate(zip(gradients(leaves), want, strict=True)):
                assert_close(g, w, f"call {call}: gradient of leaf {k}")
        with ag.no_grad():
            leaves[call % 3].data += 0.25  # in place, as an optimizer does: the next call must see it
    assert step.traces == 1


# ------------------------------------------------------------------------- signatures and re-tracing


def test_a_new_batch_size_or_a_reshaped_parameter_traces_again():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    step = ag.compile(lambda X: (Tensor(X) @ w).sum())
    for _ in range(3):
        step(np.ones((4, 3)))
    assert (step.traces, step.replays) == (1, 1)  # the second call runs eagerly, compared with the trace
    step(np.ones((5, 3)))
    assert step.traces == 2
    w.data = np.ones((3, 7))  # another shape: the recorded program no longer fits
    loss = step(np.ones((5, 3)))
    assert step.traces == 3
    assert loss.item() == 105.0
    loss.backward()
    np.testing.assert_array_equal(w.grad, np.full((3, 7), 5.0))


def test_python_values_are_part_of_the_signature_and_the_cache_is_bounded():
    w = Tensor(np.arange(3.0), requires_grad=True)
    step = ag.compile(lambda X, scale: (Tensor(X) * w * scale).sum(), cache_size=2)
    X = np.ones(3)
    assert step(X, 2.0).item() == 6.0
    assert step(X, 3.0).item() == 9.0
    assert step(X, 4.0).item() == 12.0
    assert step.traces == 3 and len(step._programs) == 2
    assert step(X, 2.0).item() == 6.0  # evicted (least recently used): traced again
    assert step.traces == 4


def test_keyword_arguments_and_tensor_arguments_that_require_grad():
    step = ag.compile(lambda x, *, power: (x**power).sum())
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    for _ in range(3):
        x.grad = None
        loss = step(x, power=3)
        loss.backward()
        np.testing.assert_array_equal(x.grad, 3 * x.data**2)
    assert step.replays == 1


# ------------------------------------------------------------------------- what cannot be captured


def test_check_catches_a_branch_on_tensor_values():
    w = Tensor(np.ones(3), requires_grad=True)

    def fn(X):
        x = Tensor(X) * w
        return x.exp().sum() if x.sum().item() > 0 else x.tanh().sum()

    step = ag.compile(fn, check=True)
    step(np.ones(3))
    step(np.ones(3) * 2)  # same branch: fine
    with pytest.raises(ag.AutogradError, match=r"op 2 was exp\(\), now tanh|other ops") as error:
        step(-np.ones(3))
    assert "frozen at trace time" in str(error.value)


def test_the_second_call_catches_a_value_frozen_at_trace_time():
    w = Tensor(np.ones(3), requires_grad=True)
    step = ag.compile(lambda X: (w * float(X.max())).sigmoid().sum())
    step(np.ones(3))
    with pytest.raises(
        ag.AutogradError, match=r"op 1 \(mul\) got its input 1 .* changed between the first two"
    ):
        step(np.full(3, 2.0))


def test_numpy_on_an_integer_argument_is_caught_at_the_second_call():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    step = ag.compile(lambda X, labels: ((Tensor(X) @ w) * np.eye(2)[labels]).sum())
    step(np.ones((4, 3)), np.array([0, 1, 1, 0]))
    with pytest.raises(ag.AutogradError, match="changed between the first two calls"):
        step(np.ones((4, 3)), np.array([1, 1, 0, 0]))


def test_check_names_the_first_op_that_differs_on_a_later_call():
    w = Tensor(np.ones(3), requires_grad=True)
    step = ag.compile(lambda X: (w * float(X.max())).sigmoid().sum(), check=True)
    step(np.ones(3))
    step(np.full(3, 0.5) + np.array([0.5, 0, 0]))  # the same maximum: the second call agrees
    with pytest.raises(ag.AutogradError, match=r"op 1 \(mul\) gives other values"):
        step(np.full(3, 2.0))


def test_float_arrays_arrive_as_tensors_so_the_articles_one_minus_y_is_recorded():
    seen = []
    step = ag.compile(lambda X: seen.append(type(X)) or (1 - X).sum())
    assert step(np.ones(3)).item() == 0.0
    assert step(np.zeros(3)).item() == 3.0
    assert len(seen) == 2 and all(issubclass(kind, Tensor) for kind in seen)  # traced, checked once, replayed


def test_a_mask_computed_from_tensor_values_is_refused_at_trace_time():
    # a replay would keep the first call's mask; the second-call check alone misses it when the first
    # two calls share the mask, so the trace refuses it
    w = Tensor(np.ones(3), requires_grad=True)
    step = ag.compile(lambda X: ag.where(Tensor(X) > 0, Tensor(X) * w, w).sum(), check=True)
    with pytest.raises(ag.AutogradError, match=r"op 1 \(where\) .* comparison of a traced value"):
        step(np.array([1.0, -1.0, 2.0]))


def test_an_argument_copied_outside_the_ops_is_refused_at_trace_time():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    step = ag.compile(lambda X: (Tensor(np.array(X.data) * 2) @ w).sum())
    with pytest.raises(ag.AutogradError, match=r"argument 0 .* outside the ops"):
        step(np.ones((4, 3)))


def test_an_unused_argument_of_the_shape_of_a_held_constant_is_accepted():
    w = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    C = np.array([0.5, 1.0, 0.2])

    def f(x, unused):
        return ag.maximum(x * w, C).sum()

    step = ag.compile(f)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x, unused = rng.normal(size=3), rng.normal(size=3)
        w.grad = None
        loss = step(x, unused)
        loss.backward()
        compiled_grad = w.grad
        w.grad = None
        eager = f(Tensor(x), unused)
        eager.backward()
        assert loss.item() == pytest.approx(eager.item())
        np.testing.assert_allclose(compiled_grad, w.grad)
    assert step.replays == 2
    x = np.array([0.1, 0.2, 0.5])
    assert ag.compile(f)(x, np.zeros(3)).item() == pytest.approx(f(Tensor(x), np.zeros(3)).item())


def test_an_unused_argument_whose_values_fn_read_outside_the_ops_is_still_refused():
    w = Tensor(np.ones(3), requires_grad=True)
    step = ag.compile(lambda x, other: (x * w + np.asarray(other) * 2).sum())
    with pytest.raises(ag.AutogradError, match=r"argument 1 .* outside the ops"):
        step(np.ones(3), np.ones(3))


# ------------------------------------------------------------------ integer labels computed from arguments

W_LABELS = np.array([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.25]])
X_LABELS = np.array([[0.3, -0.2], [1.0, 0.4], [-0.7, 0.9], [0.1, 0.1]])
LABEL_FORMS = {  # how fn turns the argument into the labels, and the argument's shape
    "as given": (lambda lab: lab, (4,)),
    "reshape(-1)": (lambda lab: lab.reshape(-1), (4, 1)),
    "lab[:, 1:] reshaped": (lambda lab: lab[:, 1:].reshape(-1), (4, 2)),
    "lab[:, 1]": (lambda lab: lab[:, 1], (4, 2)),
    "lab.T[:, 0]": (lambda lab: lab.T[:, 0], (1, 4)),
    "astype(int64)": (lambda lab: lab.astype(np.int64), (4,)),
    "astype(int64).reshape(-1)": (lambda lab: lab.astype(np.int64).reshape(-1), (4, 1)),
    "lab[:, 1:].astype(int64)[:, 0]": (lambda lab: lab[:, 1:].astype(np.int64)[:, 0], (4, 2)),
    "np.asarray": (lambda lab: np.asarray(lab), (4,)),
}


@pytest.mark.parametrize("form", list(LABEL_FORMS))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16, np.uint32])
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_labels_derived_from_an_argument_are_read_anew_at_every_call(form, dtype, loss):
    make_labels, shape = LABEL_FORMS[form]
    W = Tensor(W_LABELS, requires_grad=True)

    def f(x, lab):
        logits = x @ W.T
        if loss == "nll_loss":
            return ag.nll_loss(logits.log_softmax(), make_labels(lab))
        return ag.cross_entropy(logits, make_labels(lab))

    step = ag.compile(f)
    rng = np.random.default_rng(1)
    first = rng.integers(0, 3, size=shape).astype(dtype)
    calls = [first, first, *[rng.integers(0, 3, size=shape).astype(dtype) for _ in range(4)]]
    calls.append(np.full(shape, 2, dtype))  # (the same as neither: a frozen label array would show)
    for labels in calls:  # the issue's order: the same labels twice, then others
        W.grad = None
        compiled = step(X_LABELS, labels)
        compiled.backward()
        compiled_grad = W.grad
        W.grad = None
        eager = f(Tensor(X_LABELS), labels)
        eager.backward()
        assert compiled.item() == pytest.approx(eager.item(), rel=1e-12)
        np.testing.assert_allclose(compiled_grad, W.grad, rtol=1e-12)
    assert step.traces == 1 and step.replays == len(calls) - 2


def test_the_issues_int32_labels_give_eager_values_on_the_third_call():
    W = Tensor(W_LABELS, requires_grad=True)
    step = ag.compile(lambda x, lab: ag.cross_entropy(x @ W.T, lab))
    a, b = np.array([0, 1, 2, 0], np.int32), np.array([2, 2, 1, 1], np.int32)
    step(X_LABELS, a)
    step(X_LABELS, a)
    assert step(X_LABELS, b).item() == pytest.approx(1.5736, abs=1e-4)
    assert step(X_LABELS, b).item() == pytest.approx(ag.cross_entropy(Tensor(X_LABELS) @ W.T, b).item())


@pytest.mark.parametrize(
    "make_labels",
    [lambda lab: lab + 0, lambda lab: lab[[3, 2, 1, 0]], lambda lab: np.array(lab, dtype=np.int64)],
    ids=["arithmetic", "fancy indexing", "np.array copy"],
)
def test_labels_computed_from_an_argument_in_a_way_a_replay_cannot_repeat_are_refused_at_the_trace(
    make_labels,
):
    W = Tensor(W_LABELS, requires_grad=True)
    step = ag.compile(lambda x, lab: ag.cross_entropy(x @ W.T, make_labels(lab)))
    with pytest.raises(ag.AutogradError, match=r"nll_loss.*computed with NumPy from an integer argument"):
        step(X_LABELS, np.array([0, 1, 2, 0], np.int32))


def test_a_function_must_return_one_tensor():
    with pytest.raises(TypeError, match="must return one Tensor"):
        ag.compile(lambda x: (Tensor(x), Tensor(x)))(np.ones(2))


# ------------------------------------------------------------------------- modes and ownership


def test_no_grad_replays_only_the_forward():
    net = Network([4, 3, 2], seed=0)
    step = ag.compile(lambda X, Y: net.cost(X, Y))
    X, Y = np.ones((5, 4)), np.eye(2)[[0, 1, 0, 1, 1]]
    step(X, Y)
    step(X, Y)
    with ag.no_grad():
        loss = step(X, Y)
    assert not loss.requires_grad and loss.op is None
    assert step.replays == 1
    assert all(p.grad is None for p in net.parameters())
    np.testing.assert_allclose(loss.item(), net.cost(X, Y).item(), rtol=RTOL)
    with ag.no_grad():  # traced under no_grad: the first result records nothing either
        first = ag.compile(lambda X, Y: net.cost(X, Y))(X, Y)
    assert not first.requires_grad


def test_the_loss_and_gradients_a_caller_holds_are_never_overwritten():
    net = Network([6, 5, 3], seed=0)
    step = ag.compile(lambda X, Y: net.cost(X, Y, lam=0.1))
    rng = np.random.default_rng(3)
    held = []
    for _ in range(4):
        clear(net.parameters())
        loss = step(rng.random((8, 6)), one_hot_batch(rng, 8, 3))
        loss.backward()
        grads = [p.grad for p in net.parameters()]
        held.append((loss, loss.data.copy(), grads, [g.copy() for g in grads]))
    for loss, value, grads, copies in held:
        np.testing.assert_array_equal(loss.data, value)
        for g, c in zip(grads, copies, strict=True):
            np.testing.assert_array_equal(g, c)
    arrays = [a for loss, _, grads, _ in held for a in (loss.data, *grads)]
    program = next(iter(step._programs.values()))
    assert not any(np.may_share_memory(a, b) for a in arrays for b in program.buffers)


def test_a_seed_passed_straight_to_the_leaves_gives_each_its_own_writable_gradient():
    a, b = Tensor(np.array(2.0), requires_grad=True), Tensor(np.array(3.0), requires_grad=True)
    w = Tensor(np.array([2.0]), requires_grad=True)
    step = ag.compile(lambda a, b, w: a + b + w.reshape(()))
    for _ in range(3):  # trace, checked second call, then replays
        clear([a, b, w])
        step(a, b, w).backward()
    assert a.grad is not b.grad and not np.may_share_memory(a.grad, w.grad)
    for g in (a.grad, b.grad, w.grad):
        g += 1  # the caller's own arrays: writable, and nothing else changes with them
    assert (a.grad, b.grad, w.grad[0]) == (2.0, 2.0, 2.0)
    clear([a, b, w])
    step(a, b, w).backward()
    assert (a.grad, b.grad, w.grad[0]) == (1.0, 1.0, 1.0)


def test_hooks_on_a_parameter_run_as_in_eager_mode():
    net = Network([6, 5, 3], seed=0)
    theta = net.params[0][0]
    seen = []
    theta.register_hook(lambda g: seen.append(g.copy()) or g * 2)  # a gradient-changing hook
    X, Y = np.random.default_rng(1).random((8, 6)), one_hot_batch(np.random.default_rng(2), 8, 3)
    net.cost(X, Y).backward()
    eager = theta.grad.copy()
    step = ag.compile(lambda X, Y: net.cost(X, Y))
    for _ in range(3):
        clear(net.parameters())
        step(X, Y).backward()
        assert_close(theta.grad, eager)
    assert len(seen) == 4
    assert_close(seen[-1] * 2, eager)


def test_gradients_flow_on_through_tensors_an_eager_graph_computed_before_the_call():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    held = w * 2  # computed eagerly, outside the function, and used inside it
    step = ag.compile(lambda x, a: (held * Tensor(x) * a).sum())
    x = np.array([3.0, 4.0])
    for _ in range(3):
        a = Tensor(np.array([1.0, -1.0]), requires_grad=True) * 1  # an argument that is itself an op's result
        w.grad = None
        step(x, a).backward()
        np.testing.assert_array_equal(w.grad, 2 * x * np.array([1.0, -1.0]))  # through held's node to w
        assert held._grad is None  # (held is a non-leaf: it keeps no gradient)


def test_a_broadcast_operands_gradient_is_summed_as_eager_sums_it_bit_for_bit():
    rng = np.random.default_rng(4)
    b = Tensor(rng.normal(size=25), requires_grad=True)  # stretched over 64 rows: its gradient is summed
    step = ag.compile(lambda x: (Tensor(x) * b).sigmoid().sum())
    x = rng.normal(size=(64, 25))
    (Tensor(x) * b).sigmoid().sum().backward()
    eager = b.grad
    for _ in range(3):
        b.grad = None
        step(x).backward()
        np.testing.assert_array_equal(b.grad, eager)


def test_backward_of_an_older_result_replays_its_forward_again():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    step = ag.compile(lambda X: (Tensor(X) * w).sigmoid().sum())
    step(np.array([1.0, -1.0]))  # the trace and the second call's check run eagerly
    step(np.array([1.0, -1.0]))
    first = step(np.array([1.0, -1.0]))
    second = step(np.array([3.0, 0.5]))
    first.backward()
    s = 1 / (1 + np.exp(-np.array([1.0, -2.0])))
    np.testing.assert_allclose(w.grad, s * (1 - s) * np.array([1.0, -1.0]), rtol=RTOL)
    w.grad = None
    second.backward()
    s = 1 / (1 + np.exp(-np.array([3.0, 1.0])))
    np.testing.assert_allclose(w.grad, s * (1 - s) * np.array([3.0, 0.5]), rtol=RTOL)


def test_threads_sharing_one_compiled_function_each_get_their_own_values_and_gradients():
    # One program's buffers serve every thread: a call's forward and its backward each hold the program,
    # and a backward whose forward another thread overwrote runs that forward again first.
    W = Tensor(np.random.default_rng(0).normal(size=(6, 4)))
    step = ag.compile(lambda X: (X @ W).sigmoid().sum() * 2)
    inputs = [np.random.default_rng(k).normal(size=(5, 6)) for k in range(4)]
    eager = []
    for x in inputs:
        X = Tensor(x, requires_grad=True)
        value = (X @ W).sigmoid().sum() * 2
        value.backward()
        eager.append((value.item(), X.grad))
    start, failures = threading.Barrier(len(inputs)), []

    def work(k: int) -> None:
        start.wait()
        for _ in range(200):
            X = Tensor(inputs[k], requires_grad=True)
            loss = step(X)
            loss.backward()
            if loss.item() != eager[k][0] or not np.allclose(X.grad, eager[k][1], rtol=RTOL, atol=0):
                failures.append(k)
                return
            with ag.no_grad():
                if step(X).item() != eager[k][0]:
                    failures.append(k)
                    return

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(inputs))]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: between one call's forward and its backward too
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    assert step.replays > 0


def test_backward_twice_accumulates_and_results_compose_with_eager_ops():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    step = ag.compile(lambda X: (Tensor(X) * w * w).sum())
    X = np.array([1.0, 3.0])
    step(X)
    step(X)
    loss = step(X)
    loss.backward()
    loss.backward()
    np.testing.assert_array_equal(w.grad, 2 * 2 * X * w.data)
    w.grad = None
    (loss * 3 + step(X)).backward()
    np.testing.assert_array_equal(w.grad, 4 * 2 * X * w.data)
    (gw,) = [ag.grad(step(X), w)]
    np.testing.assert_array_equal(gw, 2 * X * w.data)
    with pytest.raises(ag.AutogradError, match="create_graph"):
        step(X).backward(create_graph=True)


def test_the_layer_adds_its_bias_into_the_products_buffer_and_the_sigmoid_overwrites_it():
    net = Network([8, 6, 3], seed=0)
    step = ag.compile(lambda X, Y: net.cost(X, Y, lam=0.2))
    X, Y = np.ones((5, 8)), np.eye(3)[[0, 1, 2, 0, 1]]
    step(X, Y)
    program = next(iter(step._programs.values()))
    labels = [s.label for s in program.steps[: program.forward_steps]]
    forward = program.steps[: program.forward_steps]
    assert all(program.shapes[s.outs[0]] == () for s in forward if s.label == "add")  # x @ w.T + b: one op
    layer, sigmoid = (
        program.steps[labels.index(name)].outs[0] for name in ("linear(x @ w.T + b)", "sigmoid")
    )
    assert program.slot[layer] == program.slot[sigmoid]
    hidden = [spec for spec in program.slot_specs if spec[0] == (5, 6)]
    assert len(hidden) == 2  # the activation and one gradient buffer, nothing more of that size


def test_the_cross_entropy_forward_computes_in_scratch_buffers_the_planner_lends():
    net = Network([8, 6, 3], seed=0)
    step = ag.compile(lambda X, Y: net.cost(X, Y, lam=0.2))
    X, Y = np.random.default_rng(0).normal(size=(5, 8)), np.eye(3)[[0, 1, 2, 0, 1]]
    step(X, Y)
    program = next(iter(step._programs.values()))
    (s,) = [s for s, st in enumerate(program.steps) if st.label.startswith("bce_with_logits")]
    scratch = [program.buffers[slot] for slot in program.scratch_slots[s]]
    assert [b.shape for b in scratch] == [(5, 3)] * 2  # the elementwise loss and log1p(e^-|z|)
    step_arrays = [program.env[v] for v in program.steps[s].ins + program.steps[s].outs]
    for b in scratch:  # lent for this step only: never an input, the output or another scratch buffer
        assert not any(np.may_share_memory(b, a) for a in step_arrays if a is not None)
        assert sum(np.may_share_memory(b, other) for other in scratch) == 1
    for _ in range(3):
        clear(net.parameters())
        compiled = step(X, Y)
        compiled.backward()
        got = gradients(net.parameters())
        clear(net.parameters())
        eager = net.cost(X, Y, lam=0.2)
        eager.backward()
        assert compiled.item() == eager.item()
        for a, b in zip(got, gradients(net.parameters()), strict=True):
            assert_close(a, b)


# ------------------------------------------------------------------------- versions and in-place changes


def test_the_version_counter_catches_a_parameter_changed_between_forward_and_backward():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    step = ag.compile(lambda X: (Tensor(X) * w).sigmoid().sum())
    X = np.array([0.5, -1.0])
    step(X)
    step(X)
    loss = step(X)  # a replay
    with ag.no_grad():
        w -= 0.1  # an optimizer step before backward: the saved forward no longer matches w
    with pytest.raises(ag.AutogradError, match=r"changed in place after the call and before its backward"):
        loss.backward()
    step(X).backward()  # a fresh call reads the new values: fine
    s = 1 / (1 + np.exp(-(X * w.data)))
    np.testing.assert_allclose(w.grad, s * (1 - s) * X, rtol=RTOL)


def test_a_tensor_changed_in_place_inside_the_function_is_refused_at_trace_time():
    w = Tensor(np.ones(2), requires_grad=True)

    def fn(X):
        shifted = Tensor(X) * 2
        shifted += 1  # not an op: a replay would skip it
        return (shifted * w).sum()

    with pytest.raises(ag.AutogradError, match="in place"):
        ag.compile(fn)(np.ones(2))


# ------------------------------------------------------------------------- nn models


def compare_training(make_model, make_batch, loss_fn, steps: int = 5, rtol: float = RTOL) -> None:
    """Two identical models, one trained eagerly and one through ag.compile: equal at every step."""
    from autograd_nn import optim

    eager_model, compiled_model = make_model(), make_model()
    eager_opt = optim.Adam(eager_model.parameters(), lr=0.01)
    compiled_opt = optim.Adam(compiled_model.parameters(), lr=0.01)
    step = ag.compile(lambda X, labels: loss_fn(compiled_model, X, labels))
    rng = np.random.default_rng(5)
    for _ in range(steps):
        X, labels = make_batch(rng)
        eager_opt.zero_grad()
        expected = loss_fn(eager_model, X, labels)
        expected.backward()
        compiled_opt.zero_grad()
        loss = step(X, labels)
        loss.backward()
        np.testing.assert_allclose(loss.item(), expected.item(), rtol=rtol)
        for got, want in zip(compiled_model.parameters(), eager_model.parameters(), strict=True):
            np.testing.assert_allclose(got.grad, want.grad, rtol=rtol, atol=rtol * np.abs(want.grad).max())
        eager_opt.step()
        compiled_opt.step()
    assert step.traces == 1


def test_a_custom_mlp_module_trains_the_same_compiled():
    from autograd_nn import nn

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            rng = np.random.default_rng(0)
            self.hidden = nn.Linear(12, 16, rng=rng)
            self.out = nn.Linear(16, 5, rng=rng)

        def forward(self, x):
            return self.out(self.hidden(x).tanh())

    compare_training(
        MLP,
        lambda rng: (rng.standard_normal((8, 12)), rng.integers(0, 5, 8)),
        lambda model, X, labels: ag.cross_entropy(model(X), labels),
    )


def test_a_small_cnn_trains_the_same_compiled():
    from autograd_nn import nn

    def cnn():
        rng = np.random.default_rng(0)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, rng=rng),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1, rng=rng),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(24, 3, rng=rng),
        )

    compare_training(
        cnn,
        lambda rng: (rng.standard_normal((5, 1, 8, 8)), rng.integers(0, 3, 5)),
        lambda model, X, labels: ag.cross_entropy(model(X), labels),
        steps=4,
    )


def test_dropout_is_refused_rather_than_frozen():
    w = Tensor(np.ones(4), requires_grad=True)
    step = ag.compile(lambda X: ag.dropout(Tensor(X) * w, 0.5).sum())
    with pytest.raises(ag.AutogradError, match="dropout"):
        step(np.ones(4))


def test_the_program_a_compiled_function_runs_can_be_read():
    w = Tensor(np.ones(3), requires_grad=True)
    step = ag.compile(lambda X: (Tensor(X) * w).sigmoid().sum())
    step(np.ones(3))
    source = step.source()
    assert "def forward(e):" in source and "def backward(e):" in source
    assert "forward_into" in source and "vjp_into" in source  # the sigmoid's fast paths


# ------------------------------------------------------------------------- the training loop


def test_compiled_training_keeps_the_eager_history():
    from autograd_nn.digits.data import Dataset
    from autograd_nn.digits.train import train_network
    from autograd_nn.training import TrainConfig

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(1, 4), 50)
    X = (rng.standard_normal((3, 4)) * 4)[y - 1] + rng.standard_normal((len(y), 4))
    data = Dataset(X=X, y=y, source="blobs", num_labels=3)
    runs = {
        compiled: train_network(
            data, TrainConfig(hidden=(5,), epochs=6, batch_size=16, lam=0.3, compile=compiled), progress=False
        )
        for compiled in (True, False)
    }
    compiled, eager = runs[True].history, runs[False].history
    for name in ("train_cost", "heldout_cost", "train_accuracy", "heldout_accuracy"):
        np.testing.assert_allclose(getattr(compiled, name), getattr(eager, name), rtol=RTOL, err_msg=name)
    for got, want in zip(runs[True].network.parameters(), runs[False].network.parameters(), strict=True):
        np.testing.assert_allclose(got.data, want.data, rtol=1e-12, atol=1e-14)


def test_an_optimizer_step_on_a_parameter_held_through_a_view_is_caught():
    from autograd_nn.optim import Adam

    w = Tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    w_t = w.T  # made outside the function: the trace holds the view
    step = ag.compile(lambda X: (Tensor(X) @ w_t).sum())
    X = np.array([[0.5, -1.0]])
    step(X)
    step(X)
    loss = step(X)
    w.grad = np.ones_like(w.data)
    Adam([w], lr=0.1).step()  # bumps w's version, which w.T shares
    with pytest.raises(ag.AutogradError, match="changed in place"):
        loss.backward()


def test_a_compiled_method_keeps_one_program_per_instance():
    class Scaler:
        def __init__(self, scale: float) -> None:
            self.w = Tensor(np.full(2, scale), requires_grad=True)

        @ag.compile
        def loss(self, X):
            return (Tensor(X) * self.w).sum()

    a, b = Scaler(2.0), Scaler(3.0)
    for _ in range(3):
        assert a.loss(np.ones(2)).item() == 4.0
        assert b.loss(np.ones(2)).item() == 6.0
    assert Scaler.loss.traces == 2
