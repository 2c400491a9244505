"""The training loop serves any nn.Module: the tutorial's default is unchanged, other models get the
same history, early stopping and run folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.digits.data import Dataset, one_hot, stratified_split
from autograd_nn.digits.network import Network, input_scale_for
from autograd_nn.digits.train import train_network
from autograd_nn.optim import Adam
from autograd_nn.training import TrainConfig, l2_penalty, tutorial_loss, write_run


def blobs(m: int = 150, seed: int = 0) -> Dataset:
    """Three well-separated Gaussian blobs in 4-D: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(1, 4), m // 3)
    X = (rng.standard_normal((3, 4)) * 4)[y - 1] + rng.standard_normal((len(y), 4))
    return Dataset(X=X, y=y, source="blobs", num_labels=3)


def test_the_default_run_is_the_tutorial_networks_cost_step_by_step():
    """train_network's default equals the tutorial loop written out with Network.cost, bit for bit."""
    data = blobs()
    config = TrainConfig(hidden=(5,), epochs=3, batch_size=16, lam=0.3, seed=2, compile=False)
    result = train_network(data, config, progress=False)  # eager (compiled: tests/compile/)

    train, _ = stratified_split(data, config.holdout, seed=config.seed)
    net = Network([4, 5, 3], seed=config.seed, input_scale=input_scale_for(train.X))
    optimizer = Adam(net.parameters(), lr=config.lr)
    X, Y, rng = train.X, one_hot(train.y, 3), np.random.default_rng(config.seed)
    for _ in range(config.epochs):
        order = rng.permutation(train.m)
        for start in range(0, train.m, 16):
            rows = order[start : start + 16]
            optimizer.zero_grad()
            net.cost(X[rows], Y[rows], config.lam, num_examples=train.m).backward()
            optimizer.step()
    for mine, expected in zip(result.network.parameters(), net.parameters(), strict=True):
        np.testing.assert_array_equal(mine.data, expected.data)


def test_tutorial_loss_and_penalty_are_the_networks_cost():
    net = Network([4, 6, 3], seed=1)
    X = np.random.default_rng(0).standard_normal((7, 4))
    classes = np.array([0, 1, 2, 0, 1, 2, 2])
    expected = net.cost(X, one_hot(classes + 1, 3), lam=0.7, num_examples=20).item()
    got = (tutorial_loss(net.logits(X), classes) + l2_penalty(net, 0.7, 20)).item()
    assert got == expected


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 8, rng=0)
        self.drop = nn.Dropout(0.2, rng=1)
        self.out = nn.Linear(8, 3, rng=2)

    def forward(self, x):
        return self.out(self.drop(self.hidden(x).tanh()))


def cross_entropy(logits, classes):
    return ag.cross_entropy(logits, classes)


def test_any_module_trains_with_its_own_loss_and_records_the_same_history():
    model = MLP()
    config = TrainConfig(epochs=15, lr=0.02, lam=0.0, batch_size=16)
    result = train_network(blobs(), config, model=model, loss=cross_entropy, progress=False)
    assert result.network is model
    assert model.training  # evaluation switched Dropout off and back on
    assert len(result.history.epoch) == 15
    assert result.history.train_cost[-1] < 0.5 * result.history.train_cost[0]
    assert result.final["heldout_accuracy"] >= 0.9


def test_early_stopping_keeps_the_best_epoch_of_any_module():
    model = MLP()
    config = TrainConfig(epochs=200, lr=0.05, lam=0.0, batch_size=8, patience=3)
    result = train_network(blobs(), config, model=model, loss=cross_entropy, progress=False)
    assert result.stopped_early and result.best_epoch < len(result.history.epoch)
    best = result.history.heldout_cost[result.best_epoch - 1]
    assert best == min(result.history.heldout_cost)


def test_the_l2_penalty_reaches_weights_not_biases():
    model = MLP()
    penalty = l2_penalty(model, lam=2.0, num_examples=4)
    expected = (2.0 / 8) * ((model.hidden.weight.data**2).sum() + (model.out.weight.data**2).sum())
    assert penalty.item() == pytest.approx(expected, rel=1e-12)


def test_a_run_folder_serves_any_module(tmp_path):
    model = MLP()
    config = TrainConfig(epochs=3, lam=0.0, batch_size=16)
    result = train_network(blobs(), config, model=model, loss=cross_entropy, progress=False)
    paths = write_run(result, tmp_path / "run")
    assert all(path.is_file() for path in paths.values())
    summary = json.loads(paths["summary"].read_text())
    assert summary["network"] == {"model": "MLP", "parameters": model.num_parameters()}
    assert summary["epochs_run"] == 3
    loaded = MLP().load(paths["weights"])
    np.testing.assert_array_equal(loaded.out.weight.data, model.out.weight.data)
