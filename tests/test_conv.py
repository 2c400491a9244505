"""conv2d and max_pool2d: forward against plain loops, gradients against central differences over a
geometry grid (stride, padding, non-square input and kernel, batch of 1, several channels), second and
third order under create_graph, the max convention at ties, and errors that name the shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hvp_check import check_hvp, weighted_square
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops_gradients import check_gradients, make

import autograd_nn as ag
from autograd_nn import ShapeError, Tensor

# ---------------------------------------------------------------- the oracles: plain loops


def pair(v):
    return (v, v) if isinstance(v, int) else v


def conv2d_loops(x, w, b=None, stride=1, padding=0):
    """out[n, o, i, j] = b[o] + sum over c, a, b of x_padded[n, c, i*sh + a, j*sw + b] * w[o, c, a, b]."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    n_batch, channels, height, width = x.shape
    n_out, _, kh, kw = w.shape
    padded = np.zeros((n_batch, channels, height + 2 * ph, width + 2 * pw))
    padded[:, :, ph : ph + height, pw : pw + width] = x
    ho, wo = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    out = np.zeros((n_batch, n_out, ho, wo))
    for n in range(n_batch):
        for o in range(n_out):
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if b is None else b[o]
                    for c in range(channels):
                        for a in range(kh):
                            for bb in range(kw):
                                total += padded[n, c, i * sh + a, j * sw + bb] * w[o, c, a, bb]
                    out[n, o, i, j] = total
    return out


def max_pool2d_loops(x, kernel_size, stride=None):
    kh, kw = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    n_batch, channels, height, width = x.shape
    ho, wo = (height - kh) // sh + 1, (width - kw) // sw + 1
    out = np.zeros((n_batch, channels, ho, wo))
    for n in range(n_batch):
        for c in range(channels):
            for i in range(ho):
                for j in range(wo):
                    out[n, c, i, j] = max(
                        x[n, c, i * sh + a, j * sw + bb] for a in range(kh) for bb in range(kw)
                    )
    return out


def test_the_loop_oracle_on_a_hand_worked_example():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # x[i, j] - x[i + 1, j + 1]
    np.testing.assert_array_equal(conv2d_loops(x, w), [[[[-4.0, -4.0], [-4.0, -4.0]]]])
    np.testing.assert_array_equal(conv2d_loops(x, w, padding=1)[0, 0, 0], [0.0, -1.0, -2.0, 0.0])
    np.testing.assert_array_equal(max_pool2d_loops(x, 2, 1), [[[[4.0, 5.0], [7.0, 8.0]]]])


# ---------------------------------------------------------------- conv2d

# (x shape, weight shape, stride, padding)
CONV_GRID = [
    ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
    ((2, 3, 5, 4), (2, 3, 3, 2), 1, 1),
    ((1, 2, 6, 7), (3, 2, 3, 3), 2, 1),
    ((2, 2, 7, 5), (2, 2, 2, 3), (2, 1), (0, 2)),
    ((1, 3, 4, 4), (2, 3, 1, 1), 1, 0),
    ((2, 1, 3, 3), (2, 1, 5, 5), 1, 2),
    ((1, 2, 8, 6), (2, 2, 3, 2), 3, (1, 0)),
    ((3, 2, 4, 5), (1, 2, 4, 5), 1, 0),
]


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding"), CONV_GRID, ids=str)
def test_conv2d_forward_equals_the_loops(x_shape, w_shape, stride, padding):
    x, w, b = make(x_shape), make(w_shape, seed=1), make(w_shape[:1], seed=2)
    expected = conv2d_loops(x, w, b, stride, padding)
    got = ag.conv2d(Tensor(x), Tensor(w), Tensor(b), stride=stride, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        ag.conv2d(x, w, stride=stride, padding=padding).data,
        conv2d_loops(x, w, None, stride, padding),
        atol=1e-12,
    )


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding"), CONV_GRID, ids=str)
def test_conv2d_gradients_match_central_differences(x_shape, w_shape, stride, padding):
    check_gradients(
        lambda x, w, b: ag.conv2d(x, w, b, stride=stride, padding=padding),
        lambda x, w, b: conv2d_loops(x, w, b, stride, padding),
        make(x_shape),
        make(w_shape, seed=1),
        make(w_shape[:1], seed=2),
    )


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding"), CONV_GRID, ids=str)
def test_conv2d_second_order(x_shape, w_shape, stride, padding):
    check_hvp(
        lambda x, w, b: weighted_square(ag.conv2d(x, w, b, stride=stride, padding=padding)),
        make(x_shape),
        make(w_shape, seed=1),
        make(w_shape[:1], seed=2),
    )


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding"), CONV_GRID[1:4], ids=str)
def test_conv2d_third_order_differentiates_the_recorded_gradient_ops(x_shape, w_shape, stride, padding):
    """d/d(x, w) of (H v) . u against central differences of H v: the VJPs of the input- and
    weight-gradient ops, recorded under create_graph, are differentiated too."""
    rng = np.random.default_rng(4)
    x0, w0 = make(x_shape), make(w_shape, seed=1)
    v = [rng.standard_normal(x0.shape), rng.standard_normal(w0.shape)]
    u = [rng.standard_normal(x0.shape), rng.standard_normal(w0.shape)]

    def f(x, w):
        return (ag.conv2d(x, w, stride=stride, padding=padding) ** 3).sum()

    def hvp_dot_u(x, w, create_graph):
        gx, gw = ag.grad(f(x, w), [x, w], create_graph=True)
        hx, hw = ag.grad((gx * v[0]).sum() + (gw * v[1]).sum(), [x, w], create_graph=create_graph)
        return (hx * u[0]).sum() + (hw * u[1]).sum()

    x, w = Tensor(x0.copy(), requires_grad=True), Tensor(w0.copy(), requires_grad=True)
    tx, tw = ag.grad(hvp_dot_u(x, w, True), [x, w])
    eps = 1e-5
    for i, (analytic, base) in enumerate([(tx, x0), (tw, w0)]):
        direction = rng.standard_normal(base.shape)
        shifted = [[x0, w0], [x0, w0]]
        shifted[0][i], shifted[1][i] = base + eps * direction, base - eps * direction
        plus, minus = (
            hvp_dot_u(
                Tensor(a.copy(), requires_grad=True), Tensor(b.copy(), requires_grad=True), False
            ).item()
            for a, b in shifted
        )
        np.testing.assert_allclose(np.sum(analytic * direction), (plus - minus) / (2 * eps), rtol=1e-5)


def test_conv2d_bias_gradient_sums_over_batch_and_positions():
    x = Tensor(np.ones((2, 1, 4, 4)))
    b = Tensor(np.zeros(3), requires_grad=True)
    ag.conv2d(x, np.ones((3, 1, 3, 3)), b, padding=1).sum().backward()
    np.testing.assert_array_equal(b.grad, [32.0, 32.0, 32.0])  # 2 images x 4 x 4 positions


def test_conv2d_of_float32_stays_float32_through_backward_and_create_graph():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    y = ag.conv2d(x, w, b, stride=2, padding=1)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, conv2d_loops(x.data, w.data, b.data, 2, 1), rtol=1e-4, atol=1e-4)
    (y * y).sum().backward(create_graph=True)
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    gx = x.grad
    x.zero_grad()
    gx.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "b_shape", "kwargs", "error", "match"),
    [
        (
            (2, 3, 5, 5),
            (4, 2, 3, 3),
            None,
            {},
            ShapeError,
            r"\(2, 3, 5, 5\) has 3 channels but the weight of shape \(4, 2, 3, 3\) expects 2",
        ),
        (
            (3, 5, 5),
            (4, 3, 3, 3),
            None,
            {},
            ShapeError,
            r"must be \(N, C, H, W\).*\(3, 5, 5\) and \(4, 3, 3, 3\)",
        ),
        ((2, 3, 5, 5), (4, 3, 3, 3), (3,), {}, ShapeError, r"bias must have shape \(4,\).*got \(3,\)"),
        (
            (1, 1, 2, 2),
            (1, 1, 3, 3),
            None,
            {},
            ShapeError,
            r"kernel \(3, 3\).*does not fit the input of shape \(1, 1, 2, 2\) padded to \(2, 2\)",
        ),
        ((1, 1, 5, 5), (1, 1, 3, 3), None, {"stride": 0}, ValueError, "stride must be at least 1"),
        ((1, 1, 5, 5), (1, 1, 3, 3), None, {"padding": -1}, ValueError, "padding must be at least 0"),
        (
            (1, 1, 5, 5),
            (1, 1, 3, 3),
            None,
            {"stride": (1, 2, 3)},
            TypeError,
            "stride must be an int or a pair",
        ),
        ((1, 1, 5, 5), (1, 1, 3, 3), None, {"padding": 1.5}, TypeError, "padding must be an int or a pair"),
    ],
)
def test_conv2d_errors_name_what_is_wrong(x_shape, w_shape, b_shape, kwargs, error, match):
    b = None if b_shape is None else np.zeros(b_shape)
    with pytest.raises(error, match=match):
        ag.conv2d(Tensor(np.zeros(x_shape)), Tensor(np.zeros(w_shape)), b, **kwargs)


# ---------------------------------------------------------------- max_pool2d

# (x shape, kernel_size, stride)
POOL_GRID = [
    ((1, 1, 4, 4), 2, None),
    ((2, 3, 7, 7), 3, None),
    ((1, 2, 5, 6), 2, 1),
    ((2, 1, 6, 7), (2, 3), (1, 2)),
    ((1, 2, 7, 5), 3, 2),
    ((2, 2, 4, 6), (1, 2), None),
]


@pytest.mark.parametrize(("x_shape", "kernel", "stride"), POOL_GRID, ids=str)
def test_max_pool2d_forward_equals_the_loops(x_shape, kernel, stride):
    x = make(x_shape)
    np.testing.assert_array_equal(
        ag.max_pool2d(Tensor(x), kernel, stride).data, max_pool2d_loops(x, kernel, stride)
    )


@pytest.mark.parametrize(("x_shape", "kernel", "stride"), POOL_GRID, ids=str)
def test_max_pool2d_gradients_match_central_differences(x_shape, kernel, stride):
    check_gradients(
        lambda x: ag.max_pool2d(x, kernel, stride),
        lambda x: max_pool2d_loops(x, kernel, stride),
        make(x_shape, "distinct"),
    )


@pytest.mark.parametrize(("x_shape", "kernel", "stride"), POOL_GRID, ids=str)
def test_max_pool2d_second_order(x_shape, kernel, stride):
    check_hvp(lambda x: weighted_square(ag.max_pool2d(x * x * x, kernel, stride)), make(x_shape, "distinct"))


def test_max_pool2d_third_order_through_the_recorded_scatter_and_gather():
    x0 = make((1, 2, 5, 5), "distinct")
    rng = np.random.default_rng(8)
    v, direction = rng.standard_normal(x0.shape), rng.standard_normal(x0.shape)

    def hv_sum(x, create_graph):
        (g,) = ag.grad((ag.max_pool2d(x, 2, 1) ** 4).sum(), [x], create_graph=True)
        (h,) = ag.grad((g * v).sum(), [x], create_graph=create_graph)
        return h.sum()

    x = Tensor(x0.copy(), requires_grad=True)
    (t,) = ag.grad(hv_sum(x, True), [x])
    eps = 1e-5
    plus = hv_sum(Tensor(x0 + eps * direction, requires_grad=True), False).item()
    minus = hv_sum(Tensor(x0 - eps * direction, requires_grad=True), False).item()
    np.testing.assert_allclose(np.sum(t * direction), (plus - minus) / (2 * eps), rtol=1e-5)


def test_max_pool2d_ties_share_each_window_gradient_equally():
    x = Tensor(np.array([[[[1.0, 1.0, 0.0, 5.0], [1.0, 1.0, 5.0, 2.0]]]]), requires_grad=True)
    y = ag.max_pool2d(x, 2)
    np.testing.assert_array_equal(y.data, [[[[1.0, 5.0]]]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0.25, 0.25, 0.0, 0.5], [0.25, 0.25, 0.5, 0.0]]]])


def test_max_pool2d_overlapping_windows_add_their_gradients():
    x = Tensor(np.array([[[[0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]]]), requires_grad=True)
    y = ag.max_pool2d(x, 2, stride=1)  # both windows hold the 9
    np.testing.assert_array_equal(y.data, [[[[9.0, 9.0]]]])
    (y * np.array([1.0, 10.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0.0, 11.0, 0.0], [0.0, 0.0, 0.0]]]])


def test_max_pool2d_leaves_out_rows_and_columns_past_the_last_window():
    x = Tensor(np.arange(25.0).reshape(1, 1, 5, 5), requires_grad=True)
    y = ag.max_pool2d(x, 2)
    np.testing.assert_array_equal(y.data, [[[[6.0, 8.0], [16.0, 18.0]]]])
    y.sum().backward()
    assert x.grad[0, 0, 4].sum() == 0 and x.grad[0, 0, :, 4].sum() == 0


@pytest.mark.parametrize(
    ("shape", "args", "error", "match"),
    [
        (
            (1, 1, 2, 2),
            (3,),
            ShapeError,
            r"at least as large as the kernel \(3, 3\), got shape \(1, 1, 2, 2\)",
        ),
        ((4, 4), (2,), ShapeError, r"needs an \(N, C, H, W\) input.*got shape \(4, 4\)"),
        ((1, 1, 4, 4), (0,), ValueError, "kernel_size must be at least 1"),
        ((1, 1, 4, 4), (2, 0), ValueError, "stride must be at least 1"),
    ],
)
def test_max_pool2d_errors_name_the_shapes(shape, args, error, match):
    with pytest.raises(error, match=match):
        ag.max_pool2d(Tensor(np.zeros(shape)), *args)


def test_max_pool2d_of_float32_stays_float32():
    x = Tensor(make((2, 3, 4, 4), "distinct").astype(np.float32), requires_grad=True)
    y = ag.max_pool2d(x, 2)
    assert y.dtype == np.float32
    (y * y).sum().backward(create_graph=True)
    assert x.grad.dtype == np.float32


# ---------------------------------------------------------------- a small CNN end to end


def test_a_small_cnn_gradcheck_through_conv_relu_pool_and_cross_entropy():
    rng = np.random.default_rng(0)
    images, labels = rng.standard_normal((2, 1, 8, 8)), np.array([3, 1])
    w1, b1 = (
        Tensor(rng.standard_normal((3, 1, 3, 3)) * 0.5, requires_grad=True),
        Tensor(rng.standard_normal(3) * 0.1, requires_grad=True),
    )
    w2, b2 = (
        Tensor(rng.standard_normal((4, 3, 3, 3)) * 0.3, requires_grad=True),
        Tensor(rng.standard_normal(4) * 0.1, requires_grad=True),
    )
    w3 = Tensor(rng.standard_normal((16, 5)) * 0.3, requires_grad=True)

    def loss(w1, b1, w2, b2, w3):
        h = ag.max_pool2d(ag.conv2d(images, w1, b1, padding=1).relu(), 2)
        h = ag.max_pool2d(ag.conv2d(h, w2, b2, padding=1).relu(), 2)
        return ag.cross_entropy(h.reshape(2, 16) @ w3, labels)

    assert ag.gradcheck(loss, w1, b1, w2, b2, w3)


# ---------------------------------------------------------------- property-based check

PROPERTY = settings(max_examples=15, deadline=None, derandomize=True)


@PROPERTY
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    o=st.integers(1, 3),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    extra=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    seed=st.integers(0, 2**16),
)
def test_property_conv2d_and_max_pool2d_for_any_geometry(n, c, o, kernel, stride, padding, extra, seed):
    size = (max(kernel[0] - 2 * padding[0], 1) + extra[0], max(kernel[1] - 2 * padding[1], 1) + extra[1])
    x, w = make((n, c, *size), seed=seed), make((o, c, *kernel), seed=seed + 1)
    check_gradients(
        lambda x, w: ag.conv2d(x, w, stride=stride, padding=padding),
        lambda x, w: conv2d_loops(x, w, None, stride, padding),
        x,
        w,
        use_gradcheck=False,
    )
    if kernel[0] <= size[0] and kernel[1] <= size[1]:
        check_gradients(
            lambda x: ag.max_pool2d(x, kernel, stride),
            lambda x: max_pool2d_loops(x, kernel, stride),
            make((n, c, *size), "distinct", seed=seed),
            use_gradcheck=False,
        )
