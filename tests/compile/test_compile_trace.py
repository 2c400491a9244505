"""ag.compile's trace: how arguments reach the function, what is computed anew from each call's
arguments (integer labels), and what a replay would freeze, refused at the trace."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.compile.graph import Graph
from autograd_nn.compile.tape import run_on_tape
from autograd_nn.compile.trace import record


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


def test_a_tensor_changed_in_place_inside_the_function_is_refused_at_trace_time():
    w = Tensor(np.ones(2), requires_grad=True)

    def fn(X):
        shifted = Tensor(X) * 2
        shifted += 1  # not an op: a replay would skip it
        return (shifted * w).sum()

    with pytest.raises(ag.AutogradError, match="in place"):
        ag.compile(fn)(np.ones(2))


def test_dropout_is_refused_rather_than_frozen():
    w = Tensor(np.ones(4), requires_grad=True)
    step = ag.compile(lambda X: ag.dropout(Tensor(X) * w, 0.5).sum())
    with pytest.raises(ag.AutogradError, match="dropout"):
        step(np.ones(4))


# ------------------------------------------------------------------ the tape and the trace alone


def traced(fn, *args) -> tuple[Graph, Tensor]:
    """``fn`` run on the tape and recorded into a graph, as the first call of a signature does."""
    result, tape, arguments, outside = run_on_tape(fn, args, {})
    graph = Graph(fn.__name__)
    wrapped = {id(a): a is not given for a, given in zip(arguments, args, strict=True)}
    record(graph, tape, result, arguments, wrapped, outside)
    return graph, result


def test_the_tape_hands_float_arrays_over_as_tensors_and_notes_which_fn_read_outside_the_ops():
    def fn(x, y, unused):
        return x * float(y.data.sum())  # y's values read outside the ops: frozen into a constant

    result, tape, arguments, outside = run_on_tape(fn, (np.ones(3), np.arange(3.0), np.zeros(3)), {})
    assert all(isinstance(a, Tensor) for a in arguments)
    assert 1 in outside.read and 2 not in outside.read
    assert [op.label() for op, *_ in tape] == ["mul"] and tape[0][2] is result


def test_the_trace_holds_leaves_by_identity_and_keeps_only_the_ops_the_result_needs():
    w = Tensor(np.ones(3), requires_grad=True)

    def fn(x):
        x * 3  # applied, but nothing the result needs
        return (x * w).sum()

    graph, _ = traced(fn, np.arange(3.0))
    assert graph.tape_labels == ["mul", "mul", "sum"]
    assert [op.label() for op, *_ in graph.nodes] == ["mul", "sum"]
    ((x_value, argument),) = graph.arg_values
    ((w_value, held),) = graph.leaf_values
    assert argument == 0 and held is w and graph.grad_leaf == {w_value: w}
    assert graph.nodes[0][1] == [x_value, w_value] and graph.result == graph.nodes[1][2]


def test_the_trace_turns_a_detached_intermediate_into_a_node_that_stops_the_gradient():
    w = Tensor(np.ones(3), requires_grad=True)

    def fn(x):
        h = x * w
        return (h * h.detach()).sum()

    graph, _ = traced(fn, np.arange(3.0))
    (stop,) = [(op, ins, out, recorded) for op, ins, out, recorded in graph.nodes if op.name == "detach"]
    h_value = graph.nodes[0][2]
    assert stop[1] == [h_value] and not stop[3]  # reads h, and carries no gradient
