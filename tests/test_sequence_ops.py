"""The sequence-model ops (erf, gelu, layer_norm, batch_norm, embedding, one_hot, attention, avg_pool2d,
cross_entropy's ignore_index and label_smoothing): each against its definition written out in NumPy, and
each gradient against central differences in float64, to first and second order."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.ops.attention import MaskedSoftmax
from autograd_nn.ops.elementwise import erf_array, erfc_array
from autograd_nn.tensor import apply

RNG = np.random.default_rng(0)


def tensor(*shape, seed=0, scale=1.0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape) * scale, requires_grad=True)


def check_first_and_second_order(fn, *inputs):
    """gradcheck of a random projection of fn's output, then of the squared norm of its recorded gradient
    (which differentiates the VJP that create_graph recorded)."""
    projection = np.random.default_rng(99).standard_normal(fn(*inputs).shape)
    assert ag.gradcheck(lambda *a: (fn(*a) * projection).sum(), *inputs)

    def gradient_norm(*a):
        with ag.enable_grad():
            y = (fn(*a) * fn(*a) * projection).sum()
            grads = ag.grad(y, list(a), create_graph=True)
            return sum((g * g).sum() for g in grads)

    assert ag.gradcheck(gradient_norm, *inputs)


# ---------------------------------------------------------------- erf and GELU


def test_erf_matches_math_erf_to_full_precision_over_a_wide_range():
    xs = np.concatenate(
        [
            np.linspace(-8, 8, 40001),
            np.geomspace(1e-300, 30, 4000),
            -np.geomspace(1e-300, 30, 4000),
            [0.0, 0.5, 4.0],
        ]
    )
    want = np.array([math.erf(v) for v in xs])
    relative = np.abs(erf_array(xs) - want) / np.maximum(np.abs(want), 1e-300)
    assert relative.max() < 1e-15


def test_erfc_matches_math_erfc_where_it_is_a_normal_number():
    xs = np.linspace(-6, 26, 32001)
    want = np.array([math.erfc(v) for v in xs])
    normal = want > 1e-300
    relative = np.abs(erfc_array(xs) - want)[normal] / want[normal]
    assert relative.max() < 2e-15


def test_erf_limits_and_nan():
    got = ag.erf(np.array([np.inf, -np.inf, np.nan, 0.0, 40.0])).data
    np.testing.assert_array_equal(got[[0, 1, 3, 4]], [1.0, -1.0, 0.0, 1.0])
    assert np.isnan(got[2])


def test_erf_keeps_float32():
    assert ag.erf(np.ones(3, np.float32)).dtype == np.float32


def test_gelu_matches_its_definitions_in_numpy():
    x = RNG.standard_normal((5, 7)) * 3
    exact = x * 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x.ravel()]).reshape(x.shape))
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(ag.gelu(x).data, exact, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(ag.gelu(x, approximate="tanh").data, tanh, rtol=1e-14, atol=1e-15)


def test_exact_gelu_is_accurate_far_below_zero():
    x = np.array([-10.0, -20.0, -30.0])
    want = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])  # no cancellation
    # (erfc's condition number there is about x^2: the rounding of x / sqrt(2) alone moves it by 1e-13)
    np.testing.assert_allclose(ag.gelu(x).data, want, rtol=1e-12)
    assert (ag.gelu(x).data < 0).all()  # 0.5 x (1 + erf) would round to exactly 0


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradients(approximate):
    check_first_and_second_order(lambda x: ag.gelu(x, approximate), tensor(4, 5, scale=2))


def test_erf_gradients():
    check_first_and_second_order(ag.erf, tensor(4, 5))


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        ag.gelu(np.ones(2), approximate="sigmoid")


# ---------------------------------------------------------------- layer_norm


def numpy_layer_norm(x, axes, w, b, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def test_layer_norm_matches_numpy_over_one_and_two_axes():
    x = RNG.standard_normal((3, 4, 5))
    w, b = RNG.standard_normal(5), RNG.standard_normal(5)
    np.testing.assert_allclose(
        ag.layer_norm(x, 5, w, b).data, numpy_layer_norm(x, -1, w, b, 1e-5), rtol=1e-12
    )
    w2, b2 = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    np.testing.assert_allclose(
        ag.layer_norm(x, (4, 5), w2, b2, eps=1e-3).data, numpy_layer_norm(x, (1, 2), w2, b2, 1e-3), rtol=1e-12
    )
    np.testing.assert_allclose(ag.layer_norm(x, 5).data, numpy_layer_norm(x, -1, 1, 0, 1e-5), rtol=1e-12)


def test_layer_norm_gradients():
    check_first_and_second_order(
        lambda x, w, b: ag.layer_norm(x, 5, w, b), tensor(3, 4, 5), tensor(5, seed=1), tensor(5, seed=2)
    )
    check_first_and_second_order(
        lambda x, w: ag.layer_norm(x, (4, 5), w), tensor(3, 4, 5), tensor(4, 5, seed=3)
    )


def test_layer_norm_keeps_float32():
    x = np.ones((2, 3), np.float32)
    w = Tensor(np.ones(3, np.float32), requires_grad=True)
    y = ag.layer_norm(x * np.arange(3, dtype=np.float32), 3, w)
    y.sum().backward()
    assert y.dtype == np.float32 and w.grad.dtype == np.float32


def test_layer_norm_shape_errors_name_the_shapes():
    with pytest.raises(ag.ShapeError, match=r"normalized_shape \(4,\)"):
        ag.layer_norm(np.ones((2, 3)), 4)


# ---------------------------------------------------------------- batch_norm


def test_batch_norm_training_normalises_by_batch_statistics_and_updates_running_ones():
    x = RNG.standard_normal((6, 3, 4)) * 2 + 1
    w, b = RNG.standard_normal(3), RNG.standard_normal(3)
    running_mean, running_var = np.zeros(3), np.ones(3)
    y = ag.batch_norm(x, running_mean, running_var, w, b, training=True, momentum=0.25, eps=1e-4)
    mean = x.mean(axis=(0, 2))
    var = x.var(axis=(0, 2))
    want = (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-4) * w[:, None] + b[:, None]
    np.testing.assert_allclose(y.data, want, rtol=1e-12)
    n = 6 * 4
    np.testing.assert_allclose(running_mean, 0.75 * 0 + 0.25 * mean, rtol=1e-13)
    np.testing.assert_allclose(running_var, 0.75 * 1 + 0.25 * var * n / (n - 1), rtol=1e-13)


def test_batch_norm_evaluation_uses_the_running_statistics():
    x = RNG.standard_normal((5, 3, 2, 2))
    rm, rv = RNG.standard_normal(3), RNG.random(3) + 0.5
    w, b = RNG.standard_normal(3), RNG.standard_normal(3)
    before = rm.copy(), rv.copy()
    y = ag.batch_norm(x, rm, rv, w, b)
    shape = (1, 3, 1, 1)
    want = (x - rm.reshape(shape)) / np.sqrt(rv.reshape(shape) + 1e-5) * w.reshape(shape) + b.reshape(shape)
    np.testing.assert_allclose(y.data, want, rtol=1e-12)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])


def test_batch_norm_gradients_in_training_and_evaluation():
    rm, rv = np.zeros(4), np.ones(4)
    check_first_and_second_order(
        lambda x, w, b: ag.batch_norm(x, None, None, w, b, training=True),
        tensor(5, 4, 3),
        tensor(4, seed=1),
        tensor(4, seed=2),
    )
    check_first_and_second_order(
        lambda x, w, b: ag.batch_norm(x, rm, rv, w, b), tensor(5, 4, 3), tensor(4, seed=1), tensor(4, seed=2)
    )


def test_batch_norm_refuses_tensors_as_running_statistics():
    with pytest.raises(TypeError, match="running_mean must be a float ndarray"):
        ag.batch_norm(np.ones((2, 3)), Tensor(np.zeros(3)), np.ones(3), training=True)


# ---------------------------------------------------------------- embedding and one_hot


def test_embedding_picks_rows_and_keeps_the_index_shape():
    weight = RNG.standard_normal((6, 4))
    ids = np.array([[0, 5, 5], [2, 0, 1]])
    np.testing.assert_array_equal(ag.embedding(ids, weight).data, weight[ids])


@pytest.mark.parametrize("vocabulary", [7, 5000])  # one-hot product, and sorting for a large vocabulary
def test_embedding_gradient_sums_repeated_indices(vocabulary):
    weight = Tensor(RNG.standard_normal((vocabulary, 3)), requires_grad=True)
    ids = RNG.integers(0, min(vocabulary, 7), size=(900, 4))
    g = RNG.standard_normal((900, 4, 3))
    ag.embedding(ids, weight).backward(g)
    want = np.zeros((vocabulary, 3))
    np.add.at(want, ids, g)
    np.testing.assert_allclose(weight.grad, want, rtol=1e-12, atol=1e-12)


def test_embedding_gradients():
    ids = np.array([[0, 1, 0], [3, 3, 2]])
    check_first_and_second_order(lambda w: ag.embedding(ids, w * w), tensor(4, 3))


def test_embedding_refuses_float_and_out_of_range_indices():
    with pytest.raises(TypeError, match="indices must hold integers"):
        ag.embedding(np.array([0.0, 1.0]), np.ones((3, 2)))
    with pytest.raises(TypeError, match="integer ndarray"):
        ag.embedding(Tensor([0, 1]), np.ones((3, 2)))
    with pytest.raises(IndexError, match="index 3 is out of range for 3 rows"):
        ag.embedding(np.array([0, 3]), np.ones((3, 2)))


def test_one_hot_is_an_integer_array_like_pytorch():
    got = ag.one_hot(np.array([[2, 0], [1, 2]]), 4)
    assert got.dtype == np.int64 and got.shape == (2, 2, 4)
    np.testing.assert_array_equal(got, np.eye(4, dtype=np.int64)[[[2, 0], [1, 2]]])
    assert ag.one_hot(np.array([0, 3])).shape == (2, 4)


# ---------------------------------------------------------------- scaled_dot_product_attention


def numpy_attention(q, k, v, keep=None, add=None, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if add is not None:
        s = s + add
    if keep is not None:
        s = np.where(keep, s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return p @ v


def test_attention_matches_numpy_with_every_kind_of_mask():
    q, k, v = (
        RNG.standard_normal((2, 3, 5, 4)),
        RNG.standard_normal((2, 3, 6, 4)),
        RNG.standard_normal((2, 3, 6, 2)),
    )
    keep = RNG.random((5, 6)) > 0.4
    keep[:, 0] = True
    add = RNG.standard_normal((5, 6))
    sdpa = ag.scaled_dot_product_attention
    np.testing.assert_allclose(sdpa(q, k, v).data, numpy_attention(q, k, v), rtol=1e-12)
    np.testing.assert_allclose(
        sdpa(q, k, v, attn_mask=keep).data, numpy_attention(q, k, v, keep=keep), rtol=1e-12
    )
    np.testing.assert_allclose(
        sdpa(q, k, v, attn_mask=add).data, numpy_attention(q, k, v, add=add), rtol=1e-12
    )
    np.testing.assert_allclose(sdpa(q, k, v, scale=0.2).data, numpy_attention(q, k, v, scale=0.2), rtol=1e-12)
    causal = np.tril(np.ones((5, 6), bool))
    np.testing.assert_allclose(
        sdpa(q, k, v, is_causal=True).data, numpy_attention(q, k, v, keep=causal), rtol=1e-12
    )


def test_attention_gradients_with_a_causal_mask():
    check_first_and_second_order(
        lambda q, k, v: ag.scaled_dot_product_attention(q, k, v, is_causal=True),
        tensor(2, 4, 3),
        tensor(2, 4, 3, seed=1),
        tensor(2, 4, 2, seed=2),
    )


def test_attention_dropout_is_reproducible_from_rng_and_refuses_both_masks():
    q = RNG.standard_normal((2, 4, 3))
    a = ag.scaled_dot_product_attention(q, q, q, dropout_p=0.5, rng=np.random.default_rng(1))
    b = ag.scaled_dot_product_attention(q, q, q, dropout_p=0.5, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ValueError, match="not both"):
        ag.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 4), bool), is_causal=True)


def test_softmax_fused_vjp_matches_the_formula():
    x = tensor(3, 4, 6)
    g = RNG.standard_normal((3, 4, 6))
    ag.softmax(x).backward(g)
    p = np.exp(x.data - x.data.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(x.grad, p * (g - (g * p).sum(-1, keepdims=True)), rtol=1e-12, atol=1e-15)
    check_first_and_second_order(lambda x: ag.softmax(x, axis=1), tensor(3, 4, 2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_and_causal_attention_weights_on_attention_sized_rows_match_numpy(dtype):
    # rows of 32 in arrays of 4096+ values take the row sums and maxima's fast paths (BLAS, a transposed copy)
    x = (RNG.standard_normal((8, 4, 32, 32)) * 1000).astype(dtype)  # any shift but the maximum overflows
    x[0, 0, 3, 7] = -np.inf  # a row with a -inf entry (and one fully masked row below)
    p = np.exp(x - x.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ag.softmax(x).data, p, rtol=rtol, atol=rtol * 1e-3)
    keep = np.tril(np.ones((32, 32), bool))
    keep_all = np.broadcast_to(keep, x.shape).copy()
    keep_all[1, 2, 5] = False
    masked = np.where(keep_all, x, -np.inf)
    with np.errstate(invalid="ignore"):
        want = np.exp(masked - masked.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    got = apply(MaskedSoftmax(keep_all), Tensor(x)).data
    assert np.isnan(got[1, 2, 5]).all()  # nothing kept: NaN, as in PyTorch
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=rtol * 1e-3)


# ---------------------------------------------------------------- avg_pool2d


def test_avg_pool2d_matches_the_window_means():
    x = RNG.standard_normal((2, 3, 7, 9))
    got = ag.avg_pool2d(x, (2, 3), stride=(1, 2)).data
    want = np.array(
        [
            [
                [[x[n, c, i : i + 2, 2 * j : 2 * j + 3].mean() for j in range(4)] for i in range(6)]
                for c in range(3)
            ]
            for n in range(2)
        ]
    )
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert ag.avg_pool2d(x, 2).shape == (2, 3, 3, 4)


def test_avg_pool2d_gradients():
    check_first_and_second_order(lambda x: ag.avg_pool2d(x, 2, stride=1), tensor(2, 2, 4, 5))


# ---------------------------------------------------------------- cross_entropy: ignore_index, label_smoothing


def numpy_cross_entropy(logits, labels, reduction="mean", ignore_index=-100, smoothing=0.0):
    log_p = logits - logits.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    k = logits.shape[-1]
    kept = labels != ignore_index
    safe = np.where(kept, labels, 0)
    per_row = -(1 - smoothing) * np.take_along_axis(log_p, safe[..., None], -1)[..., 0]
    per_row -= smoothing / k * log_p.sum(-1)
    per_row = np.where(kept, per_row, 0.0)
    if reduction == "none":
        return per_row
    return per_row.sum() / (kept.sum() if reduction == "mean" else 1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_cross_entropy_ignore_index_and_label_smoothing_match_numpy(reduction, smoothing):
    logits = RNG.standard_normal((4, 6, 5))
    labels = RNG.integers(0, 5, (4, 6))
    labels[0, :3] = -100
    labels[2, 1] = -100
    got = ag.cross_entropy(logits, labels, reduction=reduction, label_smoothing=smoothing).data
    want = numpy_cross_entropy(logits, labels, reduction, smoothing=smoothing)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_cross_entropy_with_another_ignore_index():
    logits, labels = RNG.standard_normal((6, 3)), np.array([0, 1, 2, 1, 1, 0])
    got = ag.cross_entropy(logits, labels, ignore_index=1).data
    np.testing.assert_allclose(got, numpy_cross_entropy(logits, labels, ignore_index=1), rtol=1e-12)


def test_cross_entropy_ignore_and_smoothing_gradients():
    labels = np.array([[1, -100, 2], [0, 2, -100]])
    check_first_and_second_order(lambda z: ag.cross_entropy(z, labels, label_smoothing=0.2), tensor(2, 3, 4))
    check_first_and_second_order(lambda z: ag.cross_entropy(z, labels, reduction="none"), tensor(2, 3, 4))


def test_cross_entropy_smoothing_of_probability_targets():
    logits = RNG.standard_normal((5, 4))
    p = RNG.random((5, 4))
    p /= p.sum(-1, keepdims=True)
    smoothed = p * 0.7 + 0.3 / 4
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    got = ag.cross_entropy(logits, p, label_smoothing=0.3).data
    np.testing.assert_allclose(got, -(smoothed * log_p).sum(-1).mean(), rtol=1e-12)


def test_cross_entropy_rejects_a_smoothing_outside_0_1():
    with pytest.raises(ValueError, match="label_smoothing"):
        ag.cross_entropy(np.ones((2, 3)), np.array([0, 1]), label_smoothing=1.5)
