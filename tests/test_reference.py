"""The hand-derived NumPy backprop (``autograd_nn.reference``), checked against central differences and formulas."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from autograd_nn.digits import reference as ref

# Central differences in float64: truncation error ~ eps**2 and roundoff ~ ulp(J) / eps (J is of order 1 here),
# so eps = 3e-5 is near the best step and resolves relative differences well below 1e-9. (At the default
# eps = 1e-6 the roundoff alone is ~1e-9 relative, so the course's 1e-9 bar would fail on correct code.)
EPS = 3e-5


def make_net(sizes, m, seed, dtype=np.float64):
    """Seeded random params for layer sizes [n, h1, ..., K], plus m examples X and one-hot labels Y."""
    rng = np.random.default_rng(seed)
    params = [
        (rng.normal(size=(n_out, n_in)).astype(dtype), rng.normal(size=n_out).astype(dtype))
        for n_in, n_out in itertools.pairwise(sizes)
    ]
    X = rng.normal(size=(m, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], size=m)]
    return params, X, Y


def relative_difference(analytic, numeric):
    """The course's measure: norm(analytic - numeric) / norm(analytic + numeric)."""
    return np.linalg.norm(analytic - numeric) / np.linalg.norm(analytic + numeric)


def assert_gradients_match(params, X, Y, lam, tol):
    _, analytic = ref.cost_and_gradients(params, X, Y, lam)
    numeric = ref.numerical_gradients(params, X, Y, lam, eps=EPS)
    assert len(analytic) == len(numeric) == len(params)
    for layer, ((g_theta, g_b), (n_theta, n_b), (theta, b)) in enumerate(
        zip(analytic, numeric, params, strict=True), 1
    ):
        assert g_theta.shape == theta.shape and g_b.shape == b.shape, f"layer {layer}: gradient shapes"
        assert relative_difference(g_theta, n_theta) < tol, f"layer {layer}: theta gradient"
        assert relative_difference(g_b, n_b) < tol, f"layer {layer}: b gradient"


@pytest.mark.parametrize("lam", [0.0, 1.5])
def test_course_gradient_check_on_a_3_5_3_network(lam):
    params, X, Y = make_net([3, 5, 3], m=5, seed=0)
    assert_gradients_match(params, X, Y, lam, tol=1e-9)


@pytest.mark.parametrize(
    ("sizes", "tol"),
    # Each sigmoid layer shrinks the backpropagated signal (sigma' <= 1/4), so the first layer's gradients get
    # smaller with depth while the roundoff of central differences stays ~ulp(J)/eps in absolute terms. Over
    # hundreds of random draws the worst per-array difference was 5e-10, 9e-10 and 3e-9 for 1, 2 and 3 hidden
    # layers: that is the float64 floor of the check, so the bars keep a 2-3x margin above it. A real backprop
    # bug gives differences of 1e-6 and far above (see test_the_gradient_check_catches_a_small_error).
    [([4, 6, 3], 1e-9), ([4, 6, 5, 3], 3e-9), ([4, 6, 5, 7, 3], 1e-8)],
    ids=["1-hidden", "2-hidden", "3-hidden"],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("lam", [0.0, 0.7])
def test_gradient_check_on_random_deeper_networks(sizes, tol, seed, lam):
    params, X, Y = make_net(sizes, m=7, seed=seed)
    assert_gradients_match(params, X, Y, lam, tol)


def test_the_gradient_check_catches_a_small_error():
    """The check above can fail: one row of a gradient off by 0.1% is far outside the tolerance."""
    params, X, Y = make_net([3, 5, 3], m=5, seed=0)
    _, analytic = ref.cost_and_gradients(params, X, Y)
    numeric = ref.numerical_gradients(params, X, Y, eps=EPS)
    wrong = analytic[0][0].copy()
    wrong[2] *= 1.001
    assert relative_difference(wrong, numeric[0][0]) > 1e-5


def saturating_net():
    """A 2-2-2 net whose hidden and output logits are all exactly +-1000: every sigmoid is exactly 0 or 1."""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    theta = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    return [(theta, np.zeros(2)), (theta.copy(), np.zeros(2))], X


def test_cost_and_gradients_are_finite_and_warning_free_when_the_sigmoid_saturates():
    params, X = saturating_net()
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        activations = ref.forward(params, X)
        z_out = activations[1] @ params[1][0].T + params[1][1]
        assert set(np.abs(z_out).ravel()) == {1000.0}
        a_out = activations[-1]
        # labels: rows 0, 1 are fitted (cost 0), rows 2, 3 are maximally wrong (cost 1000 per class)
        Y = np.where(np.arange(4)[:, None] < 2, a_out, 1 - a_out)
        J, grads = ref.cost_and_gradients(params, X, Y, lam=0.0)
        J_alone = ref.cost(params, X, Y)
    # per element softplus(z) - y z is 0 when the label is fitted and 1000 when it is wrong: 2 rows x 2 classes
    assert J == J_alone == pytest.approx(4 * 1000.0 / 4, rel=1e-15)
    for g_theta, g_b in grads:
        assert np.isfinite(g_theta).all() and np.isfinite(g_b).all()
    np.testing.assert_array_equal(grads[1][0], ((a_out - Y) / 4).T @ activations[1])


def test_sigmoid_is_stable_and_exact_at_the_extremes():
    z = np.array([-1000.0, -745.0, -700.0, -30.0, 0.0, 30.0, 700.0, 1000.0])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = ref.sigmoid(z)
        s32 = ref.sigmoid(z.astype(np.float32))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[4] == 0.5
    assert s[2] == pytest.approx(np.exp(-700.0), rel=1e-12)  # tiny outputs keep full relative precision
    assert np.all(np.diff(s) >= 0)
    assert s32.dtype == np.float32 and s32[0] == 0.0 and s32[-1] == 1.0
    moderate = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(ref.sigmoid(moderate), 1 / (1 + np.exp(-moderate)), rtol=1e-14, atol=0)


@pytest.mark.parametrize("lam", [0.0, 2.0])
def test_cost_equals_the_naive_cross_entropy_on_unsaturated_data(lam):
    params, X, Y = make_net([4, 6, 3], m=9, seed=4)
    m = X.shape[0]
    h = X
    for theta, b in params:
        h = 1 / (1 + np.exp(-(h @ theta.T + b)))
    reg = lam / (2 * m) * sum((theta**2).sum() for theta, _ in params)
    naive = -(Y * np.log(h) + (1 - Y) * np.log(1 - h)).sum() / m + reg
    assert ref.cost(params, X, Y, lam) == pytest.approx(naive, rel=1e-12, abs=1e-12)
    assert ref.cost_and_gradients(params, X, Y, lam)[0] == pytest.approx(naive, rel=1e-12, abs=1e-12)


def test_regularisation_adds_lam_over_m_theta_to_theta_gradients_only():
    params, X, Y = make_net([4, 6, 3], m=8, seed=5)
    lam, m = 3.0, X.shape[0]
    J0, plain = ref.cost_and_gradients(params, X, Y)
    J1, regularised = ref.cost_and_gradients(params, X, Y, lam)
    np.testing.assert_allclose(
        J1 - J0, lam / (2 * m) * sum((theta**2).sum() for theta, _ in params), rtol=1e-12
    )
    for (theta, _), (p_theta, p_b), (r_theta, r_b) in zip(params, plain, regularised, strict=True):
        np.testing.assert_allclose(r_theta - p_theta, lam / m * theta, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(r_b, p_b)  # biases are not regularised


def test_forward_returns_every_activation_from_the_input():
    params, X, _ = make_net([4, 6, 5, 3], m=7, seed=6)
    activations = ref.forward(params, X)
    assert len(activations) == 4 and activations[0] is X
    assert [a.shape for a in activations] == [(7, 4), (7, 6), (7, 5), (7, 3)]
    for a_prev, a, (theta, b) in zip(activations[:-1], activations[1:], params, strict=True):
        np.testing.assert_allclose(a, 1 / (1 + np.exp(-(a_prev @ theta.T + b))), rtol=1e-14)


def test_float32_stays_float32_end_to_end():
    params, X, Y = make_net([4, 6, 3], m=6, seed=7, dtype=np.float32)
    Y64 = Y.astype(np.float64)  # one-hot labels from np.eye are float64 by default; they must not upcast
    assert all(a.dtype == np.float32 for a in ref.forward(params, X))
    J, grads = ref.cost_and_gradients(params, X, Y64, lam=0.5)
    assert isinstance(J, float)
    assert all(g.dtype == np.float32 for layer in grads for g in layer)
    params64 = [(theta.astype(np.float64), b.astype(np.float64)) for theta, b in params]
    J64, grads64 = ref.cost_and_gradients(params64, X.astype(np.float64), Y64, lam=0.5)
    np.testing.assert_allclose(J, J64, rtol=1e-5)
    for layer, layer64 in zip(grads, grads64, strict=True):
        for g, g64 in zip(layer, layer64, strict=True):
            np.testing.assert_allclose(g, g64, rtol=1e-4, atol=1e-6)


def test_oracles_leave_their_inputs_untouched():
    params, X, Y = make_net([3, 5, 3], m=5, seed=8)
    before = [(theta.copy(), b.copy()) for theta, b in params], X.copy(), Y.copy()
    ref.cost_and_gradients(params, X, Y, lam=1.0)
    ref.numerical_gradients(params, X, Y, lam=1.0)
    for (theta, b), (theta0, b0) in zip(params, before[0], strict=True):
        np.testing.assert_array_equal(theta, theta0)
        np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(X, before[1])
    np.testing.assert_array_equal(Y, before[2])


def test_a_theta_that_does_not_fit_its_inputs_names_the_layer_and_both_shapes():
    params, X, Y = make_net([3, 5, 3], m=5, seed=9)
    params[1] = (np.zeros((3, 4)), np.zeros(3))
    for call in (ref.forward, ref.cost, ref.cost_and_gradients, ref.numerical_gradients):
        args = (params, X) if call is ref.forward else (params, X, Y)
        with pytest.raises(ValueError, match=r"layer 2: theta of shape \(3, 4\) does not fit 5 inputs"):
            call(*args)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, X, Y: (p, X[:, :2], Y), r"layer 1: theta of shape \(5, 3\) does not fit 2 inputs"),
        (lambda p, X, Y: ([p[0], (p[1][0], np.zeros(4))], X, Y), r"layer 2: b of shape \(4,\)"),
        (lambda p, X, Y: (p, X, Y[:, :2]), r"Y of shape \(5, 2\).*expected \(5, 3\)"),
        (lambda p, X, Y: (p, X[0], Y), r"X must be 2-D"),
        (lambda p, X, Y: ([], X, Y), r"params is empty"),
        (lambda p, X, Y: (p, X[:0], Y[:0]), r"X of shape \(0, 3\) has no examples"),
    ],
    ids=["X-columns", "bias", "Y", "X-1d", "no-layers", "no-examples"],
)
def test_other_shape_mismatches_raise_clear_value_errors(change, message):
    params, X, Y = change(*make_net([3, 5, 3], m=5, seed=9))
    with pytest.raises(ValueError, match=message):
        ref.cost_and_gradients(params, X, Y)
