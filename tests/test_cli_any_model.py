"""``--model FILE.py:NAME`` on every subcommand, through the real entry point (``python -m autograd_nn``):
a ReLU MLP and a CNN on the 8x8 digits, written by the test, are trained, evaluated, used to predict,
drawn, exported (also as float32) and checked; every fault is one line naming the option, the file and
the key or shape."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograd_nn.digits.data import bundled_digits, load_dataset

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}

MODELS = '''
import numpy as np
from autograd_nn import nn
from autograd_nn.ops import Op
from autograd_nn.tensor import apply


def mlp():
    """A ReLU MLP on the raw pixels (0..16)."""
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def narrow_mlp():
    return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


class CNN(nn.Module):
    """Conv -> ReLU -> MaxPool -> Linear on the rows seen as 8x8 images."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.out = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        images = (x / 16.0).reshape(-1, 1, 8, 8)
        return self.out(self.pool(self.conv(images).relu()).reshape(x.shape[0], -1))


class WrongSquare(Op):
    """x**2 with a planted mistake in its VJP (x instead of 2x)."""

    name = "wrong_square"
    keeps_inputs = True

    def forward(self, x):
        return x * x

    def vjp(self, g, out, x):
        return (g * x,)


class SquaredMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(64, 8)
        self.out = nn.Linear(8, 10)

    def forward(self, x):
        return self.out(apply(WrongSquare(), self.hidden(x / 16.0)))


def five_classes():
    return nn.Linear(64, 5)


def not_a_model():
    return [1, 2]


def broken():
    return {}["missing"]
'''


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograd_nn", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=600,
    )


def one_line_error(done: subprocess.CompletedProcess, command: str) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"autograd-nn {command}: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder holding models.py and one short training run of the MLP (mlp/) and of the CNN (cnn/)."""
    folder = tmp_path_factory.mktemp("models")
    (folder / "models.py").write_text(MODELS)
    for name, factory, epochs in (("mlp", "mlp", 8), ("cnn", "CNN", 3)):
        done = cli("train", "--model", f"models.py:{factory}", "--epochs", epochs, "--out", name, cwd=folder)
        assert done.returncode == 0, done.stdout + done.stderr
        (folder / name / "train.txt").write_text(done.stdout)
    return folder


def user_model(folder: Path, name: str, weights: Path | None = None):
    """The model models.py's ``name`` builds, loaded with ``weights`` (as a user would in Python)."""
    spec = importlib.util.spec_from_file_location("test_models", folder / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, name)()
    return model.load(weights).eval() if weights is not None else model


def digits():
    with bundled_digits() as path:
        return load_dataset(path)


# ------------------------------------------------------------------------------ train
def test_train_trains_any_model_and_saves_its_weights_with_module_save(work):
    printed = (work / "mlp" / "train.txt").read_text()
    assert "model: Sequential (2,410 parameters, float64) from models.py:mlp; cross-entropy" in printed
    assert "held-out accuracy: " in printed
    with np.load(work / "mlp" / "weights.npz", allow_pickle=False) as stored:
        assert sorted(stored.files) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    summary = json.loads((work / "mlp" / "summary.json").read_text())
    assert summary["network"] == {"model": "Sequential", "parameters": 2410}
    assert summary["final"]["heldout_accuracy"] > 0.9  # a ReLU MLP learns the digits in 8 epochs
    cnn = json.loads((work / "cnn" / "summary.json").read_text())
    assert cnn["network"]["model"] == "CNN" and cnn["epochs_run"] == 3


def test_train_with_a_model_refuses_the_tutorial_networks_options(work):
    for option in (["--hidden", "16"], ["--no-scale"]):
        done = cli("train", "--model", "models.py:mlp", *option, "--out", "never", cwd=work)
        line = one_line_error(done, "train")
        assert f"{option[0]} is for the tutorial network; --model models.py:mlp" in line
    assert not (work / "never").exists()


# ------------------------------------------------------------------------------ evaluate and predict
@pytest.mark.parametrize(("run", "factory"), [("mlp", "mlp"), ("cnn", "CNN")])
def test_evaluate_scores_the_runs_held_out_rows_as_training_measured_them(work, run, factory):
    done = cli("evaluate", "--model", f"models.py:{factory}", "--weights", f"{run}/weights.npz", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "the 359 held-out rows of the training run (seed 0, holdout 0.2)" in done.stdout
    summary = json.loads((work / run / "summary.json").read_text())
    correct = round(summary["final"]["heldout_accuracy"] * 359)
    assert f"({correct} of 359 correct)" in done.stdout
    assert "confusion matrix" in done.stdout


def test_predict_gives_the_models_own_argmax(work):
    weights = work / "cnn" / "weights.npz"
    done = cli("predict", "--model", "models.py:CNN", "--weights", weights, "--split", "all", cwd=work)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert len(rows) == 1797
    data = digits()
    # A model's class k is the digit k (class = label mod 10): the label is the class, 10 for class 0
    expected_digits = np.argmax(user_model(work, "CNN", weights)(data.X).data, axis=1)
    np.testing.assert_array_equal([int(r["predicted_digit"]) for r in rows], expected_digits)
    np.testing.assert_array_equal(
        [int(r["predicted_label"]) for r in rows], np.where(expected_digits == 0, 10, expected_digits)
    )
    scores = np.array([float(r["score"]) for r in rows])
    assert np.all((scores > 0) & (scores <= 1))  # the softmax probability of the predicted class


# ------------------------------------------------------------------------------ graph
def test_graph_draws_a_models_cost_with_its_parameter_names(work):
    out = work / "cnn.dot"
    done = cli(
        "graph",
        "--model",
        "models.py:CNN",
        "--weights",
        "cnn/weights.npz",
        "--batch",
        20,
        "--out",
        out,
        cwd=work,
    )
    assert done.returncode == 0, done.stderr
    source = out.read_text()
    for text in (
        "conv.weight",
        "out.bias",
        "conv2d",
        "max_pool2d",
        "log_softmax",
        "nll_loss",
        "on 20 digits",
    ):
        assert text in source, text


# ------------------------------------------------------------------------------ export (and --dtype float32)
def test_export_writes_a_model_that_onnxruntime_runs_like_the_engine_also_as_float32(work):
    onnxruntime = pytest.importorskip("onnxruntime")
    weights = work / "cnn" / "weights.npz"
    model = user_model(work, "CNN", weights)
    X = digits().X[:50]
    expected = model(X).data
    for dtype, numpy_type, onnx_type, rtol in (
        ("float64", np.float64, "tensor(double)", 1e-12),
        ("float32", np.float32, "tensor(float)", 1e-5),
    ):
        out = work / f"cnn_{dtype}.onnx"
        done = cli(
            "export",
            "--model",
            "models.py:CNN",
            "--weights",
            weights,
            "--out",
            out,
            "--dtype",
            dtype,
            cwd=work,
        )
        assert done.returncode == 0, done.stderr
        assert f"the CNN model of models.py:CNN ({dtype}); input X (examples x 64" in done.stdout
        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].type == onnx_type
        (got,) = session.run(None, {"X": X.astype(numpy_type)})
        assert got.dtype == numpy_type
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_export_turns_a_float64_trained_tutorial_network_into_a_float32_file(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    from autograd_nn.digits.network import Network

    weights = Network([64, 25, 10], seed=4, input_scale=16.0).save(tmp_path / "weights.npz")
    done = cli("export", "--weights", weights, "--out", "net32.onnx", "--dtype", "float32", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "the 64-25-10 sigmoid network (float32)" in done.stdout
    session = onnxruntime.InferenceSession(str(tmp_path / "net32.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
    X = digits().X[:40]
    (got,) = session.run(None, {"X": X.astype(np.float32)})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, Network.from_file(weights).forward(X).data, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ check
@pytest.mark.parametrize("factory", ["mlp", "CNN"])
def test_check_compares_a_models_autodiff_with_central_differences(work, factory):
    done = cli("check", "--model", f"models.py:{factory}", "--examples", 8, cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "against central differences in float64" in done.stdout
    assert "no hand-derived backprop" in done.stdout
    assert "All 4 parameters' gradients agree with central differences." in done.stdout


def test_check_catches_a_wrong_gradient_inside_a_model_and_exits_1(work):
    done = cli("check", "--model", "models.py:SquaredMLP", "--examples", 8, cwd=work)
    assert done.returncode == 1, done.stdout + done.stderr
    cells = [re.split(r"\s{2,}", line) for line in done.stdout.splitlines() if line[:3] in ("hid", "out")]
    rows = {name: verdict for name, _shape, verdict, *_ in cells}
    assert rows == {
        "hidden.weight": "mismatch",
        "hidden.bias": "mismatch",
        "out.weight": "ok",
        "out.bias": "ok",
    }
    assert (
        "Mismatch: autodiff disagrees with central differences for hidden.weight, hidden.bias" in done.stdout
    )


# ------------------------------------------------------------------------------ faults: one line each
@pytest.mark.parametrize(
    ("command", "spec", "expected"),
    [
        ("evaluate", "missing.py:mlp", "--model: missing.py: no such file"),
        (
            "predict",
            "models.py:nothing",
            "--model: models.py has no function or class 'nothing'; it defines CNN,",
        ),
        ("graph", "models.py:broken", "--model: broken() in models.py raised KeyError: 'missing' (line"),
        (
            "export",
            "models.py:not_a_model",
            "--model: not_a_model() in models.py returned list, not an nn.Module",
        ),
        ("check", "models.py", "--model: expected FILE.py:NAME, got 'models.py'"),
        ("train", "models.py:mlp:", "--model: expected FILE.py:NAME"),
    ],
)
def test_a_model_that_cannot_be_built_is_one_line(work, command, spec, expected):
    extra = {
        "evaluate": ["--weights", "mlp/weights.npz"],
        "predict": ["--weights", "mlp/weights.npz"],
        "export": ["--weights", "mlp/weights.npz", "--out", "never.onnx"],
        "train": ["--out", "never"],
    }.get(command, [])
    line = one_line_error(cli(command, "--model", spec, *extra, cwd=work), command)
    assert expected in line, line
    assert not (work / "never.onnx").exists() and not (work / "never").exists()


def test_weights_that_do_not_fit_the_model_name_the_option_the_file_and_the_key_or_shape(work):
    narrow = cli("evaluate", "--model", "models.py:narrow_mlp", "--weights", "mlp/weights.npz", cwd=work)
    line = one_line_error(narrow, "evaluate")
    assert "--weights mlp/weights.npz does not fit --model models.py:narrow_mlp: " in line
    assert "'0.weight' has shape (32, 64), but the model's parameter has shape (16, 64)" in line
    other = cli("predict", "--model", "models.py:CNN", "--weights", "mlp/weights.npz", cwd=work)
    line = one_line_error(other, "predict")
    assert "missing key(s) 'conv.weight'" in line and "the file holds '0.weight'" in line


def test_tutorial_weights_and_model_weights_each_say_which_option_they_need(work, tmp_path):
    from autograd_nn.digits.network import Network

    Network([64, 25, 10]).save(tmp_path / "tutorial.npz")
    with_model = cli("evaluate", "--model", "models.py:mlp", "--weights", tmp_path / "tutorial.npz", cwd=work)
    assert "these are the tutorial network's weights: leave out --model" in one_line_error(
        with_model, "evaluate"
    )
    without = cli("graph", "--weights", "mlp/weights.npz", "--out", "never.dot", cwd=work)
    assert "for the weights of a model of your own, add --model FILE.py:NAME" in one_line_error(
        without, "graph"
    )


def test_a_model_with_the_wrong_number_of_classes_is_one_line(work):
    done = cli("check", "--model", "models.py:five_classes", cwd=work)
    line = one_line_error(done, "check")
    assert (
        "--model models.py:five_classes: the model gives 5 scores per example, but the bundled digits" in line
    )


def test_the_docs_model_example_runs_as_written(tmp_path):
    """The command line page's shell example of --model (its heredoc, train, evaluate, check) in an empty folder."""
    from docs_pages import page

    block = (
        page("cli.md")
        .split("**Any model: `--model FILE.py:NAME`.**")[1]
        .split("```bash\n", 1)[1]
        .split("```")[0]
    )
    script = block.replace("autograd-nn ", f"{sys.executable} -m autograd_nn ")
    done = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, cwd=tmp_path, env=ENV, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "held-out accuracy: " in done.stdout and "the 359 held-out rows of the training run" in done.stdout
    assert "All 4 parameters' gradients agree with central differences." in done.stdout
