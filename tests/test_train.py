"""Training: reaches the article's goal honestly, reproducibly, and records what happened."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograd_nn.digits.data import Dataset, load_dataset
from autograd_nn.digits.train import train_network
from autograd_nn.training import TrainConfig

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "digits.xlsx"


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset(BUNDLED)


@pytest.fixture(scope="module")
def default_run(digits):
    return train_network(digits, TrainConfig(), progress=False)


def small_problem(m: int = 120, seed: int = 0) -> Dataset:
    """Three well-separated Gaussian blobs in 4-D: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(1, 4), m // 3)
    centres = rng.standard_normal((3, 4)) * 4
    X = centres[y - 1] + rng.standard_normal((len(y), 4))
    return Dataset(X=X, y=y, source="blobs", num_labels=3)


def test_default_training_reaches_97_percent_on_held_out_digits(default_run):
    assert default_run.final["heldout_accuracy"] >= 0.97
    assert default_run.heldout_set.m == 360 or default_run.heldout_set.m == 359  # a fifth of 1797


def test_held_out_examples_are_never_trained_on(default_run, digits):
    train, heldout = default_run.train_set, default_run.heldout_set
    assert train.m + heldout.m == digits.m
    train_rows = {row.tobytes() + bytes([label]) for row, label in zip(train.X, train.y, strict=True)}
    overlap = sum(
        row.tobytes() + bytes([label]) in train_rows for row, label in zip(heldout.X, heldout.y, strict=True)
    )
    assert overlap <= 3  # identical images can occur in the data itself, never by the split


def test_history_has_one_row_per_epoch_and_the_cost_falls(default_run):
    history = default_run.history
    assert history.epoch == list(range(1, default_run.config.epochs + 1))
    assert (
        len(history.train_cost)
        == len(history.heldout_cost)
        == len(history.heldout_accuracy)
        == len(history.epoch)
    )
    assert history.train_cost[-1] < 0.2 * history.train_cost[0]
    assert all(np.isfinite(history.train_cost))


def test_inputs_are_scaled_by_the_training_sets_largest_value(default_run):
    assert default_run.network.input_scale == pytest.approx(float(np.abs(default_run.train_set.X).max()))


def test_training_is_reproducible_with_a_seed_and_varies_across_seeds():
    data = small_problem()
    config = TrainConfig(hidden=(5,), epochs=5, batch_size=16, seed=3)
    first, second = train_network(data, config, progress=False), train_network(data, config, progress=False)
    assert first.history.train_cost == second.history.train_cost
    other = train_network(data, TrainConfig(hidden=(5,), epochs=5, batch_size=16, seed=4), progress=False)
    assert other.history.train_cost != first.history.train_cost


@pytest.mark.parametrize("optimizer,lr", [("gd", 2.0), ("momentum", 0.5), ("adam", 0.05)])
def test_every_optimizer_learns_a_separable_problem(optimizer, lr):
    batch = None if optimizer == "gd" else 16
    result = train_network(
        small_problem(),
        TrainConfig(hidden=(6,), epochs=60, lr=lr, optimizer=optimizer, batch_size=batch),
        progress=False,
    )
    assert result.final["heldout_accuracy"] >= 0.9
    assert result.history.train_cost[-1] < result.history.train_cost[0]


def test_full_batch_gradient_descent_with_a_small_step_lowers_the_cost_every_epoch():
    result = train_network(
        small_problem(),
        TrainConfig(hidden=(4,), epochs=30, lr=0.1, optimizer="gd", batch_size=None),
        progress=False,
    )
    costs = np.asarray(result.history.train_cost)
    assert (np.diff(costs) < 0).all()  # the tutorial's replace-theta-by-gradient bug would oscillate


def test_early_stopping_stops_on_a_plateau_and_keeps_the_best_epoch():
    data = small_problem(seed=1)
    result = train_network(
        data, TrainConfig(hidden=(8,), epochs=500, lr=0.05, batch_size=8, patience=5), progress=False
    )
    assert result.stopped_early
    assert len(result.history.epoch) < 500
    heldout = np.asarray(result.history.heldout_cost)
    assert result.best_epoch == int(np.argmin(heldout)) + 1
    assert len(result.history.epoch) == result.best_epoch + 5
    from autograd_nn.training import evaluate

    assert evaluate(result.network, result.heldout_set)[0] == pytest.approx(heldout.min(), rel=1e-12)


def test_float32_training_stays_float32():
    result = train_network(
        small_problem(), TrainConfig(hidden=(4,), epochs=2, dtype="float32"), progress=False
    )
    assert all(p.data.dtype == np.float32 for p in result.network.parameters())


def test_no_holdout_gives_nan_held_out_measurements():
    result = train_network(small_problem(), TrainConfig(hidden=(4,), epochs=2, holdout=0.0), progress=False)
    assert result.heldout_set.m == 0
    assert np.isnan(result.history.heldout_cost).all()


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"hidden": ()}, "hidden"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"lam": -1.0}, "lambda"),
        ({"batch_size": 0}, "batch size"),
        ({"holdout": 1.0}, "holdout"),
        ({"patience": 3, "holdout": 0.0}, "held-out"),
        ({"dtype": "float16"}, "dtype"),
    ],
)
def test_bad_settings_are_rejected_with_the_setting_named(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)
