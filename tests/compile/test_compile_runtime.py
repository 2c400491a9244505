"""ag.compile's replay: a compiled function computes what eager mode computes, call after call, into
buffers the caller never sees (the tutorial network, random programs, modes, threads, nn models, training)."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from compile_helpers import RTOL, assert_close, clear, gradients, one_hot_batch
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.digits.network import Network
from autograd_nn.optim import Adam


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
