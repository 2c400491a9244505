"""The training loop is the library's, for any model: ``autograd_nn.training`` alone trains a small
``nn.Sequential`` on a toy problem and writes its run folder, and knows nothing of the tutorial's app."""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.datasets.tables import Dataset, stratified_split
from autograd_nn.training import TrainConfig, evaluate, train_network, write_run

ROOT = Path(__file__).resolve().parent.parent
TRAINING = ROOT / "autograd_nn" / "training"


def two_moons(m: int = 200, seed: int = 0) -> Dataset:
    """Two interleaved half circles in 2-D with a little noise, labels 1 and 2: not linearly separable."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, np.pi, m)
    y = np.arange(m) % 2 + 1
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    X = np.where((y == 1)[:, None], upper, lower) + 0.1 * rng.standard_normal((m, 2))
    return Dataset(X, y, "two moons", num_labels=2)


def small_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(2, 16, rng=0), nn.Tanh(), nn.Linear(16, 2, rng=1))


def test_a_toy_model_trains_through_the_library_loop_and_writes_its_run_folder(tmp_path):
    model = small_mlp()
    config = TrainConfig(epochs=60, lr=0.05, lam=0.0, batch_size=16, seed=3)
    result = train_network(two_moons(), config, model=model, loss=ag.cross_entropy, progress=False)

    assert result.network is model and result.stop_reason == "finished" and result.best_epoch == 60
    assert result.final["heldout_accuracy"] >= 0.95  # a straight line gets about 0.85 on two moons
    assert result.history.train_cost[-1] < 0.3 * result.history.train_cost[0]
    held = result.heldout_set
    with ag.no_grad():
        logits = model(held.X)
    # class = label mod K: label 2 is class 0, label 1 class 1
    expected_accuracy = float(np.mean(np.argmax(logits.data, axis=1) == held.y % 2))
    assert evaluate(model, held, ag.cross_entropy) == (result.final["heldout_cost"], expected_accuracy)

    paths = write_run(result, tmp_path / "run")
    assert sorted(path.name for path in paths.values()) == [
        "cost_curve.png",
        "history.csv",
        "summary.json",
        "weights.npz",
    ]
    with open(paths["history"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == list(range(1, 61))
    assert float(rows[-1]["heldout_accuracy"]) == result.final["heldout_accuracy"]
    summary = json.loads(paths["summary"].read_text())
    assert summary["network"] == {"model": "Sequential", "parameters": 2 * 16 + 16 + 16 * 2 + 2}
    assert summary["data"]["source"] == "two moons" and summary["config"]["lam"] == 0.0
    assert summary["stop_reason"] == "finished" and summary["kept_epoch"] == 60
    loaded = small_mlp().load(paths["weights"])
    for mine, theirs in zip(loaded.parameters(), model.parameters(), strict=True):
        np.testing.assert_array_equal(mine.data, theirs.data)


def test_a_function_of_the_training_rows_builds_the_model():
    data = two_moons()
    config = TrainConfig(epochs=2, lam=0.0, holdout=0.25, seed=1)
    seen = []

    def build(train_set: Dataset) -> nn.Module:
        seen.append(train_set)
        return nn.Sequential(
            nn.Linear(train_set.n, 4, rng=0), nn.Tanh(), nn.Linear(4, train_set.num_labels, rng=1)
        )

    result = train_network(data, config, model=build, loss=ag.cross_entropy, progress=False)
    train, _ = stratified_split(data, 0.25, seed=1)
    assert len(seen) == 1 and seen[0].m == train.m == result.train_set.m
    np.testing.assert_array_equal(seen[0].X, train.X)
    assert isinstance(result.network, nn.Sequential) and len(result.history.epoch) == 2


def test_a_model_that_is_not_a_module_is_refused_by_name():
    with pytest.raises(TypeError, match=r"train_network: model must be an nn\.Module or a function"):
        train_network(two_moons(), TrainConfig(epochs=1), model=None, progress=False)
    with pytest.raises(TypeError, match=r"train_network: model=.* built a ndarray, not an nn\.Module"):
        train_network(two_moons(), TrainConfig(epochs=1), model=lambda rows: np.zeros(3), progress=False)


class OwnNumbering(nn.Module):
    """A model that numbers its classes as the tutorial's Network does (label k is output k - 1) and is
    trained on scores other than its forward's: the loop asks it for both."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2, rng=0)

    def forward(self, x):
        return self.training_logits(x).sigmoid()

    def training_logits(self, x):
        return self.linear(x)

    def classes_from_labels(self, labels, num_labels):
        return np.asarray(labels) - 1

    def keep_split(self, split):
        self.split = split

    def run_facts(self):
        return {"kind": "own numbering"}

    def run_title(self):
        return "own numbering"


def test_a_model_may_tell_the_loop_its_logits_numbering_split_and_facts(tmp_path):
    model = OwnNumbering()
    config = TrainConfig(epochs=20, lr=0.05, lam=0.0, batch_size=16)
    result = train_network(two_moons(), config, model=model, loss=ag.cross_entropy, progress=False)
    held = result.heldout_set
    with ag.no_grad():
        logits = model.linear(held.X)
    assert result.final["heldout_cost"] == pytest.approx(
        ag.cross_entropy(logits, held.y - 1).item(), rel=1e-12
    )
    assert result.final["heldout_accuracy"] == float(np.mean(np.argmax(logits.data, axis=1) == held.y - 1))
    assert model.split == result.split and result.split.data_source == "two moons"
    summary = json.loads(write_run(result, tmp_path / "run")["summary"].read_text())
    assert summary["network"] == {"kind": "own numbering"}


def test_the_tutorial_network_given_to_the_library_loop_keeps_its_numbering_and_split():
    from autograd_nn.digits.network import Network

    network = Network([2, 6, 2], seed=0)
    result = train_network(
        two_moons(), TrainConfig(epochs=5, lr=0.05, batch_size=16), model=network, progress=False
    )
    held = result.heldout_set
    assert result.final["heldout_accuracy"] == network.accuracy(held.X, held.y)  # label = argmax + 1
    assert network.split == result.split


def test_the_training_package_imports_nothing_above_it():
    """training/ sits below viz/, export/ and digits/ (the tutorial's app): none of its files imports them,
    and importing it does not load the tutorial's app (``import autograd_nn`` itself loads viz and export)."""
    above = ("viz", "export", "digits")
    for path in sorted(TRAINING.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else [f"{'.' * node.level}{node.module or ''}"]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.lstrip(".").split(".")
                top = parts[1] if parts[0] == "autograd_nn" and len(parts) > 1 else parts[0]
                if name.startswith("..") or parts[0] == "autograd_nn":
                    assert top not in above, f"{path.name} imports {name}"
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, autograd_nn.training; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    assert "'autograd_nn.training.loop'" in loaded and "'autograd_nn.digits'" not in loaded
