"""One numbering of classes across Python and the command line (digits/classes.py).

The tutorial's ``Network`` keeps the course's numbering (output j is label j+1, so output 9 is the digit 0);
every other model has class = label mod K, so for the digits class k is the digit k, which is what
``load_digits().y_train`` gives. A model trained in Python on ``load_digits()`` is then scored, labelled and
exported by the command line (``python -m autograd_nn``) with the same numbering, and a model trained by
the command line predicts in Python the digits ``load_digits`` says.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_cli_any_model import cli

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.datasets import load_digits
from autograd_nn.digits.classes import classes_from_labels, labels_from_classes, predicted_labels
from autograd_nn.digits.data import Dataset, bundled_digits, fingerprint, load_dataset, split_rows
from autograd_nn.digits.network import Network
from autograd_nn.digits.train import train_network
from autograd_nn.optim import Adam
from autograd_nn.training import TrainConfig, evaluate

ROOT = Path(__file__).resolve().parent.parent

MODEL = """
from autograd_nn import nn

SCALE = 16.0  # load_digits().scale: the model sees the rows as the command line gives them, raw


class Digits(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(64, 32, rng=0)
        self.out = nn.Linear(32, 10, rng=1)

    def forward(self, x):
        return self.out(self.hidden(x / SCALE).tanh())
"""


def load_model_file(folder: Path):
    spec = importlib.util.spec_from_file_location("numbering_models", folder / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_digits() -> Dataset:
    with bundled_digits() as path:
        return load_dataset(path)


def argmax(model, X: np.ndarray) -> np.ndarray:
    with ag.no_grad():
        return model(X).data.argmax(axis=1)


def correct_line(correct: int, total: int) -> str:
    return f"accuracy {correct / total:.2%} ({correct} of {total} correct)"


# ------------------------------------------------------------------------------ the rule itself
def test_the_tutorial_network_keeps_the_courses_numbering():
    labels = np.arange(1, 11)
    np.testing.assert_array_equal(classes_from_labels(labels, 10, tutorial=True), np.arange(10))
    np.testing.assert_array_equal(labels_from_classes(np.arange(10), 10, tutorial=True), labels)
    net = Network([4, 5, 3], seed=0)
    X = np.random.default_rng(0).standard_normal((9, 4))
    np.testing.assert_array_equal(net.predict(X), net.forward(X).data.argmax(axis=1) + 1)


def test_every_other_model_has_class_label_mod_k_so_class_k_is_the_digit_k():
    labels = np.arange(1, 11)  # the course's labels; 10 is the digit 0
    digits = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 0])
    np.testing.assert_array_equal(classes_from_labels(labels, 10, tutorial=False), digits)
    np.testing.assert_array_equal(labels_from_classes(digits, 10, tutorial=False), labels)
    three = np.array([1, 2, 3, 3, 1])
    np.testing.assert_array_equal(classes_from_labels(three, 3, tutorial=False), [1, 2, 0, 0, 1])
    scores = np.array([[0.9, 0.0, 0.1], [0.0, 0.2, 0.8], [0.1, 0.7, 0.2]])
    np.testing.assert_array_equal(predicted_labels(scores, tutorial=False), [3, 2, 1])
    np.testing.assert_array_equal(predicted_labels(scores, tutorial=True), [1, 3, 2])


def test_train_network_scores_a_module_by_class_label_mod_k():
    """Its cost is the loss against label mod K, its accuracy the argmax read as the class label mod K."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(1, 4), 40)
    X = (rng.standard_normal((3, 4)) * 4)[y - 1] + rng.standard_normal((len(y), 4))
    data = Dataset(X=X, y=y, source="blobs", num_labels=3)
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.Tanh(), nn.Linear(8, 3, rng=1))
    config = TrainConfig(epochs=10, lr=0.02, lam=0.0, batch_size=16)
    result = train_network(data, config, model=model, loss=ag.cross_entropy, progress=False)
    held = result.heldout_set
    with ag.no_grad():
        logits = model(held.X)
    expected_cost = ag.cross_entropy(logits, held.y % 3).item()
    expected_accuracy = float(np.mean(logits.data.argmax(axis=1) == held.y % 3))
    assert result.final["heldout_accuracy"] == expected_accuracy > 0.9
    assert result.final["heldout_cost"] == pytest.approx(expected_cost, rel=1e-12)
    assert evaluate(model, held, ag.cross_entropy) == (result.final["heldout_cost"], expected_accuracy)


# ------------------------------------------------------------------------------ Python -> command line
@pytest.fixture(scope="module")
def python_run(tmp_path_factory):
    """models.py's Digits trained in Python on load_digits() (class = the digit), saved with Module.save
    into two folders: bare/ (weights only) and run/ (with the summary.json the command line reads)."""
    folder = tmp_path_factory.mktemp("numbering")
    (folder / "models.py").write_text(MODEL)
    module = load_model_file(folder)
    digits = load_digits()
    assert digits.scale == module.SCALE
    model = module.Digits()
    optimizer = Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        optimizer.zero_grad()
        ag.cross_entropy(model(digits.X_train), digits.y_train).backward()
        optimizer.step()
    model.eval()
    for name in ("bare", "run"):
        (folder / name).mkdir()
        model.save(folder / name / "weights.npz")
    data = all_digits()
    summary = {
        "data": {"source": data.source, "features": data.n, "sha256": fingerprint(data)},
        "config": {"seed": digits.seed, "holdout": digits.holdout},
    }
    (folder / "run" / "summary.json").write_text(json.dumps(summary))
    return folder, model, digits


def test_evaluate_scores_a_python_trained_model_on_its_held_out_rows_as_python_does(python_run):
    folder, model, digits = python_run
    correct = int(np.sum(argmax(model, digits.X_test) == digits.y_test))
    assert correct / len(digits.y_test) > 0.85  # it learnt the digits (and classes 0..9 are the digits)
    done = cli("evaluate", "--model", "models.py:Digits", "--weights", "run/weights.npz", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "the 359 held-out rows of the training run (seed 0, holdout 0.2)" in done.stdout
    assert correct_line(correct, 359) in done.stdout


def test_evaluate_without_a_summary_scores_every_row_as_python_does(python_run):
    folder, model, digits = python_run
    X = np.concatenate([digits.X_train, digits.X_test])
    y = np.concatenate([digits.y_train, digits.y_test])
    correct = int(np.sum(argmax(model, X) == y))
    done = cli("evaluate", "--model", "models.py:Digits", "--weights", "bare/weights.npz", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert (
        "all 1797 rows, since no summary.json of its training run is beside the weights file" in done.stdout
    )
    assert correct_line(correct, 1797) in done.stdout
    # The confusion matrix's diagonal holds each digit's correct predictions, by Python's count
    matrix = done.stdout.split("columns: predicted digit)\n", 1)[1].splitlines()[1:11]
    diagonal = [int(line.split()[1 + digit]) for digit, line in enumerate(matrix)]
    predicted = argmax(model, X)
    assert diagonal == [int(np.sum((predicted == d) & (y == d))) for d in range(10)]


def test_predict_prints_the_digits_python_predicts_with_their_course_labels(python_run):
    folder, model, _ = python_run
    done = cli("predict", "--model", "models.py:Digits", "--weights", "run/weights.npz", cwd=folder)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(done.stdout.splitlines()))
    data = all_digits()
    held = np.sort(split_rows(data.y, 0.2, 0)[1])
    np.testing.assert_array_equal([int(r["row"]) - 1 for r in rows], held)
    first = rows[:40]
    python_digits = argmax(model, data.X[held[:40]])
    assert [int(r["predicted_digit"]) for r in first] == python_digits.tolist()
    assert [int(r["predicted_label"]) for r in first] == np.where(
        python_digits == 0, 10, python_digits
    ).tolist()
    true_digits = data.y[held[:40]] % 10
    assert [int(r["true_digit"]) for r in first] == true_digits.tolist()
    assert [r["correct"] == "True" for r in first] == (python_digits == true_digits).tolist()
    assert 0 in python_digits  # the digit 0 (class 0, label 10) is among the rows checked


# ------------------------------------------------------------------------------ command line -> Python
def test_a_model_trained_by_the_command_line_predicts_in_python_the_digits_load_digits_gives(tmp_path):
    (tmp_path / "models.py").write_text(MODEL)
    done = cli("train", "--model", "models.py:Digits", "--epochs", 4, "--out", "cli", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    model = load_model_file(tmp_path).Digits().load(tmp_path / "cli" / "weights.npz").eval()
    digits = load_digits()
    correct = int(np.sum(argmax(model, digits.X_test) == digits.y_test))
    assert correct / 359 > 0.85
    assert f"held-out accuracy: {correct / 359:.2%} on 359 examples" in done.stdout
    summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert summary["final"]["heldout_accuracy"] == round(correct / 359, 6)


# ------------------------------------------------------------------------------ export
def test_the_export_of_a_model_gives_the_digit_as_argmax_and_says_so(python_run):
    onnxruntime = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    folder, model, digits = python_run
    done = cli(
        "export", "--model", "models.py:Digits", "--weights", "run/weights.npz", "--out", "d.onnx", cwd=folder
    )
    assert done.returncode == 0, done.stderr
    rule = "class = argmax (for the digits, the digit itself); label = class, and 10 for class 0"
    assert rule in done.stdout
    proto = onnx.load(str(folder / "d.onnx"))
    assert rule in proto.doc_string
    assert rule in {entry.key: entry.value for entry in proto.metadata_props}["classes"]
    session = onnxruntime.InferenceSession(str(folder / "d.onnx"), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {"X": digits.X_test})
    np.testing.assert_array_equal(scores.argmax(axis=1), argmax(model, digits.X_test))
    right = scores.argmax(axis=1) == digits.y_test
    assert right.mean() > 0.85 and np.all(scores[right].argmax(axis=1) == digits.y_test[right])


def test_the_export_of_the_tutorial_network_keeps_label_argmax_plus_one(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    net = Network([64, 25, 10], seed=4, input_scale=16.0)
    net.save(tmp_path / "weights.npz")
    done = cli("export", "--weights", "weights.npz", "--out", "net.onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"label = argmax \+ 1, labels 1\.\.10 \(for the digits, label 10 is the digit 0\)", done.stdout
    )
    proto = onnx.load(str(tmp_path / "net.onnx"))
    assert "label = argmax + 1" in {entry.key: entry.value for entry in proto.metadata_props}["classes"]
    X = load_digits().X_test[:50]
    session = onnxruntime.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {"X": X})
    np.testing.assert_array_equal(scores.argmax(axis=1) + 1, net.predict(X))
