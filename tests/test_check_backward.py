"""check_backward and check_value_and_grad: course-style layer pairs checked as they are written.

The layers are in tests/course_layers.py (plain NumPy, no autograd_nn). Every correct pair must report
all "ok"; each planted mistake must be the first mismatch with the verdict that names it. Forwards that
run on Tensors are checked against autodiff; naive loops writing into np.zeros leave the graph and are
checked against central differences, and the report says so.
"""

from __future__ import annotations

import course_layers as L
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.checking.compare import VERDICTS, _close_to_largest, classify
from autograd_nn.errors import AutogradError

N = 6  # examples in a batch


def rng():
    return np.random.default_rng(1)


def with_mistake(backward, mistake):
    """The backward with one planted mistake, under the backward's own name."""

    def planted(dout, cache):
        return backward(dout, cache, mistake)

    planted.__name__ = backward.__name__
    return planted


def summary(report):
    return {row.name: (row.verdict, row.reference) for row in report.rows}


# ---------------------------------------------------------------- the layers, each correct


def affine_case():
    r = rng()
    return (
        L.affine_forward,
        L.affine_backward,
        (r.standard_normal((N, 2, 3)), r.standard_normal((6, 4)), r.standard_normal(4)),
    )


def batchnorm_case():
    r = rng()
    x = 3 + 2 * r.standard_normal((N, 5))
    return (
        L.batchnorm_forward,
        L.batchnorm_backward,
        (x, r.standard_normal(5), r.standard_normal(5), {"eps": 1e-5}),
    )


def layernorm_case():
    r = rng()
    return (
        L.layernorm_forward,
        L.layernorm_backward,
        (r.standard_normal((N, 5)), r.standard_normal(5), r.standard_normal(5), {}),
    )


def conv_case():
    r = rng()
    x, w, b = r.standard_normal((2, 2, 5, 5)), r.standard_normal((3, 2, 3, 3)), r.standard_normal(3)
    return L.conv_forward_naive, L.conv_backward_naive, (x, w, b, {"stride": 2, "pad": 1})


def pool_case():
    x = rng().standard_normal((2, 3, 6, 6))
    return (
        L.max_pool_forward_naive,
        L.max_pool_backward_naive,
        (x, {"pool_height": 2, "pool_width": 2, "stride": 2}),
    )


def simple(forward, backward, shape=(N, 5)):
    return lambda: (forward, backward, (rng().standard_normal(shape),))


PAIRS = {
    "affine": affine_case,
    "relu": simple(L.relu_forward, L.relu_backward),
    "sigmoid": simple(L.sigmoid_forward, L.sigmoid_backward),
    "tanh": simple(L.tanh_forward, L.tanh_backward),
    "batchnorm": batchnorm_case,
    "variance": simple(L.variance_forward, L.variance_backward, (32, 4)),
    "layernorm": layernorm_case,
    "dropout": lambda: (
        L.dropout_forward,
        L.dropout_backward,
        (rng().standard_normal((N, 5)), {"p": 0.6, "seed": 7}),
    ),
    "conv naive": conv_case,
    "max pool naive": pool_case,
}


@pytest.mark.parametrize("layer", PAIRS)
def test_every_correct_layer_pair_reports_all_ok(layer):
    forward, backward, args = PAIRS[layer]()
    report = ag.check_backward(forward, backward, *args)
    assert report.ok, str(report)
    assert all(row.verdict == "ok" for row in report.rows)
    assert all(row.relative_error < 1e-6 for row in report.rows)


def test_rows_are_named_after_the_forwards_parameters_in_order():
    forward, backward, args = batchnorm_case()
    report = ag.check_backward(forward, backward, *args)
    assert [row.name for row in report.rows] == ["x", "gamma", "beta"]  # bn_param is passed through
    assert [row.shape for row in report.rows] == [(N, 5), (5,), (5,)]
    assert report.num_examples == N


def test_losses_and_the_digits_cost_report_all_ok():
    r = rng()
    scores, labels = r.standard_normal((N, 4)), r.integers(0, 4, N)
    for loss in (L.softmax_loss, L.svm_loss):
        report = ag.check_value_and_grad(loss, scores, labels)
        assert report.ok, str(report)
        assert [row.name for row in report.rows] == ["x"]  # y holds integers: passed through
    params, X, Y = digits_problem()
    report = ag.check_value_and_grad(L.nn_cost_function, params, 4, 5, 3, X, Y, 0.5, wrt=["nn_params"])
    assert report.ok, str(report)
    assert report["nn_params"].shape == params.shape


def digits_problem(m=8, sizes=(4, 5, 3)):
    r = rng()
    n_in, hidden, labels = sizes
    params = 0.5 * r.standard_normal(hidden * (n_in + 1) + labels * (hidden + 1))
    X = r.standard_normal((m, n_in))
    Y = np.eye(labels)[r.integers(0, labels, m)]
    return params, X, Y


def test_the_projects_own_reference_backprop_checks_out_through_unrolled_parameters():
    from autograd_nn.digits import reference

    params, X, Y = digits_problem()

    def cost_and_gradient(nn_params, X, Y):
        theta1, b1 = nn_params[:20].reshape(5, 4), nn_params[20:25]
        theta2, b2 = nn_params[25:40].reshape(3, 5), nn_params[40:43]
        J, grads = reference.cost_and_gradients([(theta1, b1), (theta2, b2)], X, Y, 0.1)
        return J, np.concatenate([g.ravel() for pair in grads for g in pair])

    report = ag.check_value_and_grad(cost_and_gradient, params[:43], X, Y, wrt="nn_params", num_examples=8)
    assert report.ok, str(report)


# ---------------------------------------------------------------- planted mistakes: first mismatch and verdict


def test_a_missing_1_over_n_is_a_scale_of_m():
    scores, labels = rng().standard_normal((N, 4)), rng().integers(0, 4, N)
    report = ag.check_value_and_grad(lambda x, y: L.softmax_loss(x, y, "missing 1/N"), scores, labels)
    first = report.first_mismatch
    assert (first.name, first.verdict) == ("x", "scale")
    assert first.factor == pytest.approx(N, rel=1e-5)
    assert "(= m)" in str(report) and "missing 1/m" in first.note


def test_a_missing_1_over_m_in_the_digits_cost_is_named():
    params, X, Y = digits_problem()
    fn = lambda p, X, Y: L.nn_cost_function(p, 4, 5, 3, X, Y, 0.0, "missing 1/m")  # noqa: E731
    report = ag.check_value_and_grad(fn, params, X, Y, wrt=["p"])
    assert (report.first_mismatch.verdict, report.first_mismatch.factor) == (
        "scale",
        pytest.approx(8, rel=1e-5),
    )


def test_a_sign_error_is_a_sign_verdict():
    forward, backward, args = simple(L.sigmoid_forward, L.sigmoid_backward)()
    report = ag.check_backward(forward, with_mistake(backward, "sign"), *args)
    assert (report.first_mismatch.name, report.first_mismatch.verdict) == ("x", "sign")
    params, X, Y = digits_problem()
    fn = lambda p, X, Y: L.nn_cost_function(p, 4, 5, 3, X, Y, 0.0, "sign")  # noqa: E731
    assert ag.check_value_and_grad(fn, params, X, Y, wrt=["p"]).first_mismatch.verdict == "sign"


def test_a_transposed_weight_gradient_is_a_transpose_verdict():
    forward, backward, args = affine_case()
    report = ag.check_backward(forward, with_mistake(backward, "transpose"), *args)
    assert summary(report)["x"][0] == "ok"
    assert (report.first_mismatch.name, report.first_mismatch.verdict) == ("w", "transpose")
    assert report.first_mismatch.note.endswith("transposed")


def test_a_missing_bessel_factor_is_a_scale_of_m_minus_1_over_m():
    forward, backward, args = simple(L.variance_forward, L.variance_backward, (32, 4))()
    report = ag.check_backward(forward, with_mistake(backward, "missing Bessel"), *args)
    first = report.first_mismatch
    assert (first.name, first.verdict) == ("x", "scale")
    assert first.factor == pytest.approx(31 / 32, rel=1e-6)
    assert "(= (m-1)/m)" in str(report) and "Bessel" in first.note


def test_a_bias_gradient_not_summed_over_the_batch_is_a_shape_verdict_saying_which_sum():
    forward, backward, (x, w, b) = affine_case()
    report = ag.check_backward(forward, with_mistake(backward, "bias not summed"), x, w, b)
    first = report.first_mismatch
    assert (first.name, first.verdict) == ("b", "shape")
    assert "summing yours over axis 0 gives autodiff's (4,), and then the values agree" in first.note
    b_row = b[None, :]  # a (1, 4) bias, as makemore writes it
    report = ag.check_backward(forward, with_mistake(backward, "bias not summed"), x, w, b_row)
    assert "summing yours over axis 0 (keepdims) gives autodiff's (1, 4)" in report.first_mismatch.note


def test_a_bias_gradient_without_keepdims_is_a_broadcast_verdict_not_compared():
    forward, backward, (x, w, b) = affine_case()
    report = ag.check_backward(forward, with_mistake(backward, "bias without keepdims"), x, w, b[None, :])
    first = report.first_mismatch
    assert (first.name, first.verdict, first.shape) == ("b", "broadcast", (1, 4))
    assert (
        "yours has shape (4,), autodiff (1, 4): it has autodiff's shape only after broadcasting" in first.note
    )
    assert np.isnan(first.relative_error)  # not compared as broadcast values


@pytest.mark.parametrize("layer", ["relu", "tanh"])
def test_a_missing_activation_derivative_is_a_mismatch(layer):
    forward, backward, args = PAIRS[layer]()
    report = ag.check_backward(forward, with_mistake(backward, "no derivative"), *args)
    assert (report.first_mismatch.name, report.first_mismatch.verdict) == ("x", "mismatch")


def test_a_missing_1_over_n_in_batchnorm_is_a_scale_of_m():
    forward, backward, args = batchnorm_case()
    report = ag.check_backward(forward, with_mistake(backward, "missing 1/N"), *args)
    assert summary(report)["gamma"][0] == summary(report)["beta"][0] == "ok"
    assert (report.first_mismatch.name, report.first_mismatch.verdict) == ("x", "scale")
    assert report.first_mismatch.factor == pytest.approx(N, rel=1e-6)


def test_an_off_by_one_window_in_the_conv_backward_is_a_mismatch_against_central_differences():
    forward, backward, args = conv_case()
    report = ag.check_backward(forward, with_mistake(backward, "off-by-one window"), *args)
    assert summary(report) == {
        "x": ("mismatch", "central differences"),
        "w": ("mismatch", "central differences"),
        "b": ("ok", "central differences"),
    }
    assert report.first_mismatch.name == "x"
    assert "First mismatch: x (mismatch" in str(report) and "Also wrong: w (mismatch" in str(report)


# ---------------------------------------------------------------- the reference: autodiff, or central differences


def scale_shift_forward(x, gamma, beta):
    """Operators only: runs on Tensors with any engine."""
    return x * gamma + beta, (x, gamma)


def scale_shift_backward(dout, cache):
    x, gamma = cache
    return dout * gamma, (dout * x).sum(axis=0), dout.sum(axis=0)


def scale_shift_args():
    r = rng()
    return r.standard_normal((N, 3)), r.standard_normal(3), r.standard_normal(3)


def test_a_forward_that_runs_on_tensors_is_checked_against_autodiff_and_can_be_drawn():
    report = ag.check_backward(scale_shift_forward, scale_shift_backward, *scale_shift_args())
    assert report.ok and summary(report) == {k: ("ok", "autodiff") for k in ("x", "gamma", "beta")}
    assert report.reference == "autodiff" and not report.notes
    text = str(report)
    assert "against autodiff (m = 6 examples)" in text.splitlines()[0] and "reference" in text.splitlines()[1]
    assert list(report.to_frame()["reference"]) == ["autodiff"] * 3
    page = report._repr_html_()  # in Jupyter: the same table, the reference column included
    assert "<th" in page and page.count(">autodiff</td>") == 3
    assert isinstance(report.output, Tensor)
    source = ag.draw_graph(report.output, compare=report).source
    assert source.count("ok, rel. err") == 3  # x, gamma and beta drawn green with their verdicts


VECTORISED = ["affine", "relu", "sigmoid", "tanh", "batchnorm", "variance", "layernorm", "dropout"]


@pytest.mark.parametrize("layer", VECTORISED)
def test_vectorised_numpy_layers_are_differentiated_as_written(layer):
    forward, backward, args = PAIRS[layer]()
    report = ag.check_backward(forward, backward, *args)
    assert {row.reference for row in report.rows} == {"autodiff"}, "\n".join(report.notes)


def test_the_vectorised_conv_and_the_losses_are_differentiated_as_written():
    _, backward, (x, w, b, param) = conv_case()
    report = ag.check_backward(L.conv_forward_vectorised, backward, x, w, b, param)
    assert report.ok and report.reference == "autodiff", str(report)
    params, X, Y = digits_problem()
    report = ag.check_value_and_grad(L.nn_cost_function, params, 4, 5, 3, X, Y, 0.5, wrt=["nn_params"])
    assert report.reference == "autodiff", str(report)
    scores, labels = rng().standard_normal((N, 4)), rng().integers(0, 4, N)
    assert ag.check_value_and_grad(L.softmax_loss, scores, labels).reference == "autodiff"


def test_a_forward_writing_into_np_zeros_falls_back_to_central_differences_and_says_so():
    forward, backward, args = pool_case()
    report = ag.check_backward(forward, backward, *args)
    assert report.ok and report.reference == "central differences"
    assert report["x"].reference == "central differences" and report.output is None
    assert any(note.startswith("Reference: central differences, because") for note in report.notes)
    assert "central differences" in str(report).splitlines()[2]  # in the row itself
    forward, backward, args = conv_case()
    report = ag.check_backward(forward, backward, *args)
    assert report.ok and report.reference == "central differences"
    assert "left the graph (results written into a preallocated array such as np.zeros" in report.notes[0]


def test_a_forward_that_leaves_the_graph_only_partly_is_caught_by_the_random_direction():
    def leaky_forward(x):
        return 2 * x + np.asarray(x) ** 2  # np.asarray is an explicit exit from the graph

    x = rng().standard_normal((N, 3))
    report = ag.check_backward(leaky_forward, lambda dout: 2 * dout, x)
    assert report.first_mismatch is not None  # autodiff alone would have called 2 * dout right
    report = ag.check_backward(leaky_forward, lambda dout: dout * (2 + 2 * x), x)
    assert report.ok and report["x"].reference == "central differences"
    assert any("part of the forward left the graph" in note for note in report.notes)


def test_big_inputs_outside_the_graph_are_checked_along_random_directions():
    def cube_forward(x):
        out = np.zeros(x.shape)
        out[...] = x**3  # written into a buffer: the graph is left behind
        return out, x

    def cube_backward(dout, x):
        return 3 * x**2 * dout

    x = rng().standard_normal((40, 30))  # 1,200 entries: more than entry by entry is worth
    report = ag.check_backward(cube_forward, cube_backward, x)
    assert report.ok and "along 3 random directions" in report["x"].note
    report = ag.check_backward(cube_forward, lambda dout, x: -cube_backward(dout, x), x)
    assert report.first_mismatch.verdict == "sign"
    report = ag.check_backward(cube_forward, lambda dout, x: cube_backward(dout, x).T, x)
    assert report.first_mismatch.verdict == "transpose"


def test_an_input_the_forward_never_reads_is_reported_not_passed():
    def forward(x, unused):
        return 3 * x

    def backward(dout):
        return 3 * dout, np.zeros((2, 2))

    x = rng().standard_normal((N, 2))
    report = ag.check_backward(forward, backward, x, np.ones((2, 2)))
    assert not report.ok
    assert summary(report) == {"x": ("ok", "autodiff"), "unused": ("unused", "central differences")}
    assert "the output does not change when unused changes" in report["unused"].note
    assert "not a pass" in str(report)
    assert "unused" in VERDICTS


def test_numeric_true_forces_central_differences_and_numeric_false_forbids_them():
    args = scale_shift_args()
    report = ag.check_backward(scale_shift_forward, scale_shift_backward, *args, numeric=True)
    assert report.ok and {row.reference for row in report.rows} == {"central differences"}
    assert "as asked (numeric=True)" in str(report)
    assert ag.check_backward(scale_shift_forward, scale_shift_backward, *args, numeric=False).ok
    forward, backward, args = pool_case()
    with pytest.raises(AutogradError, match="numeric=False forbids central differences"):
        ag.check_backward(forward, backward, *args, numeric=False)
    with pytest.raises(ValueError, match="numeric must be"):
        ag.check_backward(forward, backward, *args, numeric="yes")


# ---------------------------------------------------------------- the user's arrays, dtypes and randomness


def test_the_users_arrays_and_dout_are_never_changed():
    def scribbling_forward(x, w):
        out = x @ w
        x *= 0  # a forward that writes into its inputs
        return out, (x.copy(), w)

    def scribbling_backward(dout, cache):
        x, w = cache
        dout *= 2  # and a backward that writes into dout
        return dout @ w.T / 2, x.T @ dout / 2

    r = rng()
    x, w, dout = r.standard_normal((N, 3)), r.standard_normal((3, 2)), r.standard_normal((N, 2))
    kept = x.copy(), w.copy(), dout.copy()
    ag.check_backward(scribbling_forward, scribbling_backward, x, w, dout=dout, numeric=True)
    for array, before in zip((x, w, dout), kept, strict=True):
        np.testing.assert_array_equal(array, before)


def test_float32_inputs_are_checked_against_a_float64_reference():
    forward, backward, args = batchnorm_case()
    x, gamma, beta, param = args
    report = ag.check_backward(
        forward, backward, x.astype(np.float32), gamma.astype(np.float32), beta.astype(np.float32), param
    )
    assert report.ok, str(report)
    assert any("Float32 inputs" in note for note in report.notes)
    assert all(row.autodiff.dtype == np.float64 for row in report.rows)


def test_a_dropout_draws_the_same_mask_for_both_runs_and_the_global_state_is_left_alone():
    x = rng().standard_normal((N, 5))
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    assert ag.check_backward(L.dropout_forward, L.dropout_backward, x, {"p": 0.5, "seed": 3}).ok
    assert ag.check_backward(
        L.dropout_forward, L.dropout_backward, x, {"p": 0.5}
    ).ok  # no seed: the global state
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_dout_and_num_examples_can_be_given():
    args = scale_shift_args()
    dout = np.ones((N, 3))
    report = ag.check_backward(scale_shift_forward, scale_shift_backward, *args, dout=dout, num_examples=3)
    np.testing.assert_allclose(report["beta"].autodiff, np.full(3, N))
    assert report.num_examples == 3
    with pytest.raises(
        ValueError, match=r"dout has shape \(2,\), but the forward's output has shape \(6, 3\)"
    ):
        ag.check_backward(scale_shift_forward, scale_shift_backward, *args, dout=np.ones(2))


def test_the_wrong_number_of_gradients_is_an_error_naming_the_arguments():
    with pytest.raises(ValueError, match=r"returned 2 gradients, but 3 are expected.*\(x, gamma, beta\)"):
        ag.check_backward(scale_shift_forward, lambda dout, cache: (dout, dout), *scale_shift_args())
    params, X, Y = digits_problem()
    with pytest.raises(ValueError, match="name the differentiated arguments with wrt="):
        ag.check_value_and_grad(L.nn_cost_function, params, 4, 5, 3, X, Y, 0.5)
    with pytest.raises(ValueError, match="wrt names 'theta'"):
        ag.check_value_and_grad(L.nn_cost_function, params, 4, 5, 3, X, Y, 0.5, wrt=["theta"])
    with pytest.raises(ValueError, match="no gradient to check"):
        ag.check_backward(lambda n: n, lambda d: d, 3)


# ---------------------------------------------------------------- the sharpened verdicts, for compare_gradients too


def test_compare_gradients_says_broadcast_and_how_shapes_relate_too():
    x = Tensor(rng().standard_normal((N, 4)), requires_grad=True)
    b = Tensor(np.zeros((1, 4)), requires_grad=True, name="b")
    loss = ((x + b) ** 2).sum()
    right = (2 * (x.data + b.data)).sum(axis=0, keepdims=True)
    report = ag.compare_gradients(loss, {"b": right[0]})
    assert report["b"].verdict == "broadcast"
    assert "(reshaped to (1, 4), its values agree)" in report["b"].note
    report = ag.compare_gradients(loss, {"b": 2 * (x.data + b.data)})
    assert report["b"].verdict == "shape"
    assert (
        "summing yours over axis 0 (keepdims) gives autodiff's (1, 4), and then the values agree"
        in report["b"].note
    )


def test_a_conv_weight_gradient_with_its_axes_swapped_is_a_transpose_saying_which_order():
    _, backward, args = conv_case()

    def swapped(dout, cache):
        dx, dw, db = backward(dout, cache)
        return dx, dw.transpose(1, 0, 2, 3), db

    report = ag.check_backward(L.conv_forward_vectorised, swapped, *args)
    assert (report.first_mismatch.name, report.first_mismatch.verdict) == ("w", "transpose")
    assert "yours.transpose(1, 0, 2, 3) agrees" in report.first_mismatch.note


def test_an_extra_bessel_factor_is_named_m_over_m_minus_1():
    x = rng().standard_normal((8, 3))
    report = ag.check_backward(L.variance_forward, lambda dout, diff: 2 / 7 * diff * dout * 8 / 7, x)
    assert report.first_mismatch.factor == pytest.approx(8 / 7)
    assert "(= m/(m-1))" in str(report)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(2, 4), min_size=1, max_size=3),
    kept=st.lists(st.booleans(), min_size=3, max_size=3),
    lead=st.integers(0, 2),
)
def test_any_broadcast_not_undone_is_named_by_the_sum_that_undoes_it(shape, kept, lead):
    """A gradient of the broadcast shape against the operand's: the note names the axes to sum."""
    reference_shape = tuple(n if keep else 1 for n, keep in zip(shape, kept, strict=False))
    mine = np.random.default_rng(0).standard_normal((3,) * lead + tuple(shape))
    axes = tuple(range(lead)) + tuple(lead + k for k, n in enumerate(reference_shape) if n == 1)
    if not axes:
        return  # nothing was broadcast
    reference = mine.sum(axis=axes, keepdims=True).reshape(reference_shape)
    row = classify("b", mine, reference, _close_to_largest(1e-9, 1e-12))
    assert row.verdict == "shape"
    assert (
        f"summing yours over {'axis ' + str(axes[0]) if len(axes) == 1 else 'axes ' + str(axes)}" in row.note
    )
    assert "and then the values agree" in row.note
