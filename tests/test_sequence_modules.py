"""The sequence-model modules (Embedding, LayerNorm, BatchNorm1d/2d, GELU, Identity, MultiheadAttention,
ModuleDict, register_buffer): each against its definition written out in NumPy, PyTorch's parameter names
and layouts, gradients against central differences, and what ag.compile does with running statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import Tensor, nn

RNG = np.random.default_rng(0)


def softmax(s):
    p = np.exp(s - s.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def check_module_gradients(module, *inputs):
    projection = np.random.default_rng(5).standard_normal(module(*inputs).shape)
    assert ag.gradcheck(lambda *a: (module(*a) * projection).sum(), *inputs, wrt=list(module.parameters()))


# ---------------------------------------------------------------- Embedding, LayerNorm, GELU, Identity


def test_embedding_looks_up_rows_and_draws_them_from_a_standard_normal():
    emb = nn.Embedding(1000, 50, rng=0)
    assert [name for name, _ in emb.named_parameters()] == ["weight"] and emb.weight.shape == (1000, 50)
    assert abs(emb.weight.data.mean()) < 0.01 and abs(emb.weight.data.std() - 1) < 0.01
    ids = np.array([[3, 999, 3]])
    np.testing.assert_array_equal(emb(ids).data, emb.weight.data[ids])


def test_embedding_gradcheck():
    emb = nn.Embedding(5, 3, rng=1)
    ids = np.array([[0, 4, 0], [2, 2, 1]])
    projection = RNG.standard_normal((2, 3, 3))
    assert ag.gradcheck(lambda: (emb(ids) ** 2 * projection).sum(), wrt=list(emb.parameters()))


def test_layer_norm_module_matches_numpy_and_pytorch_names():
    ln = nn.LayerNorm(6)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(ln.weight.data, np.ones(6))
    ln.weight.data[...] = RNG.standard_normal(6)
    ln.bias.data[...] = RNG.standard_normal(6)
    x = RNG.standard_normal((2, 3, 6))
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-5) * ln.weight.data + ln.bias.data
    np.testing.assert_allclose(ln(x).data, want, rtol=1e-12)
    check_module_gradients(ln, Tensor(x, requires_grad=True))
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []


def test_gelu_and_identity_modules():
    x = RNG.standard_normal(5)
    np.testing.assert_array_equal(nn.GELU("tanh")(x).data, ag.gelu(x, "tanh").data)
    np.testing.assert_array_equal(nn.GELU()(x).data, ag.gelu(x).data)
    t = Tensor(x)
    assert nn.Identity(3, unused=True)(t) is t


# ---------------------------------------------------------------- BatchNorm


def test_batch_norm1d_buffers_follow_the_running_formula_and_eval_uses_them():
    bn = nn.BatchNorm1d(3, momentum=0.2)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    mean, var = np.zeros(3), np.ones(3)
    for step in range(4):
        x = RNG.standard_normal((8, 3)) * (step + 1) + step
        y = bn(x)
        batch_mean, batch_var = x.mean(0), x.var(0)
        np.testing.assert_allclose(y.data, (x - batch_mean) / np.sqrt(batch_var + 1e-5), rtol=1e-12)
        mean = 0.8 * mean + 0.2 * batch_mean
        var = 0.8 * var + 0.2 * batch_var * 8 / 7
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-13)
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-13)
    assert int(bn.num_batches_tracked) == 4
    bn.eval()
    x = RNG.standard_normal((5, 3))
    np.testing.assert_allclose(bn(x).data, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-12)
    assert int(bn.num_batches_tracked) == 4  # evaluation changes nothing


def test_batch_norm2d_normalises_each_channel_over_batch_and_image():
    bn = nn.BatchNorm2d(2)
    x = RNG.standard_normal((4, 2, 3, 3)) + np.array([1.0, -5.0])[:, None, None]
    y = bn(x).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)
    with pytest.raises(ValueError, match="4 dimensions"):
        bn(np.ones((4, 2)))


def test_batch_norm_gradcheck_in_training_and_evaluation():
    bn = nn.BatchNorm1d(3)
    x = Tensor(RNG.standard_normal((6, 3, 2)), requires_grad=True)
    check_module_gradients(bn, x)
    bn.eval()
    check_module_gradients(bn, x)


def test_buffers_save_load_and_convert_but_are_not_parameters(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model(RNG.standard_normal((5, 3)))
    assert len(list(model.parameters())) == 4
    assert [n for n, _ in model.named_buffers()] == [
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]
    path = model.save(tmp_path / "m.npz")
    other = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    other.load(path)
    np.testing.assert_array_equal(other[1].running_var, model[1].running_var)
    assert int(other[1].num_batches_tracked) == 1
    model.to(np.float32)
    assert model[1].running_mean.dtype == np.float32 and model[1].num_batches_tracked.dtype == np.int64


def test_register_buffer_checks_its_arguments():
    m = nn.Module()
    with pytest.raises(TypeError, match="Parameter"):
        m.register_buffer("b", Tensor([1.0]))
    m.register_buffer("b", np.zeros(2))
    m.b = np.ones(2)  # assigning replaces the buffer's array
    np.testing.assert_array_equal(m.state_dict()["b"], np.ones(2))


def test_module_dict_registers_by_key():
    d = nn.ModuleDict({"wte": nn.Embedding(4, 2), "ln_f": nn.LayerNorm(2)})
    assert list(d) == ["wte", "ln_f"] and len(d) == 2 and "wte" in d
    assert [n for n, _ in d.named_parameters()] == ["wte.weight", "ln_f.weight", "ln_f.bias"]
    d["head"] = nn.Linear(2, 4)
    assert list(d.keys())[-1] == "head"
    with pytest.raises(TypeError, match="not a Module"):
        d["x"] = 3


# ---------------------------------------------------------------- MultiheadAttention


def numpy_multihead_attention(q_in, k_in, v_in, state, heads, keep=None):
    """Multi-head attention on (N, L, E) arrays from a PyTorch-layout state dict, written out in NumPy."""
    w, b = state["in_proj_weight"], state["in_proj_bias"]
    e = w.shape[1]
    d = e // heads
    q, k, v = (
        x @ w[i * e : (i + 1) * e].T + b[i * e : (i + 1) * e] for i, x in enumerate((q_in, k_in, v_in))
    )

    def split(t):
        return t.reshape(t.shape[0], t.shape[1], heads, d).transpose(0, 2, 1, 3)

    scores = split(q) @ split(k).transpose(0, 1, 3, 2) / math.sqrt(d)
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    p = softmax(scores)
    o = (p @ split(v)).transpose(0, 2, 1, 3).reshape(q_in.shape)
    return o @ state["out_proj.weight"].T + state["out_proj.bias"], p


def random_state(e):
    return {
        "in_proj_weight": RNG.standard_normal((3 * e, e)) / 3,
        "in_proj_bias": RNG.standard_normal(3 * e),
        "out_proj.weight": RNG.standard_normal((e, e)) / 3,
        "out_proj.bias": RNG.standard_normal(e),
    }


def test_multihead_attention_has_pytorchs_parameter_layout_and_initial_values():
    mha = nn.MultiheadAttention(8, 2)
    shapes = {n: p.shape for n, p in mha.named_parameters()}
    assert shapes == {
        "in_proj_weight": (24, 8),
        "in_proj_bias": (24,),
        "out_proj.weight": (8, 8),
        "out_proj.bias": (8,),
    }
    assert not mha.in_proj_bias.data.any() and not mha.out_proj.bias.data.any()
    assert np.abs(mha.in_proj_weight.data).max() <= math.sqrt(6 / (8 + 24))  # Xavier uniform over (3E, E)


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_matches_numpy_with_padding_and_causal_masks(batch_first):
    mha = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    state = random_state(8)
    mha.load_state_dict(state)
    q, kv = RNG.standard_normal((3, 5, 8)), RNG.standard_normal((3, 6, 8))
    padding = np.zeros((3, 6), bool)
    padding[1, 4:] = True  # example 1: its last two keys are padding
    causal = ~np.tril(np.ones((5, 6), bool))  # True: may NOT attend
    keep = ~padding[:, None, None, :] & ~causal
    want, p = numpy_multihead_attention(q, kv, kv, state, 2, keep)

    def layout(t):
        return t if batch_first else t.transpose(1, 0, 2)

    out, weights = mha(layout(q), layout(kv), layout(kv), key_padding_mask=padding, attn_mask=causal)
    np.testing.assert_allclose(layout(out.data), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(weights.data, p.mean(axis=1), rtol=1e-12, atol=1e-15)
    _, per_head = mha(
        layout(q),
        layout(kv),
        layout(kv),
        key_padding_mask=padding,
        attn_mask=causal,
        average_attn_weights=False,
    )
    np.testing.assert_allclose(per_head.data, p, rtol=1e-12, atol=1e-15)
    out2, none = mha(
        layout(q),
        layout(kv),
        layout(kv),
        need_weights=False,
        key_padding_mask=padding,
        is_causal=True,
        attn_mask=causal,
    )
    assert none is None
    np.testing.assert_allclose(out2.data, out.data, rtol=1e-13)


def test_multihead_self_attention_float_mask_and_unbatched_input():
    mha = nn.MultiheadAttention(6, 3)
    state = random_state(6)
    mha.load_state_dict(state)
    x = RNG.standard_normal((4, 6))  # (L, E), no batch
    add = RNG.standard_normal((4, 4))
    out, w = mha(x, x, x, attn_mask=add)
    e = 6
    q, k, v = (
        x @ state["in_proj_weight"][i * e : (i + 1) * e].T + state["in_proj_bias"][i * e : (i + 1) * e]
        for i in range(3)
    )
    heads = [
        softmax(q[:, h * 2 : h * 2 + 2] @ k[:, h * 2 : h * 2 + 2].T / math.sqrt(2) + add) for h in range(3)
    ]
    o = np.concatenate([p @ v[:, h * 2 : h * 2 + 2] for h, p in enumerate(heads)], axis=1)
    np.testing.assert_allclose(out.data, o @ state["out_proj.weight"].T + state["out_proj.bias"], rtol=1e-12)
    np.testing.assert_allclose(w.data, np.mean(heads, axis=0), rtol=1e-12)


def test_multihead_attention_gradcheck():
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    mha.load_state_dict(random_state(4))
    x = Tensor(RNG.standard_normal((2, 3, 4)), requires_grad=True)
    projection = RNG.standard_normal((2, 3, 4))
    params = list(mha.parameters())
    assert ag.gradcheck(
        lambda t: (mha(t, t, t, is_causal=True, need_weights=False)[0] * projection).sum(), x, wrt=params
    )


# ---------------------------------------------------------------- ag.compile and training-mode state


def bn_model(seed):
    ag.nn.init.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))


def test_compiled_steps_update_running_statistics_as_eager_steps_do():
    eager, compiled = bn_model(0), bn_model(0)
    opt_e = ag.optim.SGD(eager.parameters(), lr=0.1)
    opt_c = ag.optim.SGD(compiled.parameters(), lr=0.1)

    def loss_of(model, x, y):
        return ag.cross_entropy(model(x), y)

    step = ag.compile(lambda x, y: loss_of(compiled, x, y))
    for _ in range(6):
        x, y = RNG.standard_normal((8, 4)), RNG.integers(0, 3, 8)
        for opt, loss in ((opt_e, loss_of(eager, x, y)), (opt_c, step(x, y))):
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert step.replays == 4  # traced, confirmed, then replayed
    np.testing.assert_allclose(compiled[1].running_mean, eager[1].running_mean, rtol=1e-12)
    np.testing.assert_allclose(compiled[1].running_var, eager[1].running_var, rtol=1e-12)
    assert int(compiled[1].num_batches_tracked) == int(eager[1].num_batches_tracked) == 6


def test_compile_with_check_refuses_running_statistic_updates():
    model = bn_model(1)
    step = ag.compile(lambda x: model(x).sum(), check=True)
    with pytest.raises(ag.AutogradError, match="running statistics"):
        step(RNG.standard_normal((8, 4)))


def test_compile_refuses_attention_dropout_clearly():
    mha = nn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True)
    step = ag.compile(lambda x: mha(x, x, x)[0].sum())
    x = Tensor(RNG.standard_normal((2, 3, 4)), requires_grad=True)
    with pytest.raises(ag.AutogradError, match="dropout"):
        step(x)


# ---------------------------------------------------------------- the docs' example


def test_the_docs_sequence_example_runs_and_prints_what_it_says(capsys):
    from docs_pages import example

    exec(compile(example("sequence models"), "docs (sequence models)", "exec"), {})
    assert capsys.readouterr().out.strip() == "(27, 16) (48, 16)"
