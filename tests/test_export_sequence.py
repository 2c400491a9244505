"""ONNX export of the sequence blocks: embeddings (int64 token ids as graph inputs), LayerNorm, GELU and erf,
BatchNorm in evaluation mode, masked attention. Every export passes onnx's full check, and onnxruntime and
onnx's reference evaluator compute what the engine computes at several batch sizes (the batch axis symbolic).

Skipped when onnx or onnxruntime is missing, except under AUTOGRAD_NN_REQUIRE_ONNX=1 (set in CI).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

try:
    import onnx
    import onnxruntime
    from onnx.reference import ReferenceEvaluator
except ImportError as missing:
    if os.environ.get("AUTOGRAD_NN_REQUIRE_ONNX") == "1":
        raise ImportError(f"AUTOGRAD_NN_REQUIRE_ONNX=1 but {missing}; pip install -e '.[onnx]'") from None
    pytest.skip(f"{missing} (pip install -e '.[onnx]')", allow_module_level=True)

import autograd_nn as ag
from autograd_nn import Tensor, nn

TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
BATCHES = (1, 3, 8)


def export_and_compare(fn, make_inputs, path, batches=BATCHES, **options):
    """Export fn traced at batch 2; then, for each batch size, both runtimes must give fn's outputs."""
    ag.export_onnx(fn, tuple(make_inputs(2)), path, overwrite=True, **options)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference = ReferenceEvaluator(model)
    names = [i.name for i in model.graph.input]
    for batch in batches:
        arrays = make_inputs(batch)
        want = fn(*[a if a.dtype.kind in "iu" else Tensor(a) for a in arrays]).data
        for runtime in (session, reference):
            (got,) = runtime.run(None, dict(zip(names, arrays, strict=True)))
            assert got.dtype == want.dtype and got.shape == want.shape
            rtol = TOLERANCE[want.dtype]
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    return model


def floats(*shape, dtype=np.float64, scale=2.0):
    return lambda batch: [
        (np.random.default_rng(batch).standard_normal((batch, *shape)) * scale).astype(dtype)
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_exports(tmp_path, dtype, approximate):
    model = export_and_compare(
        lambda x: ag.gelu(x, approximate), floats(5, 7, dtype=dtype, scale=4), tmp_path / "g.onnx"
    )
    ops = {node.op_type for node in model.graph.node}
    assert ("Tanh" in ops) == (approximate == "tanh")
    assert ("Erf" in ops) == (approximate == "none" and dtype == np.float32)  # float64: Cody's formulas


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference evaluator's branches Where leaves out
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_erf_exports_over_its_whole_range(tmp_path, dtype):
    def make(batch):
        x = np.linspace(-7, 7, 57 * batch).reshape(batch, 57)
        x[0, :3] = [0.0, np.inf, -np.inf]
        return [x.astype(dtype)]

    export_and_compare(ag.erf, make, tmp_path / "erf.onnx")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_norm_exports(tmp_path, dtype):
    ln = nn.LayerNorm(6, dtype=dtype)
    ln.weight.data[...] = np.linspace(0.5, 2, 6)
    ln.bias.data[...] = np.linspace(-1, 1, 6)
    model = export_and_compare(ln, floats(4, 6, dtype=dtype), tmp_path / "ln.onnx")
    assert ("LayerNormalization" in {n.op_type for n in model.graph.node}) == (dtype == np.float32)


def test_batch_norm_exports_in_evaluation_mode_and_refuses_training(tmp_path):
    bn1, bn2 = nn.BatchNorm1d(3), nn.BatchNorm2d(3)
    for bn, shape in ((bn1, (3, 5)), (bn2, (3, 4, 4))):
        for _ in range(3):
            bn(np.random.default_rng(1).standard_normal((6, *shape)) * 3 + 1)  # running statistics move
        with pytest.raises(ag.ExportError, match="evaluation mode"):
            ag.export_onnx(bn, floats(*shape)(2)[0], tmp_path / "bn.onnx", overwrite=True)
        bn.eval()
        bn.weight.data[...] = [0.5, 1.5, 2.0]
        export_and_compare(bn, floats(*shape), tmp_path / "bn.onnx")


def test_avg_pool2d_exports(tmp_path):
    for dtype in (np.float64, np.float32):
        export_and_compare(
            lambda x: ag.avg_pool2d(x, (2, 3), stride=(1, 2)),
            floats(2, 6, 7, dtype=dtype),
            tmp_path / "pool.onnx",
        )


class TinyGPT(nn.Module):
    """Token and position embeddings, one pre-norm attention block with a causal mask, GELU MLP, head."""

    def __init__(self, dtype=np.float64) -> None:
        super().__init__()
        ag.nn.init.manual_seed(0)
        self.wte, self.wpe = nn.Embedding(11, 8, dtype=dtype), nn.Embedding(6, 8, dtype=dtype)
        self.ln_1, self.ln_2 = nn.LayerNorm(8, dtype=dtype), nn.LayerNorm(8, dtype=dtype)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True, dtype=dtype)
        self.fc, self.proj = nn.Linear(8, 16, dtype=dtype), nn.Linear(16, 8, dtype=dtype)
        self.head = nn.Linear(8, 11, dtype=dtype)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(np.arange(ids.shape[1]))
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, is_causal=True)[0]
        x = x + self.proj(ag.gelu(self.fc(self.ln_2(x)), "tanh"))
        return self.head(x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_small_gpt_exports_with_int64_token_ids(tmp_path, dtype):
    def make(batch):
        return [np.random.default_rng(batch).integers(0, 11, (batch, 6))]

    model = export_and_compare(TinyGPT(dtype), make, tmp_path / "gpt.onnx")
    (ids,) = model.graph.input
    assert ids.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert ids.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert "Gather" in {n.op_type for n in model.graph.node}


def test_attention_with_a_float_mask_and_a_boolean_mask_exports(tmp_path):
    keep = np.tril(np.ones((5, 5), bool))
    add = np.random.default_rng(0).standard_normal((5, 5))

    def fn(q):
        return ag.scaled_dot_product_attention(
            q, q * 0.5, q, attn_mask=keep
        ) + ag.scaled_dot_product_attention(q, q, q, attn_mask=add)

    export_and_compare(fn, floats(2, 5, 4), tmp_path / "sdpa.onnx")


def test_token_ids_copied_before_the_embedding_are_an_error_not_a_frozen_constant(tmp_path):
    emb = nn.Embedding(5, 3)
    with pytest.raises(ag.ExportError, match="'indices' of embedding changes with the batch size"):
        ag.export_onnx(
            lambda ids: emb(ids.copy()) * 1, np.array([[1, 2]]), tmp_path / "e.onnx", overwrite=True
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_small_gpt_exports_with_symbolic_batch_and_sequence_axes(tmp_path, dtype):
    gpt = TinyGPT(dtype)
    path = tmp_path / "gpt.onnx"
    ag.export_onnx(gpt, np.random.default_rng(0).integers(0, 11, (2, 4)), path, dynamic_sequence=True)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "sequence"]
    assert [d.dim_param for d in model.graph.output[0].type.tensor_type.shape.dim][:2] == [
        "batch",
        "sequence",
    ]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference = ReferenceEvaluator(model)
    for batch, length in ((1, 1), (3, 6), (5, 3), (2, 5)):  # the position table has 6 rows: lengths up to 6
        ids = np.random.default_rng(batch * 10 + length).integers(0, 11, (batch, length))
        want = gpt(ids).data
        for runtime in (session, reference):
            (got,) = runtime.run(None, {"input": ids})
            rtol = TOLERANCE[np.dtype(dtype)]
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
