"""Integer-label losses under ``ag.compile``: a replay gives what eager mode gives for each call's labels.

The op ``cross_entropy`` and ``nll_loss`` apply does not depend on the labels' values, so a function traced
on a batch without ignored labels replays correctly on one with them (and the other way round); each
replay checks the labels as eager mode does (a label outside 0..K-1 is a clear ValueError, never an index
from the end); labels that happen to equal arange(N) are labels like any other. Each compiled value and
gradient is compared with eager mode and with the loss written out in NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor

DTYPES = [np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16, np.uint32]
SIGNED = [d for d in DTYPES if np.dtype(d).kind == "i"]


def numpy_cross_entropy(logits, labels, ignore_index=-100, smoothing=0.0):
    """PyTorch's mean cross-entropy with ignore_index and label_smoothing, written out in NumPy."""
    log_p = logits - logits.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    labels = labels.astype(np.int64)
    kept = labels != ignore_index
    picked = np.take_along_axis(log_p, np.where(kept, labels, 0)[..., None], -1)[..., 0]
    per_row = -(1 - smoothing) * picked - smoothing / logits.shape[-1] * log_p.sum(-1)
    return np.where(kept, per_row, 0.0).sum() / kept.sum()


class Model:
    """logits = x @ W.T for K classes, and the loss of fn(logits, labels), compiled and eager."""

    def __init__(self, classes: int, loss, features: int = 5, rows: int = 6) -> None:
        rng = np.random.default_rng(classes)
        self.W = Tensor(rng.standard_normal((classes, features)), requires_grad=True)
        self.X = rng.standard_normal((rows, features))
        self.loss = loss
        self.step = ag.compile(self.eager)

    def eager(self, x, labels):
        return self.loss(x @ self.W.T, labels)

    def value_and_grad(self, fn, labels):
        self.W.grad = None
        value = fn(self.X if fn is self.step else Tensor(self.X), labels)
        value.backward()
        return value.item(), self.W.grad

    def check(self, labels, **numpy_kwargs):
        """Compiled and eager agree in value and gradient; the value is the NumPy definition's."""
        compiled, compiled_grad = self.value_and_grad(self.step, labels)
        eager, eager_grad = self.value_and_grad(self.eager, labels)
        assert compiled == pytest.approx(eager, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(compiled_grad, eager_grad, rtol=1e-12, atol=1e-15)
        want = numpy_cross_entropy(self.X @ self.W.data.T, labels, **numpy_kwargs)
        assert compiled == pytest.approx(want, rel=1e-12)


def batches(classes: int, dtype, ignore_index: int, rows: int = 6) -> list[np.ndarray]:
    """Labels without ignored rows, twice (the trace and the second call's check), then with ignored rows,
    without, with other ignored rows, and without again: every later one is a replay."""
    rng = np.random.default_rng(7)

    def labels(ignored=()):
        drawn = rng.integers(0, classes, size=rows)
        if ignore_index in range(classes):  # an ignored class: keep it out of the rows not ignored
            drawn[drawn == ignore_index] = (ignore_index + 1) % classes
        drawn = drawn.astype(np.int64)
        drawn[list(ignored)] = ignore_index
        return drawn.astype(dtype)

    return [labels(), labels(), labels([1]), labels(), labels([0, 3, 5]), labels()]


@pytest.mark.parametrize("classes", [3, 120])
@pytest.mark.parametrize("dtype", SIGNED)
def test_ignored_labels_come_and_go_between_replays(classes, dtype):
    model = Model(classes, ag.cross_entropy)
    for labels in batches(classes, dtype, ignore_index=-100):
        model.check(labels)
    assert model.step.traces == 1 and model.step.replays == 4


@pytest.mark.parametrize("classes", [3, 120])
@pytest.mark.parametrize("dtype", DTYPES)
def test_an_ignore_index_that_is_a_class_or_the_dtypes_largest_value(classes, dtype):
    for ignore_index in (0, int(np.iinfo(dtype).max)):  # (0: a padding class; the largest: past every class)

        def loss(logits, labels, ignore_index=ignore_index):
            return ag.cross_entropy(logits, labels, ignore_index=ignore_index)

        model = Model(classes, loss)
        for labels in batches(classes, dtype, ignore_index):
            model.check(labels, ignore_index=ignore_index)
        assert model.step.traces == 1 and model.step.replays == 4


@pytest.mark.parametrize("classes", [3, 120])
@pytest.mark.parametrize("smoothing", [0.1, 1.0])
def test_label_smoothing_with_and_without_ignored_rows(classes, smoothing):
    model = Model(classes, lambda logits, labels: ag.cross_entropy(logits, labels, label_smoothing=smoothing))
    for labels in batches(classes, np.int64, ignore_index=-100):
        model.check(labels, smoothing=smoothing)
    assert model.step.traces == 1 and model.step.replays == 4


@pytest.mark.parametrize("start", ["with", "without"])
def test_sequence_labels_with_padding_traced_with_or_without_it(start):
    """(batch, time) labels of a sequence model, where -100 marks padding."""
    W = Tensor(np.random.default_rng(3).standard_normal((27, 4)), requires_grad=True)
    x = np.random.default_rng(4).standard_normal((2, 5, 4))
    step = ag.compile(lambda x, labels: ag.cross_entropy(x @ W.T, labels, label_smoothing=0.05))
    padded = np.array([[3, 26, 0, -100, -100], [1, 2, 3, 4, 5]])
    full = np.array([[7, 7, 0, 26, 1], [5, 4, 3, 2, 1]])
    calls = [padded, padded, full, padded, full] if start == "with" else [full, full, padded, full, padded]
    for labels in calls:
        W.grad = None
        compiled = step(x, labels)
        compiled.backward()
        compiled_grad = W.grad
        want = numpy_cross_entropy(x @ W.data.T, labels, smoothing=0.05)
        assert compiled.item() == pytest.approx(want, rel=1e-12)
        W.grad = None
        ag.cross_entropy(Tensor(x) @ W.T, labels, label_smoothing=0.05).backward()
        np.testing.assert_allclose(compiled_grad, W.grad, rtol=1e-12)
    assert step.traces == 1


LOSSES = {
    "cross_entropy": (ag.cross_entropy, 0.0),
    "nll_loss": (lambda logits, labels: ag.nll_loss(logits.log_softmax(), labels), 0.0),
    "smoothed": (lambda logits, labels: ag.cross_entropy(logits, labels, label_smoothing=0.2), 0.2),
}


@pytest.mark.parametrize("loss", list(LOSSES))
def test_labels_equal_to_arange_are_labels_like_any_other(loss):
    """The op's row grid is no array compile inspects: labels [0, 1, 2, 3] for 4 rows are not refused."""
    fn, smoothing = LOSSES[loss]
    model = Model(4, fn, rows=4)
    for labels in [np.arange(4), np.arange(4), np.array([3, 1, 0, 0]), np.arange(4), np.array([3, 2, 1, 0])]:
        model.check(labels, smoothing=smoothing)
    assert model.step.traces == 1 and model.step.replays == 3


@pytest.mark.parametrize("classes", [3, 120])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_a_label_out_of_range_in_a_replay_is_the_eager_error(classes, dtype, loss):
    fn, smoothing = LOSSES[loss]
    model = Model(classes, fn)
    good = ((np.arange(6) * 5 + 1) % classes).astype(dtype)
    model.check(good, smoothing=smoothing)
    model.check(good[::-1].copy(), smoothing=smoothing)
    limits = np.iinfo(dtype)
    bad_values = [classes, int(limits.max)]
    if limits.min < 0:
        bad_values += [-1, -classes, int(limits.min)] + (
            [-100] if loss == "nll_loss" else []
        )  # (-100: ignored)
    name = "nll_loss" if loss == "nll_loss" else "cross_entropy"
    for bad in bad_values:
        labels = good.copy()
        labels[2] = bad
        message = (
            rf"^{name}: labels must be in 0\.\.{classes - 1} \(inputs of shape \(6, {classes}\) have {classes} "
            rf"classes\), got {bad} at index \(2,\)$"
        )
        with pytest.raises(ValueError, match=message):
            model.eager(Tensor(model.X), labels)  # what eager mode says
        with pytest.raises(ValueError, match=message):
            model.step(model.X, labels)  # and the replay, rather than indexing with the label
        model.check(good, smoothing=smoothing)  # the program still replays
    assert model.step.traces == 1


def test_ignored_rows_and_smoothing_gradients_first_and_second_order():
    """The one op's VJP for every reduction, ignored rows and a smoothing, against central differences, and
    the VJP it records under create_graph too."""
    labels = np.array([[1, 0, 2], [0, 2, 0]])  # ignore_index=0 ignores three rows
    rng = np.random.default_rng(5)
    projection = rng.standard_normal((2, 3))
    for reduction in ("mean", "sum", "none"):

        def loss(z, reduction=reduction):
            value = ag.cross_entropy(z, labels, reduction=reduction, ignore_index=0, label_smoothing=0.3)
            return (value * projection).sum() if reduction == "none" else value * 1.5

        z = Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
        assert ag.gradcheck(loss, z)

        def gradient_norm(z, loss=loss):
            with ag.enable_grad():  # (gradcheck evaluates under no_grad)
                (g,) = ag.grad(loss(z * z), [z], create_graph=True)
                return (g * g).sum()

        assert ag.gradcheck(gradient_norm, z)


def test_backward_through_an_older_result_uses_its_own_ignored_rows():
    """A later call reuses the program's buffers; the older result's backward replays its forward, and with
    it finds its own ignored rows again (they are no constant of the program)."""
    model = Model(5, lambda logits, labels: ag.cross_entropy(logits, labels, label_smoothing=0.1))
    plain, padded = np.array([0, 1, 4, 3, 2, 2]), np.array([0, -100, 4, -100, 2, 2])
    model.step(model.X, plain)
    model.step(model.X, plain)
    for first, second in [(padded, plain), (plain, padded)]:
        older = model.step(model.X, first)
        model.step(model.X, second)  # (its values now fill the buffers)
        model.W.grad = None
        older.backward()
        compiled_grad = model.W.grad
        _, eager_grad = model.value_and_grad(model.eager, first)
        np.testing.assert_allclose(compiled_grad, eager_grad, rtol=1e-12)
    assert model.step.traces == 1


@pytest.mark.parametrize("classes", [3, 120])
def test_check_true_agrees_with_eager_as_ignored_rows_come_and_go(classes):
    W = Tensor(np.random.default_rng(2).standard_normal((classes, 5)), requires_grad=True)
    X = np.random.default_rng(3).standard_normal((6, 5))
    step = ag.compile(lambda x, labels: ag.cross_entropy(x @ W.T, labels), check=True)
    for labels in batches(classes, np.int64, ignore_index=-100):
        assert step(X, labels).item() == pytest.approx(numpy_cross_entropy(X @ W.data.T, labels), rel=1e-12)


@pytest.mark.parametrize("bad", [-1, -27, 27])
def test_a_compiled_embedding_refuses_an_out_of_range_id_in_a_replay_as_eager_does(bad):
    rng = np.random.default_rng(0)
    table = ag.Tensor(rng.normal(size=(27, 4)), requires_grad=True)
    step = ag.compile(lambda ids: ag.embedding(ids, table).sum())
    good = np.array([[0, 5], [26, 3]])
    assert step(good).item() == pytest.approx(ag.embedding(good, table).sum().item())
    step(good)
    ids = np.array([[0, bad], [26, 3]])
    with pytest.raises(IndexError, match=f"embedding: index {bad} is out of range for 27 rows"):
        ag.embedding(ids, table)
    with pytest.raises(IndexError, match=f"index {bad} is out of range for 27 rows"):
        step(ids)
