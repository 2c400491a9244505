"""What the command line's guarantees rest on, in the library: a training run keeps its finished
epochs when interrupted or diverging, memory is checked before allocating, and weights carry the split."""

from __future__ import annotations

import numpy as np
import pytest

from autograd_nn.digits import train as train_module
from autograd_nn.digits.data import Dataset, SplitRecord, fingerprint, split_rows, stratified_split
from autograd_nn.digits.network import Network, memory_needed, parameter_count
from autograd_nn.digits.train import TooLargeError, check_memory, train_network
from autograd_nn.training import TrainConfig


def small_problem(m: int = 80) -> Dataset:
    rng = np.random.default_rng(1)
    y = np.arange(m) % 10 + 1
    return Dataset(rng.normal(size=(m, 6)) + y[:, None] / 3, y, "small")


def test_ctrl_c_keeps_the_weights_of_the_last_finished_epoch():
    data = small_problem()
    config = TrainConfig(hidden=(5,), epochs=10, seed=4)

    def interrupt_after_epoch_3(row):
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    stopped = train_network(data, config, progress=False, on_epoch=interrupt_after_epoch_3)
    assert stopped.interrupted and stopped.best_epoch == 3 and stopped.history.epoch == [1, 2, 3]
    three = train_network(data, TrainConfig(hidden=(5,), epochs=3, seed=4), progress=False)
    for kept, reference in zip(stopped.network.parameters(), three.network.parameters(), strict=True):
        np.testing.assert_array_equal(kept.data, reference.data)


def test_a_cost_that_is_no_longer_finite_stops_the_run_and_keeps_the_last_finite_weights():
    config = TrainConfig(hidden=(5,), epochs=10, optimizer="gd", lr=1e300)
    result = train_network(small_problem(), config, progress=False, on_warning=lambda message: None)
    last = result.history.epoch[-1]
    assert result.diverged and last < 10 and result.best_epoch == last - 1
    assert not np.isfinite(result.history.train_cost[-1])
    assert np.isfinite(result.history.train_cost[:-1]).all()
    if result.best_epoch:  # the weights are those a run of best_epoch epochs ends with
        shorter = TrainConfig(hidden=(5,), epochs=result.best_epoch, optimizer="gd", lr=1e300)
        reference = train_network(small_problem(), shorter, progress=False, on_warning=lambda message: None)
        for kept, expected in zip(result.network.parameters(), reference.network.parameters(), strict=True):
            np.testing.assert_array_equal(kept.data, expected.data)
    assert all(np.isfinite(p.data).all() for p in result.network.parameters())


def test_a_cost_climbing_above_its_start_is_reported_while_training():
    messages = []
    config = TrainConfig(hidden=(5,), epochs=3, lr=1e6)
    result = train_network(small_problem(), config, progress=False, on_warning=messages.append)
    assert result.stop_reason == "finished"
    assert messages and messages[0].startswith("epoch 1: the train cost") and "diverging" in messages[0]


def test_memory_is_checked_before_anything_is_allocated(monkeypatch):
    sizes = [64, 100_000_000, 10]
    assert parameter_count(sizes) == 100_000_000 * 65 + 10 * 100_000_001
    assert memory_needed(sizes, rows=1) > parameter_count(sizes) * 8 * 3
    monkeypatch.setattr(train_module, "available_memory", lambda: 2**30)
    with pytest.raises(
        TooLargeError,
        match=r"64-100000000-10 network would need about 625\.1 GB .* only 1\.0 GB is available",
    ):
        check_memory(sizes, rows=100)
    assert check_memory([64, 25, 10], rows=100) < 2**30


def test_split_rows_are_the_rows_of_stratified_split():
    data = small_problem()
    train_rows, held_rows = split_rows(data.y, 0.25, seed=7)
    train, held = stratified_split(data, 0.25, seed=7)
    np.testing.assert_array_equal(train.X, data.X[train_rows])
    np.testing.assert_array_equal(held.y, data.y[held_rows])
    assert sorted([*train_rows, *held_rows]) == list(range(data.m))


def test_the_fingerprint_changes_with_any_cell_and_not_with_the_source():
    data = small_problem()
    same = Dataset(data.X.copy(), data.y.copy(), "elsewhere.csv")
    changed_x = data.X.copy()
    changed_x[3, 2] += 1e-12
    assert fingerprint(same) == fingerprint(data)
    assert fingerprint(Dataset(changed_x, data.y, "small")) != fingerprint(data)
    assert fingerprint(Dataset(data.X, np.roll(data.y, 1), "small")) != fingerprint(data)


def test_weights_keep_the_split_as_plain_arrays(tmp_path):
    network = Network([6, 5, 10])
    network.split = SplitRecord(seed=3, holdout=0.25, data_sha256="ab" * 32, data_source="data/x.csv")
    network.save(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as stored:  # no pickle needed to read any entry
        assert str(stored["split_data_source"]) == "data/x.csv"
    assert Network.from_file(tmp_path / "w.npz").split == network.split
    Network([6, 5, 10]).save(tmp_path / "old.npz")
    assert Network.from_file(tmp_path / "old.npz").split is None
