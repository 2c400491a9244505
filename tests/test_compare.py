"""compare_gradients: a hand-derived backprop against autodiff, with each kind of mistake a learner makes.

The hand backprop below is the tutorial's, in the tutorial's conventions: delta3 = h - y and
delta2 = delta3 @ theta2 * a2 * (1 - a2) are m times d(J)/d(z3) and d(J)/d(z2), which the
comparison is told with ``scale=``; the parameter gradients are divided by m.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.checking.compare import _close_to_largest, classify
from autograd_nn.digits.network import Network
from autograd_nn.digits.reference import sigmoid

M = 12  # examples in the batch


def problem(sizes=(6, 5, 4), m=M, seed=0):
    rng = np.random.default_rng(seed)
    net = Network(list(sizes), seed=seed)
    X = rng.standard_normal((m, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)]
    return net, X, Y


def tutorial_backprop(net, X, Y, mistake=None):
    """The tutorial's backprop for a one-hidden-layer net, with one planted mistake (or none)."""
    (theta1, b1), (theta2, b2) = net.arrays()
    m = X.shape[0]
    a2 = sigmoid(X @ theta1.T + b1)
    h = sigmoid(a2 @ theta2.T + b2)
    delta3 = Y - h if mistake == "sign" else h - Y
    delta2 = delta3 @ theta2 if mistake == "sigmoid derivative" else delta3 @ theta2 * a2 * (1 - a2)
    per_example = 1 if mistake == "missing 1/m" else m
    grads = {
        "z3": delta3,
        "theta2": (a2.T @ delta3 if mistake == "transpose" else delta3.T @ a2) / per_example,
        "b2": delta3.sum(axis=0) / per_example,
        "z2": delta2,
        "theta1": delta2.T @ X / per_example,
        "b1": np.zeros_like(b1) if mistake == "missing bias" else delta2.sum(axis=0) / per_example,
    }
    if mistake == "nan":
        grads["theta1"][1, 2] = np.nan
    return grads


def compare(net, X, Y, mistake=None, **options):
    grads = tutorial_backprop(net, X, Y, mistake)
    m = X.shape[0]
    return ag.compare_gradients(net.cost(X, Y), grads, scale={"z3": 1 / m, "z2": 1 / m}, **options)


def verdicts(report):
    return {row.name: row.verdict for row in report.rows}


# ---------------------------------------------------------------- right backprop


def test_the_right_backprop_agrees_everywhere_nearest_the_loss_first():
    net, X, Y = problem()
    report = compare(net, X, Y)
    assert report.ok and report.first_mismatch is None
    assert [row.name for row in report.rows] == ["z3", "b2", "theta2", "z2", "b1", "theta1"]
    assert all(row.relative_error < 1e-14 for row in report.rows)
    assert report.num_examples == M  # the rows of X, the graph's largest input
    assert "All 6 gradients agree with autodiff." in str(report)
    report.raise_for_mismatch()  # does not raise


def test_intermediates_are_found_by_name_though_nothing_holds_them():
    net, X, Y = problem()
    J = net.cost(X, Y)  # z2, a2, z3 exist only as recorded nodes now
    J.backward()  # a backward pass first leaves the graph as it was
    report = ag.compare_gradients(J, {"z2": tutorial_backprop(net, X, Y)["z2"] / M})
    assert verdicts(report) == {"z2": "ok"}


def test_tensors_can_be_keys_and_unnamed_ones_are_labelled_by_shape():
    x = Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    hidden = x.tanh()
    loss = (hidden * hidden).sum()
    right = 2 * hidden.data
    report = ag.compare_gradients(loss, {hidden: right, x: right * (1 - hidden.data**2)})
    assert [row.verdict for row in report.rows] == ["ok", "ok"]
    assert [row.name for row in report.rows] == ["unnamed (2, 3)", "unnamed (2, 3)"]


# ---------------------------------------------------------------- each kind of mistake


def test_sign_of_delta3_is_a_sign_verdict_at_z3_first():
    net, X, Y = problem()
    report = compare(net, X, Y, "sign")
    assert report.first_mismatch.name == "z3"
    assert report.first_mismatch.verdict == "sign"
    assert set(verdicts(report).values()) == {"sign"}  # everything below is computed from delta3
    assert report["z3"].relative_error == pytest.approx(1.0)  # finite for a sign flip
    assert report["z3"].factor is None
    assert not report.ok


def test_a_missing_1_over_m_is_a_scale_of_m_named_as_such():
    net, X, Y = problem()
    report = compare(net, X, Y, "missing 1/m")
    assert verdicts(report) == {
        "z3": "ok",
        "b2": "scale",
        "theta2": "scale",
        "z2": "ok",
        "b1": "scale",
        "theta1": "scale",
    }
    first = report.first_mismatch
    assert first.name == "b2"
    assert first.factor == pytest.approx(M, rel=1e-9)
    assert "missing 1/m" in first.note
    assert "12 (= m)" in str(report)


def test_dividing_by_m_twice_is_a_scale_of_1_over_m():
    net, X, Y = problem()
    grads = tutorial_backprop(net, X, Y)
    report = ag.compare_gradients(net.cost(X, Y), {"theta2": grads["theta2"] / M})
    assert report["theta2"].verdict == "scale"
    assert report["theta2"].factor == pytest.approx(1 / M)
    assert "(= 1/m)" in str(report)


def test_an_explicit_number_of_examples_overrides_the_inferred_one():
    net, X, Y = problem()
    grads = tutorial_backprop(net, X, Y, "missing 1/m")
    report = ag.compare_gradients(net.cost(X, Y), {"b2": grads["b2"]}, num_examples=5)
    assert report.num_examples == 5
    assert "(= m)" not in str(report) and report["b2"].factor == pytest.approx(M)


def test_a_transposed_weight_gradient_is_a_transpose_verdict():
    net, X, Y = problem()
    report = compare(net, X, Y, "transpose")
    assert report.first_mismatch.name == "theta2"
    assert report.first_mismatch.verdict == "transpose"
    assert [r.name for r in report.rows if r.verdict != "ok"] == ["theta2"]


def test_a_transposed_square_weight_gradient_is_a_transpose_verdict():
    net, X, Y = problem(sizes=(6, 4, 4))  # theta2 is 4 x 4: same shape, transposed values
    report = compare(net, X, Y, "transpose")
    assert report["theta2"].verdict == "transpose"
    assert np.isfinite(report["theta2"].relative_error) and report["theta2"].relative_error > 0.01


def test_a_missing_sigmoid_derivative_is_a_mismatch_first_at_z2():
    net, X, Y = problem()
    report = compare(net, X, Y, "sigmoid derivative")
    assert verdicts(report) == {
        "z3": "ok",
        "b2": "ok",
        "theta2": "ok",
        "z2": "mismatch",
        "b1": "mismatch",
        "theta1": "mismatch",
    }
    assert report.first_mismatch.name == "z2"
    assert report.first_mismatch.factor is None
    assert "First mismatch: z2 (mismatch" in str(report)


def test_nan_is_a_nonfinite_verdict_at_its_index():
    net, X, Y = problem()
    report = compare(net, X, Y, "nan")
    row = report.first_mismatch
    assert (row.name, row.verdict, row.worst_index) == ("theta1", "nonfinite", (1, 2))
    assert "1 of 30 values are NaN or inf" in row.note


def test_a_missing_bias_gradient_is_a_mismatch_saying_all_zeros():
    net, X, Y = problem()
    report = compare(net, X, Y, "missing bias")
    assert report.first_mismatch.name == "b1"
    assert report.first_mismatch.verdict == "mismatch"
    assert "all zeros" in report.first_mismatch.note
    assert report["b1"].relative_error == pytest.approx(1.0)


def test_a_wrong_shape_is_a_shape_verdict():
    net, X, Y = problem()
    report = ag.compare_gradients(net.cost(X, Y), {"b1": np.zeros((5, 1))})
    assert report["b1"].verdict == "shape"
    assert "(5, 1)" in report["b1"].note


def test_parameters_without_an_array_are_listed_as_not_compared():
    net, X, Y = problem()
    grads = tutorial_backprop(net, X, Y)
    report = ag.compare_gradients(net.cost(X, Y), {"theta2": grads["theta2"]})
    assert "Not compared (no array given): b2, b1, theta1" in str(report)


# ---------------------------------------------------------------- the printed report and its forms


def test_the_printed_report_is_an_aligned_table_and_one_sentence():
    net, X, Y = problem()
    text = str(compare(net, X, Y, "sign"))
    lines = text.splitlines()
    assert lines[0] == f"gradients compared with autodiff (m = {M} examples)"
    header, rows, sentence = lines[1], lines[2:8], lines[8]
    column = header.index("verdict")
    assert all(line[column:].startswith("sign") for line in rows)
    assert [line.split()[0] for line in rows] == ["z3", "b2", "theta2", "z2", "b1", "theta1"]
    assert sentence.startswith("First mismatch: z3 (sign")
    assert "The gradients of b2, theta2, z2, b1, theta1 are computed from it" in sentence
    assert len(lines) == 9


def test_the_sentence_names_exactly_the_rows_computed_from_the_first_mismatch():
    net, X, Y = problem()
    assert compare(net, X, Y, "sigmoid derivative").computed_from_first == ["b1", "theta1"]
    leaf_first = compare(net, X, Y, "missing 1/m")  # b2 is a parameter: nothing is computed from it
    assert leaf_first.computed_from_first == []
    assert "theta2, b1, theta1 also disagree, though not computed from it" in str(leaf_first)


def test_to_frame_has_one_row_per_tensor():
    net, X, Y = problem()
    frame = compare(net, X, Y, "missing 1/m").to_frame()
    assert list(frame["name"]) == ["z3", "b2", "theta2", "z2", "b1", "theta1"]
    assert list(frame.columns[:7]) == [
        "name",
        "shape",
        "verdict",
        "relative_error",
        "max_abs_error",
        "worst_index",
        "factor",
    ]
    assert frame.loc[frame["name"] == "theta2", "factor"].item() == pytest.approx(M)


def test_in_jupyter_the_report_is_an_html_table_coloured_by_verdict_with_the_sentence():
    net, X, Y = problem()
    report = compare(net, X, Y, "sigmoid derivative")
    page = ET.fromstring(report._repr_html_())  # well-formed: every name and note escaped
    assert page.find("p/b").text == f"gradients compared with autodiff (m = {M} examples)"
    assert [th.text for th in page.iter("th")][:3] == ["tensor", "shape", "verdict"]
    rows = page.findall("table/tbody/tr")
    assert [[td.text for td in tr][:3] for tr in rows] == [
        [r.name, str(r.shape), r.verdict] for r in report.rows
    ]
    assert [tr.get("class") for tr in rows] == [f"verdict-{v}" for v in ["ok"] * 3 + ["mismatch"] * 3]
    assert ["#1a7f1a" in tr[2].get("style") for tr in rows] == [True] * 3 + [False] * 3  # green, then red
    assert ["bold" in (tr.get("style") or "") for tr in rows] == [False] * 3 + [
        True,
        False,
        False,
    ]  # z2 first
    assert page.findall("p")[-1].text == report.summary()
    assert "All 6 gradients agree" in compare(net, X, Y)._repr_html_()


def test_raise_for_mismatch_is_an_assertion_error_holding_the_table():
    net, X, Y = problem()
    report = compare(net, X, Y, "sigmoid derivative")
    with pytest.raises(AssertionError) as info:
        report.raise_for_mismatch()
    assert isinstance(info.value, ag.GradientMismatchError)
    assert isinstance(info.value, ag.AutogradError)
    assert str(report) == str(info.value)


# ---------------------------------------------------------------- central differences


def test_numeric_adds_central_differences_for_leaves_only():
    net, X, Y = problem()
    report = compare(net, X, Y, numeric=True)
    assert report.ok
    for row in report.rows:
        if row.name.startswith("z"):
            assert row.numeric_relative_error is None
        else:
            assert row.numeric_relative_error < 1e-7
    assert "vs central diff." in str(report)


def test_numeric_uses_random_directions_for_big_leaves():
    rng = np.random.default_rng(0)
    w = Tensor(rng.standard_normal(1500), requires_grad=True, name="w")
    loss = (w.tanh() * w).sum()
    right = np.tanh(w.data) + w.data * (1 - np.tanh(w.data) ** 2)
    report = ag.compare_gradients(loss, {"w": right}, numeric=True)
    assert report.ok and report["w"].numeric_relative_error < 1e-7


class WrongSquare(ag.ops.Op):
    """x**2 whose VJP forgets the 2: autodiff itself is wrong here."""

    __slots__ = ()
    name = "wrong_square"

    def forward(self, x):
        return x**2

    def vjp(self, g, out, x):
        return (g * x,)


def test_numeric_catches_autodiff_itself_being_wrong():
    from autograd_nn.tensor import apply

    x = Tensor([1.0, -2.0, 0.5], requires_grad=True, name="x")
    loss = apply(WrongSquare(), x).sum()
    report = ag.compare_gradients(loss, {"x": x.data.copy()}, numeric=True)  # agrees with the wrong VJP
    assert report["x"].verdict == "ok"
    assert report["x"].numeric_relative_error == pytest.approx(1 / 3)
    assert not report.ok
    assert "disagrees with central differences for x" in str(report)
    with pytest.raises(ag.GradientMismatchError):
        report.raise_for_mismatch()


def test_numeric_checks_a_float32_model_in_float64():
    _net, X, Y = problem()
    net32 = Network([6, 5, 4], seed=0, dtype=np.float32)
    report = compare(net32, X.astype(np.float32), Y.astype(np.float32), numeric=True, rtol=1e-4)
    assert report.ok, str(report)
    assert all(r.numeric_relative_error < 1e-4 for r in report.rows if r.numeric_relative_error is not None)
    assert net32.dtype == np.float32  # the model was not changed


# ---------------------------------------------------------------- bad keys


def test_an_unknown_name_lists_the_names_that_exist():
    net, X, Y = problem()
    with pytest.raises(ag.AutogradError) as info:
        ag.compare_gradients(net.cost(X, Y), {"delta3": np.zeros((M, 4))})
    message = str(info.value)
    assert "no tensor named 'delta3'" in message
    for name in ("J", "z3", "a2", "z2", "theta1", "b1", "theta2", "b2"):
        assert re.search(rf"\b{name}\b", message)


def test_a_name_that_needs_no_gradient_is_an_error_saying_so():
    net, X, Y = problem()
    with pytest.raises(ag.AutogradError, match=r"'X'.*does not require grad"):
        ag.compare_gradients(net.cost(X, Y), {"X": np.zeros_like(X)})


def test_a_tensor_outside_the_graph_and_a_scale_without_array_are_errors():
    net, X, Y = problem()
    stranger = Tensor([1.0], requires_grad=True, name="stranger")
    with pytest.raises(ag.AutogradError, match=r"stranger.*not in the loss's graph"):
        ag.compare_gradients(net.cost(X, Y), {stranger: [0.0]})
    with pytest.raises(ag.AutogradError, match="scale names z3, which manual does not give"):
        ag.compare_gradients(net.cost(X, Y), {"b2": np.zeros(4)}, scale={"z3": 0.5})


def test_the_same_tensor_twice_is_an_error():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    with pytest.raises(ag.AutogradError, match="x is given twice"):
        ag.compare_gradients((x * x).sum(), {"x": [2.0, 4.0], x: [2.0, 4.0]})


# ---------------------------------------------------------------- the classifier on random arrays


arrays = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**31 - 1)).map(
    lambda t: np.random.default_rng(t[2]).standard_normal((t[0], t[1]))
)


@settings(max_examples=60, deadline=None)
@given(a=arrays, c=st.floats(0.01, 100).filter(lambda c: abs(c - 1) > 1e-3))
def test_any_constant_multiple_is_a_scale_with_that_factor(a, c):
    row = classify("g", c * a, a, _close_to_largest(1e-6, 1e-12))
    assert row.verdict == "scale" and row.factor == pytest.approx(c, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(a=arrays)
def test_negation_is_sign_and_transposition_is_transpose(a):
    close = _close_to_largest(1e-6, 1e-12)
    assert classify("g", -a, a, close).verdict == "sign"
    assert classify("g", a.copy(), a, close).verdict == "ok"
    if a.shape[0] != a.shape[1] or not np.allclose(a, a.T):
        assert classify("g", a.T.copy(), a, close).verdict == "transpose"


# ---------------------------------------------------------------- the drawing


def test_draw_graph_colours_compared_tensors_and_draws_the_first_mismatch_bold(tmp_path, dot_program):
    net, X, Y = problem()
    J = net.cost(X, Y)
    grads = tutorial_backprop(net, X, Y, "sigmoid derivative")
    report = ag.compare_gradients(J, grads, scale={"z3": 1 / M, "z2": 1 / M})
    source = ag.draw_graph(J, compare=report).source
    named = [(re.search(r"<b>(\w+)</b>", line), line) for line in source.splitlines()]
    nodes = {match.group(1): line for match, line in named if match}
    for name in ("z3", "b2", "theta2"):
        assert 'fillcolor="#b9eeb0"' in nodes[name] and "ok, rel. err" in nodes[name]
    for name in ("b1", "theta1"):
        assert 'fillcolor="#ffb0a8"' in nodes[name] and "mismatch, rel. err" in nodes[name]
        assert "first mismatch" not in nodes[name] and "penwidth=1.5" in nodes[name]
    assert "first mismatch" in nodes["z2"] and "penwidth=3" in nodes["z2"] and "bold" in nodes["z2"]
    assert 'fillcolor="#b9eeb0"' not in nodes["a2"] and 'fillcolor="#ffb0a8"' not in nodes["a2"]
    svg = ag.save_graph(ag.draw_graph(J, compare=report), tmp_path / "check.svg").read_text()
    assert "first mismatch" in svg and "#ffb0a8" in svg
    legend = "green / red box: a hand-derived gradient that agrees / disagrees with autodiff"
    assert legend in ag.draw_graph(J, compare=report).page_data["legend"]  # the page says what colours mean
    assert legend not in ag.draw_graph(J).page_data["legend"]


def test_draw_graph_shows_the_factor_of_a_scale_verdict():
    net, X, Y = problem()
    J = net.cost(X, Y)
    report = ag.compare_gradients(J, {"b2": tutorial_backprop(net, X, Y, "missing 1/m")["b2"]})
    assert "scale ×12" in ag.draw_graph(J, compare=report).source


# ---------------------------------------------------------------- any model


def test_a_modules_parameters_are_compared_by_their_dotted_names_and_gradchecked_with_wrt():
    nn = pytest.importorskip("autograd_nn.nn", reason="autograd_nn.nn arrives with the models issue")
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=1), nn.Tanh(), nn.Linear(4, 2, rng=2))
    x = rng.standard_normal((5, 3))
    loss = (model(Tensor(x)) ** 2).sum()
    W1, b1, W2, b2 = [p.data for p in model.parameters()]
    h = np.tanh(x @ W1.T + b1)
    d_out = 2 * (h @ W2.T + b2)
    d_h = d_out @ W2 * (1 - h**2)
    mine = {"2.weight": d_out.T @ h, "2.bias": d_out.sum(0), "0.weight": d_h.T @ x, "0.bias": d_h.sum(0)}
    report = ag.compare_gradients(loss, mine, numeric=True)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["2.bias", "2.weight", "0.bias", "0.weight"]
    mine["0.weight"] = mine["0.weight"].T.copy()
    assert ag.compare_gradients(loss, mine).first_mismatch.verdict == "transpose"
    assert ag.gradcheck(lambda: (model(Tensor(x)) ** 2).sum(), wrt=model.parameters())
