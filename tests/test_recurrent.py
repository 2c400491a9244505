"""Recurrent cells and layers: PyTorch's weight names and shapes, the recurrences as written out in NumPy
below, and gradients against central differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import nn

# ---------------------------------------------------------------- the recurrences, in plain NumPy


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    return np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)


def gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    """PyTorch's GRU: gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""
    w_ir, w_iz, w_in = np.split(w_ih, 3)
    w_hr, w_hz, w_hn = np.split(w_hh, 3)
    b_ir, b_iz, b_in = np.split(b_ih, 3)
    b_hr, b_hz, b_hn = np.split(b_hh, 3)
    r = sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    n = np.tanh(x @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))
    return (1 - z) * n + z * h


def lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh):
    """PyTorch's LSTM: gates i, f, g, o."""
    h, c = state
    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, g, o = np.split(pre, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


CELLS = {"RNN": rnn_cell, "GRU": gru_cell, "LSTM": lstm_cell}


def numpy_layers(kind, params, x, h0, c0, num_layers, bidirectional, batch_first, bias=True):
    """The stacked (bi)directional recurrence, one step at a time, from a state dict of arrays."""
    if batch_first:
        x = x.transpose(1, 0, 2)
    steps, batch = x.shape[:2]
    directions = 2 if bidirectional else 1
    h_n, c_n = [], []
    for layer in range(num_layers):
        outputs = []
        for d in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
            w_ih, w_hh = params["weight_ih" + suffix], params["weight_hh" + suffix]
            rows = w_ih.shape[0]
            b_ih = params["bias_ih" + suffix] if bias else np.zeros(rows)
            b_hh = params["bias_hh" + suffix] if bias else np.zeros(rows)
            h, c = h0[layer * directions + d], c0[layer * directions + d]
            out = np.zeros((steps, batch, h.shape[-1]))
            for t in reversed(range(steps)) if d == 1 else range(steps):
                if kind == "LSTM":
                    h, c = lstm_cell(x[t], (h, c), w_ih, w_hh, b_ih, b_hh)
                else:
                    h = CELLS[kind](x[t], h, w_ih, w_hh, b_ih, b_hh)
                out[t] = h
            outputs.append(out)
            h_n.append(h)
            c_n.append(c)
        x = np.concatenate(outputs, axis=-1)
    if batch_first:
        x = x.transpose(1, 0, 2)
    return x, np.stack(h_n), np.stack(c_n)


# ---------------------------------------------------------------- names and shapes


def test_cell_state_dicts_are_pytorchs():
    expected = {
        nn.RNNCell: [("weight_ih", (5, 3)), ("weight_hh", (5, 5)), ("bias_ih", (5,)), ("bias_hh", (5,))],
        nn.GRUCell: [("weight_ih", (15, 3)), ("weight_hh", (15, 5)), ("bias_ih", (15,)), ("bias_hh", (15,))],
        nn.LSTMCell: [("weight_ih", (20, 3)), ("weight_hh", (20, 5)), ("bias_ih", (20,)), ("bias_hh", (20,))],
    }
    for cls, keys in expected.items():
        assert [(k, v.shape) for k, v in cls(3, 5).state_dict().items()] == keys
        assert [(k, v.shape) for k, v in cls(3, 5, bias=False).state_dict().items()] == keys[:2]


def test_a_two_layer_bidirectional_lstm_has_pytorchs_keys_in_pytorchs_order():
    expected = [
        ("weight_ih_l0", (16, 3)),
        ("weight_hh_l0", (16, 4)),
        ("bias_ih_l0", (16,)),
        ("bias_hh_l0", (16,)),
        ("weight_ih_l0_reverse", (16, 3)),
        ("weight_hh_l0_reverse", (16, 4)),
        ("bias_ih_l0_reverse", (16,)),
        ("bias_hh_l0_reverse", (16,)),
        ("weight_ih_l1", (16, 8)),
        ("weight_hh_l1", (16, 4)),
        ("bias_ih_l1", (16,)),
        ("bias_hh_l1", (16,)),
        ("weight_ih_l1_reverse", (16, 8)),
        ("weight_hh_l1_reverse", (16, 4)),
        ("bias_ih_l1_reverse", (16,)),
        ("bias_hh_l1_reverse", (16,)),
    ]
    model = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert [(k, v.shape) for k, v in model.state_dict().items()] == expected


def test_gru_and_rnn_layer_keys_and_no_bias():
    assert [(k, v.shape) for k, v in nn.GRU(3, 4, num_layers=2).state_dict().items()] == [
        ("weight_ih_l0", (12, 3)),
        ("weight_hh_l0", (12, 4)),
        ("bias_ih_l0", (12,)),
        ("bias_hh_l0", (12,)),
        ("weight_ih_l1", (12, 4)),
        ("weight_hh_l1", (12, 4)),
        ("bias_ih_l1", (12,)),
        ("bias_hh_l1", (12,)),
    ]
    assert list(nn.RNN(3, 4, bias=False, bidirectional=True).state_dict()) == [
        "weight_ih_l0",
        "weight_hh_l0",
        "weight_ih_l0_reverse",
        "weight_hh_l0_reverse",
    ]


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM, nn.RNNCell, nn.GRUCell, nn.LSTMCell])
def test_default_init_is_uniform_within_one_over_sqrt_hidden(cls):
    ag.nn.init.manual_seed(0)
    model = cls(10, 25)
    bound = 1 / np.sqrt(25)
    values = np.concatenate([p.data.ravel() for p in model.parameters()])
    assert values.min() >= -bound and values.max() < bound
    assert values.min() < -0.9 * bound and values.max() > 0.9 * bound  # spread over the whole interval
    ag.nn.init.manual_seed(0)
    again = cls(10, 25)
    assert all(np.array_equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))


def test_a_state_dict_of_plain_arrays_loads_as_is():
    source = nn.GRU(3, 4, num_layers=2, bidirectional=True, rng=1)
    target = nn.GRU(3, 4, num_layers=2, bidirectional=True, rng=2)
    target.load_state_dict({k: v.copy() for k, v in source.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    np.testing.assert_array_equal(target(x)[0].data, source(x)[0].data)


# ---------------------------------------------------------------- against the NumPy definitions


def arrays(model) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_compute_their_numpy_definition(kind, with_state, bias):
    rng = np.random.default_rng(3)
    cell = getattr(nn, kind + "Cell")(3, 4, bias=bias, rng=0)
    p = arrays(cell)
    b_ih, b_hh = (p["bias_ih"], p["bias_hh"]) if bias else (np.zeros(len(p["weight_ih"])),) * 2
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    if not with_state:
        h, c = np.zeros((2, 4)), np.zeros((2, 4))
    if kind == "LSTM":
        want = lstm_cell(x, (h, c), p["weight_ih"], p["weight_hh"], b_ih, b_hh)
        got = cell(x, (h, c) if with_state else None)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g.data, w, rtol=1e-13, atol=1e-14)
    else:
        want = CELLS[kind](x, h, p["weight_ih"], p["weight_hh"], b_ih, b_hh)
        np.testing.assert_allclose(cell(x, h if with_state else None).data, want, rtol=1e-13, atol=1e-14)


def test_rnn_cell_with_relu_and_an_unbatched_input():
    cell = nn.RNNCell(3, 4, nonlinearity="relu", rng=0)
    p = arrays(cell)
    x, h = np.random.default_rng(0).normal(size=3), np.random.default_rng(1).normal(size=4)
    got = cell(x, h)
    assert got.shape == (4,)
    want = rnn_cell(x, h, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], "relu")
    np.testing.assert_allclose(got.data, want, rtol=1e-13)


LAYER_CASES = [
    # num_layers, bidirectional, batch_first
    (1, False, False),
    (1, False, True),
    (2, False, False),
    (1, True, True),
    (2, True, False),
    (2, True, True),
]


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize(("num_layers", "bidirectional", "batch_first"), LAYER_CASES)
@pytest.mark.parametrize("with_state", [False, True])
def test_layers_compute_their_numpy_definition(kind, num_layers, bidirectional, batch_first, with_state):
    rng = np.random.default_rng(7)
    model = getattr(nn, kind)(
        3, 4, num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional, rng=0
    )
    directions = 2 if bidirectional else 1
    x = rng.normal(size=(2, 5, 3) if batch_first else (5, 2, 3))
    h0 = (
        rng.normal(size=(num_layers * directions, 2, 4))
        if with_state
        else np.zeros((num_layers * directions, 2, 4))
    )
    c0 = rng.normal(size=h0.shape) if with_state else np.zeros(h0.shape)
    want, want_h, want_c = numpy_layers(
        kind, arrays(model), x, h0, c0, num_layers, bidirectional, batch_first
    )
    hx = ((h0, c0) if kind == "LSTM" else h0) if with_state else None
    output, state = model(x, hx)
    assert output.shape == ((2, 5, 4 * directions) if batch_first else (5, 2, 4 * directions))
    np.testing.assert_allclose(output.data, want, rtol=1e-12, atol=1e-13)
    h_n = state[0] if kind == "LSTM" else state
    assert h_n.shape == (num_layers * directions, 2, 4)
    np.testing.assert_allclose(h_n.data, want_h, rtol=1e-12, atol=1e-13)
    if kind == "LSTM":
        np.testing.assert_allclose(state[1].data, want_c, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_layers_without_bias_and_relu(kind):
    extra = {"nonlinearity": "relu"} if kind == "RNN" else {}
    model = getattr(nn, kind)(3, 4, bias=False, **extra, rng=0)
    x = np.random.default_rng(0).normal(size=(4, 2, 3))
    zeros = np.zeros((1, 2, 4))
    params = arrays(model)
    if kind == "RNN":  # the NumPy runner knows only tanh: write the relu recurrence here
        h = zeros[0]
        for t in range(4):
            h = rnn_cell(x[t], h, params["weight_ih_l0"], params["weight_hh_l0"], 0, 0, "relu")
        want_h = h
    else:
        _, want_h, _ = numpy_layers(kind, params, x, zeros, zeros, 1, False, False, bias=False)
        want_h = want_h[0]
    state = model(x)[1]
    np.testing.assert_allclose(
        (state[0] if kind == "LSTM" else state).data[0], want_h, rtol=1e-12, atol=1e-13
    )


def test_batch_first_is_the_same_computation_on_swapped_axes():
    x = np.random.default_rng(0).normal(size=(6, 3, 2))  # (T, N, I)
    time_major = nn.LSTM(2, 3, num_layers=2, bidirectional=True, rng=5)
    batch_major = nn.LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True, rng=5)
    out_t, (h_t, c_t) = time_major(x)
    out_b, (h_b, c_b) = batch_major(x.transpose(1, 0, 2))
    np.testing.assert_allclose(out_b.data, out_t.data.transpose(1, 0, 2), rtol=1e-14)
    np.testing.assert_allclose(h_b.data, h_t.data, rtol=1e-14)  # states are (layers * D, N, H) both ways
    np.testing.assert_allclose(c_b.data, c_t.data, rtol=1e-14)


@pytest.mark.parametrize("batch_first", [False, True])
def test_an_unbatched_sequence_is_a_batch_of_one(batch_first):
    model = nn.GRU(3, 4, num_layers=2, batch_first=batch_first, rng=0)
    x = np.random.default_rng(0).normal(size=(5, 3))
    output, h_n = model(x)
    assert output.shape == (5, 4) and h_n.shape == (2, 4)
    batched = x[None] if batch_first else x[:, None]
    out_b, h_b = model(batched)
    np.testing.assert_allclose(output.data, out_b.data[0] if batch_first else out_b.data[:, 0], rtol=1e-14)
    np.testing.assert_allclose(h_n.data, h_b.data[:, 0], rtol=1e-14)


def test_dropout_between_layers_only_in_training_mode():
    model = nn.RNN(3, 4, num_layers=2, dropout=0.5, rng=0)
    plain = nn.RNN(3, 4, num_layers=2, rng=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    assert not np.allclose(model(x)[0].data, plain(x)[0].data)
    model.eval()
    np.testing.assert_array_equal(model(x)[0].data, plain(x)[0].data)


def test_wrong_shapes_are_clear_errors():
    with pytest.raises(
        ValueError, match=r"LSTM: input must be \(seq, batch, features\).*3 features.*\(5, 2, 4\)"
    ):
        nn.LSTM(3, 4)(np.zeros((5, 2, 4)))
    with pytest.raises(
        ValueError, match=r"GRU: an initial state must have shape \(num_layers \* directions = 2"
    ):
        nn.GRU(3, 4, bidirectional=True)(np.zeros((5, 2, 3)), np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"GRUCell: input must have shape \(batch, 3\)"):
        nn.GRUCell(3, 4)(np.zeros((2, 5)))


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_cell_gradients(kind):
    rng = np.random.default_rng(0)
    cell = getattr(nn, kind + "Cell")(3, 2, rng=1)
    x = ag.Tensor(rng.normal(size=(2, 3)), requires_grad=True)
    h = ag.Tensor(rng.normal(size=(2, 2)), requires_grad=True)
    c = ag.Tensor(rng.normal(size=(2, 2)), requires_grad=True)
    weights = rng.normal(size=(2, 2))

    def loss(x, h, c):
        if kind == "LSTM":
            new_h, new_c = cell(x, (h, c))
            return (new_h * weights).sum() + (new_c * new_c).sum()
        return (cell(x, h) * weights).sum() + 0 * c.sum()

    assert ag.gradcheck(loss, x, h, c, wrt=list(cell.parameters()))


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize(("num_layers", "bidirectional", "batch_first"), [(1, False, False), (2, True, True)])
def test_layer_gradients(kind, num_layers, bidirectional, batch_first):
    rng = np.random.default_rng(0)
    model = getattr(nn, kind)(
        2, 2, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, rng=1
    )
    directions = 2 if bidirectional else 1
    shape = (2, 3) if batch_first else (3, 2)  # batch 2, sequence 3
    x = ag.Tensor(rng.normal(size=(*shape, 2)), requires_grad=True)
    h0 = ag.Tensor(rng.normal(size=(num_layers * directions, 2, 2)), requires_grad=True)
    c0 = ag.Tensor(rng.normal(size=(num_layers * directions, 2, 2)), requires_grad=True)
    weights = rng.normal(size=(*shape, 2 * directions))

    def loss(x, h0, c0):
        if kind == "LSTM":
            output, (h_n, c_n) = model(x, (h0, c0))
            return (output * weights).sum() + (h_n * h_n).sum() + c_n.sum()
        output, h_n = model(x, h0)
        return (output * weights).sum() + (h_n * h_n).sum() + 0 * c0.sum()

    assert ag.gradcheck(loss, x, h0, c0, wrt=list(model.parameters()))


def test_gradients_from_a_zero_initial_state():
    """Without hx the first step skips the hidden matmul: gradients still reach every weight."""
    rng = np.random.default_rng(0)
    model = nn.GRU(2, 3, rng=1)
    x = ag.Tensor(rng.normal(size=(4, 2, 2)), requires_grad=True)
    assert ag.gradcheck(lambda x: (model(x)[0] ** 2).sum(), x, wrt=list(model.parameters()))


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 7, 10, 16])
@pytest.mark.parametrize("axis", [0, 1])
def test_the_time_slices_taken_in_two_levels_are_the_steps_and_pass_gradients_back(steps, axis):
    from autograd_nn.nn.recurrent_steps import _time_steps

    rng = np.random.default_rng(steps)
    shape = (steps, 2, 3) if axis == 0 else (2, steps, 3)
    xw = ag.Tensor(rng.normal(size=shape), requires_grad=True)
    pieces = _time_steps(xw, axis)
    assert len(pieces) == steps
    weights = rng.normal(size=(steps, 2, 3))
    for t, piece in enumerate(pieces):
        np.testing.assert_array_equal(piece.data, np.take(xw.data, t, axis=axis))
    sum((piece * w).sum() for piece, w in zip(pieces, weights, strict=True)).backward()
    np.testing.assert_array_equal(xw.grad, weights if axis == 0 else weights.transpose(1, 0, 2))


def test_the_docs_block_runs():
    """The docs' recurrent example (after '<!-- example: recurrent -->'), run as written."""
    from docs_pages import example

    exec(compile(example("recurrent"), "docs (recurrent example)", "exec"), {})


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_second_derivatives_through_a_layer(kind):
    """Built from ops whose VJPs record under create_graph: a Hessian-vector product agrees with central
    differences of the gradient."""
    rng = np.random.default_rng(0)
    model = getattr(nn, kind)(2, 2, batch_first=True, rng=1)
    x, v = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2))

    def loss(x):
        return (model(x)[0] ** 2).sum()

    def gradient(x):
        return ag.vjp(loss, x, np.array(1.0))[1]

    _, hv = ag.hvp(loss, x, v)
    eps = 1e-5
    numeric = (gradient(x + eps * v) - gradient(x - eps * v)) / (2 * eps)
    assert np.abs(hv).max() > 1e-2  # a curvature to compare, not zeros
    np.testing.assert_allclose(hv, numeric, rtol=1e-6, atol=1e-8)
