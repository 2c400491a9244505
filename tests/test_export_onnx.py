"""ONNX export: every exported model passes onnx's full check, and onnxruntime and onnx's reference
evaluator both compute what the engine's forward computes, for several batch sizes.

Skipped when onnx or onnxruntime is missing, except under AUTOGRAD_NN_REQUIRE_ONNX=1 (set in CI),
where a missing package fails the run.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    import onnx
    import onnxruntime
    from onnx.reference import ReferenceEvaluator
except ImportError as missing:
    if os.environ.get("AUTOGRAD_NN_REQUIRE_ONNX") == "1":
        raise ImportError(f"AUTOGRAD_NN_REQUIRE_ONNX=1 but {missing}; pip install -e '.[onnx]'") from None
    pytest.skip(f"{missing} (pip install -e '.[onnx]')", allow_module_level=True)

from docs_pages import page

import autograd_nn as ag
from autograd_nn import Tensor, nn, ops
from autograd_nn.digits.cli import main
from autograd_nn.digits.network import Network
from autograd_nn.export.onnx import _EXPORTERS
from autograd_nn.export.trace import topological_order, value_of
from autograd_nn.nn.recurrent_export import RecurrentLayer
from autograd_nn.tensor import apply

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
BATCHES = (1, 3, 8)


def assert_matches(got: np.ndarray, want: np.ndarray, computed_in=None) -> None:
    """Equal in dtype and shape, and within the tolerance of the float type the values were computed
    in (``computed_in``: float32 if any of it was; default the output's), relative to the output's
    scale: a relative error per element, floored at the tolerance times the largest finite |value|.
    Infinities must match exactly."""
    assert got.dtype == want.dtype and got.shape == want.shape
    rtol = max(TOLERANCE[want.dtype], TOLERANCE[np.dtype(computed_in or want.dtype)])
    scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, equal_nan=True)


def check_export(fn, make_inputs, path: Path, batches=BATCHES, trace_batch=2, **options) -> onnx.ModelProto:
    """Export ``fn`` traced on ``make_inputs(trace_batch)``, then compare both runtimes with the engine
    on fresh inputs of every batch size. Returns the model read back from the file."""
    options.setdefault("overwrite", True)
    ag.export_onnx(fn, tuple(make_inputs(trace_batch)), path, **options)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference = ReferenceEvaluator(model)
    names = [i.name for i in model.graph.input]
    for batch in batches:
        arrays = make_inputs(batch)
        result = fn(*[Tensor(a) for a in arrays])
        wanted = [t.data for t in (result if isinstance(result, tuple) else (result,))]
        feeds = dict(zip(names, arrays, strict=True))
        min_precision = np.float32 if any(a.dtype == np.float32 for a in arrays) else np.float64
        for runtime in (session, reference):
            got = runtime.run(None, feeds)
            assert len(got) == len(wanted)
            for g, w in zip(got, wanted, strict=True):
                assert_matches(np.asarray(g), w, computed_in=min_precision)
    return model


def uniform_inputs(*shapes, dtype=np.float64, seed=0, low=-2.0, high=2.0):
    """make_inputs for check_export: arrays of (batch, *shape) for each shape, from a fixed seed."""

    def make(batch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([seed, batch])
        return [rng.uniform(low, high, size=(batch, *s)).astype(dtype) for s in shapes]

    return make


# ---------------------------------------------------------------- the tutorial network


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["forward", "logits"])
def test_the_tutorial_network_runs_the_same_in_onnxruntime_and_the_reference(tmp_path, dtype, method):
    net = Network([64, 25, 10], seed=3, dtype=dtype, input_scale=16.0)
    model = check_export(
        getattr(net, method),
        uniform_inputs((64,), dtype=dtype, low=0, high=16),
        tmp_path / "net.onnx",
        batches=(1, 5, 64),
        input_names=["X"],
        output_names=["scores"],
    )
    stored = {init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer}
    for theta, bias in net.params:  # parameters are initializers under their own names, bit for bit
        np.testing.assert_array_equal(stored[theta.name], theta.data)
        np.testing.assert_array_equal(stored[bias.name], bias.data)
    [graph_input] = model.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert graph_input.name == "X" and dims[0].dim_param == "batch" and dims[1].dim_value == 64
    assert model.graph.output[0].name == "scores"


def test_the_exported_network_has_one_node_per_recorded_op_and_its_names(tmp_path):
    net = Network([64, 25, 10], input_scale=16.0)
    model = ag.export_onnx(net.forward, np.zeros((1, 64)), tmp_path / "net.onnx")
    assert [n.op_type for n in model.graph.node] == [
        "Div",
        *["Transpose", "MatMul", "Add", "Sigmoid"] * 2,
    ]
    outputs = {o for n in model.graph.node for o in n.output}
    assert {"z2", "a2", "z3"} <= outputs  # the tensors' names (the tutorial's) name the values
    assert any(n.name.startswith("layer1/") for n in model.graph.node)  # name scopes prefix node names


def test_a_plain_function_with_two_inputs_and_two_outputs(tmp_path):
    rng = np.random.default_rng(1)
    W = Tensor(rng.normal(size=(4, 3)), requires_grad=True, name="W")

    def fn(x, y):
        h = (x @ W).tanh()
        return h * y, (h - y).sum(axis=1)

    model = check_export(
        fn,
        uniform_inputs((4,), (3,)),
        tmp_path / "f.onnx",
        input_names=["x", "y"],
        output_names=["product", "total"],
    )
    assert [i.name for i in model.graph.input] == ["x", "y"]
    assert [o.name for o in model.graph.output] == ["product", "total"]
    assert [i.name for i in model.graph.initializer if i.name == "W"] == ["W"]


def test_a_deep_graph_exports_without_recursion(tmp_path):
    def deep(x):
        for _ in range(3000):
            x = (x * 0.999).tanh()
        return x

    model = check_export(deep, uniform_inputs((3,)), tmp_path / "deep.onnx", batches=(4,))
    assert len(model.graph.node) == 6000


def test_without_dynamic_batch_the_input_shape_is_fixed(tmp_path):
    model = check_export(
        lambda x: x.sum(axis=0),
        uniform_inputs((3,)),
        tmp_path / "f.onnx",
        batches=(2,),
        trace_batch=2,
        dynamic_batch=False,
    )
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [2, 3]


@pytest.mark.parametrize("opset", [18, 21])
def test_other_opsets(tmp_path, opset):
    model = check_export(
        lambda x: x.softmax(axis=1).max(axis=1), uniform_inputs((5,)), tmp_path / "f.onnx", opset=opset
    )
    assert model.opset_import[0].version == opset


# ---------------------------------------------------------------- every mapped op

RNG = np.random.default_rng(7)
W44 = Tensor(RNG.normal(size=(4, 4)), requires_grad=True, name="W")
Y34 = RNG.uniform(0, 1, size=(3, 4))  # a constant: bce targets
Y01 = np.array([[0, 1, 0.5, 0], [1, 0, 1, 0.25], [0, 1, 0, 1]])  # targets 0 and 1 weigh one side 0
INFINITIES = np.array([[np.inf, -np.inf, 0, -np.inf], [0, np.inf, -np.inf, 0], [np.inf, 0, np.inf, -np.inf]])

# Each entry maps values of shape (batch, 3, 4) to one value of that shape, through the op(s) named.
OP_CASES = {
    "add": lambda x: x + 1.5,
    "sub": lambda x: 0.5 - x,
    "mul": lambda x: x * x,
    "div": lambda x: x / (x * x + 1),
    "neg": lambda x: -x,
    "pow2": lambda x: x**2,
    "pow3": lambda x: x**3,
    "pow_half": lambda x: (x * x + 0.5) ** 0.5,
    "pow_minus_1.5": lambda x: (x * x + 0.5) ** -1.5,
    "pow_tensor_exponent": lambda x: (x * x + 0.5) ** (x * 0.5),
    "pow_tensor_of_a_number": lambda x: 2.0**x + x ** np.arange(4.0).astype(x.dtype),
    "cast": lambda x: apply(ops.Cast(np.float32), x) * 2,
    "matmul": lambda x: x @ W44,
    "matmul_batched": lambda x: (x @ x.transpose(0, 2, 1)) @ x / 10,
    "exp": lambda x: x.tanh().exp(),
    "log": lambda x: (x * x + 0.1).log(),
    "sigmoid": lambda x: x.sigmoid(),
    "tanh": lambda x: x.tanh(),
    "relu": lambda x: x.relu(),
    "sum": lambda x: x.sum(axis=2, keepdims=True) + x,
    "sum_all": lambda x: x.sum() + x,
    "sum_two_axes": lambda x: x + x.sum(axis=(1, 2)).reshape(-1, 1, 1),
    "sum_no_axes": lambda x: x.sum(axis=()),
    "sum_no_axes_of_a_shared_result": lambda x: (lambda e: e.sum(axis=()) * e)(x.exp()),
    "getitem_everything_of_a_shared_result": lambda x: (lambda d: d[:] + d)(x * 2),
    "mean": lambda x: x - x.mean(axis=1, keepdims=True),
    "mean_all": lambda x: x - x.mean(),
    "max": lambda x: x - x.max(axis=-1, keepdims=True),
    "max_dropped_axis": lambda x: x - x.max(axis=1)[:, None, :],
    "logsumexp": lambda x: x - x.logsumexp(axis=2, keepdims=True),
    "logsumexp_dropped": lambda x: x * (10 * x).logsumexp(axis=1)[:, None, :],
    "logsumexp_of_minus_inf": lambda x: (x + Tensor(_minus_inf_row())).logsumexp(axis=2, keepdims=True) + x,
    "softmax": lambda x: x.softmax(axis=1),
    "softmax_last": lambda x: (5 * x).softmax(),
    "log_softmax": lambda x: x.log_softmax(axis=2),
    "bce_none": lambda x: ag.binary_cross_entropy_with_logits(40 * x, Y34.astype(x.dtype), reduction="none"),
    "bce_mean": lambda x: ag.binary_cross_entropy_with_logits(x, Y34.astype(x.dtype)) + x,
    "bce_sum_broadcast": lambda x: (
        ag.binary_cross_entropy_with_logits(x, Y34[0].astype(x.dtype), reduction="sum") + x
    ),
    "bce_mean_broadcast": lambda x: ag.binary_cross_entropy_with_logits(x[:, :1, :], Y34.astype(x.dtype)) + x,
    "bce_infinite_logits": lambda x: ag.binary_cross_entropy_with_logits(
        x + Tensor(INFINITIES.astype(x.dtype)), Y01.astype(x.dtype), reduction="none"
    ),
    "bce_mean_overflowing_sum": lambda x: (
        ag.binary_cross_entropy_with_logits(x * (np.finfo(x.dtype).max / 2.5), Y01.astype(x.dtype)) + x
    ),
    "reshape": lambda x: x.reshape(x.shape[0], 12).reshape(x.shape),
    "reshape_batch_inside": lambda x: (x.reshape(-1, 4) * 2).reshape(x.shape[0], 3, 4),
    "transpose": lambda x: (x.transpose(0, 2, 1) * Tensor(np.arange(3.0))).transpose(0, 2, 1),
    "transpose_all": lambda x: x.T.T,
    "getitem_slices": lambda x: x[:, ::-1, 1:].sum(axis=2, keepdims=True) + x,
    "getitem_negative_steps": lambda x: x[:, 2:0:-1, ::-2].sum() + x,
    "getitem_int_and_none": lambda x: x[:, None, 0, :] + x,
    "getitem_ellipsis": lambda x: x[..., -1:] * x,
    "getitem_last_row": lambda x: x[-1] + x,
    "getitem_array": lambda x: x[..., [3, 0, 1, 1]],
    "getitem_array_rows": lambda x: x[:, np.array([[2], [0], [0]])].reshape(x.shape[0], 3, 4),
    "abs": lambda x: x.abs(),
    "sqrt": lambda x: (x * x + 0.1).sqrt(),
    "softplus": lambda x: ag.softplus(30 * x),
    "leaky_relu": lambda x: ag.leaky_relu(x, 0.1),
    "min": lambda x: x - x.min(axis=2, keepdims=True),
    "var": lambda x: x - x.var(axis=1, keepdims=True),
    "var_all": lambda x: x.var() + x,
    "var_over_the_batch": lambda x: x * x.var(axis=0),
    "std": lambda x: x.std(axis=(1, 2), keepdims=True) * x,
    "std_over_the_batch": lambda x: x - x.std(axis=(0, 2), keepdims=True),
    "where": lambda x: ag.where(Y34 > 0.5, x, -x),
    "where_broadcast": lambda x: ag.where(np.arange(4) % 2 == 0, x, x * x),
    "maximum": lambda x: ag.maximum(x, 0.3 * x[:, ::-1]),
    "minimum": lambda x: ag.minimum(x, Tensor(Y34.astype(x.dtype))),
    "clip": lambda x: x.clip(-0.5, 0.7),
    "clip_array_bound": lambda x: ag.clip(x, np.full(4, -0.3, dtype=x.dtype), None),
    "concatenate": lambda x: ag.concatenate([x[:, :1], x[:, 1:] * 2], axis=1),
    "concatenate_batches": lambda x: ag.concatenate([x, 2 * x]).reshape(2, -1, 3, 4).sum(axis=0),
    "stack": lambda x: ag.stack([x, x * x], axis=1).sum(axis=1),
    "stack_last": lambda x: ag.stack([x, -x], axis=-1).max(axis=-1),
    "mse_none": lambda x: ag.mse_loss(x, x.tanh(), reduction="none"),
    "mse_mean": lambda x: ag.mse_loss(x, x.sigmoid()) + x,
    "mse_sum": lambda x: ag.mse_loss(x, x * 0.5, reduction="sum") + x,
    "cross_entropy_soft": lambda x: (
        ag.cross_entropy(x, (2 * x).softmax(axis=-1), reduction="none")[..., None] + x
    ),
    "cross_entropy_soft_mean": lambda x: ag.cross_entropy(x, (2 * x).softmax(axis=-1)) * x,
    "float32_constant": lambda x: x + np.ones(4, dtype=np.float32) / 3,
    "float64_constant_promotes": lambda x: x * (np.arange(4.0) / 3),  # float32 x gives float64
}


def _minus_inf_row() -> np.ndarray:
    row = np.zeros((3, 4))
    row[1] = -np.inf  # a row whose maximum is -inf: logsumexp shifts by 0 there, giving -inf
    return row


# NumPy's warnings inside onnx's reference evaluator, for the infinities these cases are about
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")  # log(0) = -inf
@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")  # 0 * inf
@pytest.mark.filterwarnings(
    "ignore:overflow encountered in reduce:RuntimeWarning"
)  # a sum past the largest float
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(OP_CASES))
def test_every_mapped_op_matches_the_engine(tmp_path, name, dtype):
    check_export(OP_CASES[name], uniform_inputs((3, 4), dtype=dtype, seed=len(name)), tmp_path / "op.onnx")


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
def test_the_op_table_is_exercised_by_the_tests():
    """Every op with an ONNX mapping appears in some program above, or in a test of its own below."""
    seen = {ops.ScatterAdd, ops.BroadcastTo, ops.NLLLoss, ops.Dropout, ops.Conv2d, ops.MaxPool2d}
    seen |= {  # the sequence blocks: exported and run in tests/test_export_sequence.py
        ops.Embedding,
        ops.Erf,
        ops.GELU,
        ops.LayerNormalization,
        ops.BatchNorm,
        ops.MaskedSoftmax,
        ops.AvgPool2d,
    }
    seen.add(RecurrentLayer)  # RNN/GRU/LSTM recorded whole by export: tests/test_export_recurrent.py
    for fn in OP_CASES.values():
        out = fn(Tensor(np.ones((2, 3, 4)), requires_grad=True))
        seen |= {type(v) for v in topological_order([value_of(out)]) if not isinstance(v, Tensor)}
    assert set(_EXPORTERS) <= seen, set(_EXPORTERS) - seen


def test_scatter_add_and_broadcast_to_on_fixed_shapes(tmp_path):
    index = (np.array([0, 2, 0, 1]), slice(None))  # row 0 twice: repeated indices accumulate

    def fn(x):
        spread = apply(ops.ScatterAdd(index, (3, 5)), x)
        return apply(ops.BroadcastTo((2, 3, 5)), spread) * 2

    check_export(
        fn,
        uniform_inputs((5,), seed=4),
        tmp_path / "f.onnx",
        batches=(4,),
        trace_batch=4,
        dynamic_batch=False,
    )


def test_broadcast_to_keeps_the_batch_axis_dynamic(tmp_path):
    check_export(
        lambda x: apply(ops.BroadcastTo((2, x.shape[0], 3)), x), uniform_inputs((3,)), tmp_path / "f.onnx"
    )


def test_getitem_with_several_index_arrays_on_fixed_shapes(tmp_path):
    fn = lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 2])]  # noqa: E731
    check_export(
        fn, uniform_inputs((3,)), tmp_path / "f.onnx", batches=(2,), trace_batch=2, dynamic_batch=False
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_labels_on_a_fixed_batch(tmp_path, dtype, reduction):
    labels = np.array([2, 0, 3, 3])  # one label per example: the batch is fixed by the labels
    check_export(
        lambda x: ag.cross_entropy(x, labels, reduction=reduction),
        uniform_inputs((4,), dtype=dtype),
        tmp_path / "f.onnx",
        batches=(4,),
        trace_batch=4,
        dynamic_batch=False,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("labels", "ignore_index"),
    [(np.array([2, -100, 3, 0]), -100), (np.array([2, 3, 3, 0]), 3), (np.array([2, 0, 3, 0]), -100)],
    ids=["row 1 ignored", "rows 1 and 2 ignored (a class)", "none ignored"],
)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_with_ignored_labels_and_label_smoothing(
    tmp_path, dtype, reduction, labels, ignore_index, smoothing
):
    check_export(
        lambda x: ag.cross_entropy(
            x, labels, reduction=reduction, ignore_index=ignore_index, label_smoothing=smoothing
        ),
        uniform_inputs((4,), dtype=dtype),
        tmp_path / "f.onnx",
        batches=(4,),
        trace_batch=4,
        dynamic_batch=False,
    )


def test_labels_of_one_per_example_need_dynamic_batch_off(tmp_path):
    with pytest.raises(ag.ExportError, match=r"of nll_loss\(mean\) changes with the batch size"):
        ag.export_onnx(
            lambda x: ag.cross_entropy(x, np.zeros(len(x), dtype=int)), np.ones((3, 4)), tmp_path / "f.onnx"
        )


def test_dropout_in_training_mode_is_refused_and_left_out_in_eval_mode(tmp_path):
    with pytest.raises(
        ag.ExportError, match=r"dropout\(p=0.5\) in training mode multiplies by a random mask"
    ):
        ag.export_onnx(lambda x: ag.dropout(x, 0.5), np.ones((3, 4)), tmp_path / "f.onnx")
    model = check_export(
        lambda x: ag.dropout(x.exp(), 0.5, training=False), uniform_inputs((4,)), tmp_path / "e.onnx"
    )
    assert [n.op_type for n in model.graph.node] == ["Exp"]


CONVOLUTIONS = {
    "plain": {},
    "stride_2": {"stride": 2},
    "padding_1": {"padding": 1},
    "rectangular": {"stride": (1, 2), "padding": (2, 0)},
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("geometry", sorted(CONVOLUTIONS))
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_and_max_pool2d(tmp_path, dtype, geometry, bias):
    """Conv in float32; in float64 (onnxruntime has no double Conv) the im2col decomposition."""
    rng = np.random.default_rng(5)
    weight = Tensor(rng.normal(size=(4, 3, 3, 2)).astype(dtype), requires_grad=True, name="kernel")
    b = Tensor(rng.normal(size=4).astype(dtype), requires_grad=True, name="bias") if bias else None

    def cnn(x):
        y = ag.conv2d(x, weight, b, **CONVOLUTIONS[geometry]).relu()
        return ag.max_pool2d(y, 2), ag.max_pool2d(y, (2, 1), stride=1)

    model = check_export(cnn, uniform_inputs((3, 7, 8), dtype=dtype), tmp_path / "cnn.onnx")
    assert ("Conv" in {n.op_type for n in model.graph.node}) == (dtype == np.float32)


# ---------------------------------------------------------------- models built from nn layers


class MLP(nn.Module):
    """A custom model: two hidden layers, dropout between them, class probabilities out."""

    def __init__(self, dtype) -> None:
        super().__init__()
        self.hidden = nn.Linear(10, 16, rng=1, dtype=dtype)
        self.drop = nn.Dropout(0.3, rng=2)
        self.middle = nn.Linear(16, 8, rng=3, dtype=dtype)
        self.out = nn.Linear(8, 4, bias=False, rng=4, dtype=dtype)

    def forward(self, x):
        h = self.drop(ag.leaky_relu(self.hidden(x), 0.05))
        h = self.middle(h).tanh()
        return self.out(h).softmax(axis=-1)


def cnn(dtype) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=1, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, rng=2, dtype=dtype),
        nn.Tanh(),
        nn.Flatten(),
        nn.Dropout(0.2, rng=3),
        nn.Linear(6, 10, rng=4, dtype=dtype),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("build", [MLP, cnn], ids=["mlp", "cnn"])
def test_nn_models_in_eval_mode(tmp_path, dtype, build):
    model = build(dtype).eval()
    shape = (10,) if build is MLP else (1, 8, 8)
    exported = check_export(
        model, uniform_inputs(shape, dtype=dtype), tmp_path / "model.onnx", batches=(1, 5, 32)
    )
    stored = {i.name: onnx.numpy_helper.to_array(i) for i in exported.graph.initializer}
    for name, parameter in model.named_parameters():  # every parameter, under its dotted name
        np.testing.assert_array_equal(stored[name], parameter.data)
    assert "Dropout" not in {n.op_type for n in exported.graph.node}


def load_example(name: str):
    """A script of examples/ as a module (its training runs only under ``main()``)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_models_of_the_nn_examples(tmp_path, dtype):
    """examples/custom_mlp.py's tanh MLP and examples/digits_cnn.py's two-convolution CNN."""
    mlp = load_example("custom_mlp").MLP(np.random.default_rng(0)).to(dtype).eval()
    check_export(
        mlp, uniform_inputs((64,), dtype=dtype, low=-1, high=1), tmp_path / "mlp.onnx", batches=(1, 7, 64)
    )
    cnn = load_example("digits_cnn").digits_cnn(np.random.default_rng(0)).to(dtype).eval()
    model = check_export(cnn, uniform_inputs((1, 8, 8), dtype=dtype, low=0, high=1), tmp_path / "cnn.onnx")
    kinds = [n.op_type for n in model.graph.node]
    assert kinds.count("MaxPool") == 2 and kinds.count("Conv") == (2 if dtype == np.float32 else 0)


def test_an_nn_model_in_training_mode_names_dropout_and_eval(tmp_path):
    with pytest.raises(ag.ExportError, match=r"dropout\(p=0.3\) in training mode .*model.eval\(\)"):
        ag.export_onnx(MLP(np.float64), np.ones((2, 10)), tmp_path / "f.onnx")


# ---------------------------------------------------------------- random programs


@st.composite
def programs(draw):
    """A few steps, each applying one op of the table to one earlier value, or adding two values."""
    names = sorted(OP_CASES)
    steps = []
    for i in range(draw(st.integers(1, 5))):
        if i and draw(st.booleans()):
            steps.append(("combine", draw(st.integers(0, i)), draw(st.integers(0, i))))
        else:
            steps.append((draw(st.sampled_from(names)), draw(st.integers(0, i)), None))
    return steps


def run_program(steps, x):
    values = [x]
    for name, a, b in steps:
        values.append(values[a] * values[b] if name == "combine" else OP_CASES[name](values[a]))
    return values[-1].tanh()  # keeps long chains in range


@pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")  # the cases with infinities
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # give inf - inf = NaN here
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@settings(max_examples=100, deadline=None, derandomize=True)
@given(steps=programs(), dtype=st.sampled_from([np.float64, np.float32]))
def test_random_programs_match_the_engine(tmp_path_factory, steps, dtype):
    path = tmp_path_factory.mktemp("programs") / "p.onnx"
    check_export(lambda x: run_program(steps, x), uniform_inputs((3, 4), dtype=dtype), path, batches=(1, 4))


# ---------------------------------------------------------------- errors


class Cube(ops.Op):
    """A user's custom op: no ONNX mapping is known for it."""

    name = "cube"

    def forward(self, x):
        return x**3

    def vjp(self, g, out, x):
        return (3 * g * x * x,)


def test_an_unmapped_op_is_an_error_naming_it_and_nothing_is_written(tmp_path):
    path = tmp_path / "cube.onnx"
    with pytest.raises(ag.ExportError, match=r"the op 'cube' \(Cube\) has no ONNX mapping"):
        ag.export_onnx(lambda x: apply(Cube(), x).sum(), np.ones((2, 3)), path)
    assert not path.exists()


def test_an_existing_file_is_never_replaced_without_overwrite(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="already exists"):
        ag.export_onnx(lambda x: x.exp(), np.ones((2, 3)), path)
    assert path.read_bytes() == b"precious"
    ag.export_onnx(lambda x: x.exp(), np.ones((2, 3)), path, overwrite=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)


def test_a_value_computed_outside_the_graph_from_the_batch_is_an_error(tmp_path):
    def leaky(x):
        return x - Tensor(x.data.mean(axis=0))  # .data: the mean is frozen, not recorded

    with pytest.raises(ag.ExportError, match="constant that changes with the batch"):
        ag.export_onnx(leaky, np.arange(6.0).reshape(2, 3), tmp_path / "f.onnx")


def test_a_loss_with_targets_as_a_second_input(tmp_path):
    check_export(
        lambda z, y: ag.binary_cross_entropy_with_logits(z, y),  # the mean's count grows with the batch
        lambda batch: [*uniform_inputs((5,))(batch), *uniform_inputs((5,), low=0, high=1, seed=1)(batch)],
        tmp_path / "bce.onnx",
    )


def test_the_tutorial_cost_divides_by_the_traced_batch_size_so_it_needs_a_fixed_batch(tmp_path):
    net = Network([6, 4, 3], input_scale=2.0)
    cost = lambda X, Y: net.cost(X, Y, lam=0.5)  # noqa: E731  (J = ... / m, m = X.shape[0] as a number)
    make = lambda batch: [*uniform_inputs((6,))(batch), *uniform_inputs((3,), low=0, high=1, seed=2)(batch)]  # noqa: E731
    with pytest.raises(ag.ExportError, match=r"constant that changes with the batch.*x.shape\[0\]"):
        ag.export_onnx(cost, tuple(make(4)), tmp_path / "cost.onnx")
    check_export(cost, make, tmp_path / "cost.onnx", batches=(4,), trace_batch=4, dynamic_batch=False)


def test_an_index_built_from_the_batch_is_an_error(tmp_path):
    with pytest.raises(ag.ExportError, match=r"the 'index' of getitem changes with the batch size"):
        ag.export_onnx(lambda x: x[x.data[:, 0] > 0], np.arange(6.0).reshape(3, 2), tmp_path / "f.onnx")


def test_outputs_name_their_batch_axis_only_where_it_is_the_batch(tmp_path):
    model = ag.export_onnx(
        lambda x: (x.exp(), x.reshape(-1), x.sum(axis=0)), np.ones((2, 3)), tmp_path / "f.onnx"
    )
    dims = [[dimension(d) for d in o.type.tensor_type.shape.dim] for o in model.graph.output]
    assert dims == [["batch", 3], [None], [3]]  # 3 * batch: a dimension left unnamed


def dimension(d) -> str | int | None:
    """A graph dimension as its name, its length, or None when it has neither."""
    which = d.WhichOneof("value")
    return None if which is None else getattr(d, which)


def test_an_input_the_outputs_do_not_use_is_an_error(tmp_path):
    with pytest.raises(ag.ExportError, match=r"input 1 \('unused'\) does not lead to any output"):
        ag.export_onnx(
            lambda x, y: x.exp(),
            (np.ones((2, 3)), np.ones((2, 3))),
            tmp_path / "f.onnx",
            input_names=["x", "unused"],
        )


def test_a_reshape_that_spreads_the_batch_over_two_axes_is_an_error(tmp_path):
    with pytest.raises(ag.ExportError, match="only one batch-dependent axis"):
        ag.export_onnx(
            lambda x: x.reshape(x.shape[0], x.shape[0], -1), np.ones((2, 2, 3)), tmp_path / "f.onnx"
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"opset": 12}, "opset must be an integer from 18"),
        ({"input_names": ["a", "b"]}, "input_names must be 1 non-empty string"),
        ({"output_names": ["x"], "input_names": ["x"]}, "both an input and an output"),
    ],
)
def test_bad_options_are_one_clear_error(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        ag.export_onnx(lambda x: x.exp(), np.ones((2, 3)), tmp_path / "f.onnx", **options)


def test_inputs_of_different_batch_lengths_need_dynamic_batch_off(tmp_path):
    with pytest.raises(ValueError, match="pass dynamic_batch=False"):
        ag.export_onnx(
            lambda x, y: x.sum() + y.sum(), (np.ones((2, 3)), np.ones((3, 3))), tmp_path / "f.onnx"
        )


# ---------------------------------------------------------------- the command line and the docs


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "quick"
    assert main(["train", "--out", str(out), "--epochs", "3", "--quiet"]) == 0
    return out / "weights.npz"


def autograd_nn_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed ``autograd-nn`` entry point, run as a separate process."""
    command = Path(sys.executable).with_name("autograd-nn")
    return subprocess.run([str(command), *args], capture_output=True, text=True, cwd=cwd)


def test_export_command_writes_a_model_that_predicts_like_the_network(tmp_path, weights):
    done = autograd_nn_command("export", "--weights", str(weights), "--out", "model.onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote model.onnx" in done.stdout
    network = Network.from_file(weights)
    check_export(network.forward, uniform_inputs((64,), low=0, high=16), tmp_path / "again.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    X = np.random.default_rng(0).uniform(0, 16, size=(9, 64))
    assert_matches(session.run(None, {"X": X})[0], network.forward(X).data)


def test_export_command_refuses_to_replace_a_file_without_overwrite(tmp_path, weights):
    (tmp_path / "model.onnx").write_bytes(b"keep me")
    done = autograd_nn_command("export", "--weights", str(weights), "--out", "model.onnx", cwd=tmp_path)
    assert done.returncode == 1
    assert (
        done.stderr
        == "autograd-nn export: error: model.onnx already exists; pass --overwrite to replace it\n"
    )
    assert (tmp_path / "model.onnx").read_bytes() == b"keep me"
    done = autograd_nn_command(
        "export", "--weights", str(weights), "--out", "model.onnx", "--overwrite", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    onnx.checker.check_model(onnx.load(tmp_path / "model.onnx"), full_check=True)


def test_export_command_with_missing_weights_is_one_line(tmp_path):
    done = autograd_nn_command("export", "--weights", "nope.npz", "--out", "model.onnx", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == "autograd-nn export: error: nope.npz: no such weights file\n"
    assert not (tmp_path / "model.onnx").exists()


def test_the_docs_round_trip_is_what_the_example_prints(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "onnx_roundtrip.py"), str(tmp_path / "digits.onnx")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4 and "for 359 of 359 digits" in lines[3]
    engine, runtime = (line.rsplit("accuracy ", 1)[1].split()[0] for line in lines[:3:2])
    assert engine == runtime
    assert done.stdout in page("onnx.md")  # the ONNX page shows exactly what the example prints


def test_the_benchmark_runs_end_to_end():
    """A smoke run of benchmarks/onnx_export.py: it checks onnxruntime against the engine before timing."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "onnx_export.py"), "--quick"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "x |" in line]
    assert len(rows) == 12  # 2 models x 2 dtypes x 3 batch sizes
