"""One loading rule for every model (PyTorch's): ``model.load(path)`` fills the model in place and returns
it; ``Network.from_file(path)`` builds a new tutorial network from the sizes its file records."""

from __future__ import annotations

import numpy as np
import pytest

from autograd_nn import nn
from autograd_nn.digits.network import Network, WeightsFileError


def test_load_fills_the_network_in_place_and_returns_it(tmp_path):
    trained = Network([5, 4, 3], seed=9, input_scale=16.0)
    path = trained.save(tmp_path / "w.npz")
    net = Network([5, 4, 3], seed=1)
    theta1 = net.theta1
    assert net.load(path) is net  # like Module.load: the same object, now holding the file's values
    assert net.theta1 is theta1 and net.input_scale == 16.0
    for mine, saved in zip(net.parameters(), trained.parameters(), strict=True):
        np.testing.assert_array_equal(mine.data, saved.data)
    X = np.random.default_rng(0).uniform(0, 16, size=(7, 5))
    np.testing.assert_array_equal(net.forward(X).data, trained.forward(X).data)


def test_module_load_follows_the_same_rule(tmp_path):
    path = nn.Linear(3, 2, rng=0).save(tmp_path / "lin.npz")
    layer = nn.Linear(3, 2, rng=5)
    assert layer.load(path) is layer
    np.testing.assert_array_equal(layer.weight.data, nn.Linear(3, 2, rng=0).weight.data)


def test_from_file_builds_a_network_of_the_files_sizes(tmp_path):
    path = Network([5, 6, 2], seed=3, dtype=np.float32).save(tmp_path / "w.npz")
    built = Network.from_file(path)
    assert built.sizes == [5, 6, 2] and built.dtype == np.float32


def test_the_old_classmethod_call_is_an_error_naming_from_file(tmp_path):
    path = Network([5, 4, 3]).save(tmp_path / "w.npz")
    with pytest.raises(TypeError, match=r"Network\.from_file\(path\)"):
        Network.load(path)
    net = Network([5, 4, 3], seed=2)
    assert Network.load(net, path) is net  # the unbound method with its network still works


def test_load_refuses_a_file_of_other_sizes_and_changes_nothing(tmp_path):
    path = Network([5, 4, 3]).save(tmp_path / "w.npz")
    net = Network([5, 7, 3], seed=2)
    before = [p.data.copy() for p in net.parameters()]
    with pytest.raises(WeightsFileError, match=r"sizes \[5, 4, 3\].*sizes \[5, 7, 3\].*from_file"):
        net.load(path)
    for parameter, kept in zip(net.parameters(), before, strict=True):
        np.testing.assert_array_equal(parameter.data, kept)


def test_a_float32_network_loads_float64_weights_and_stays_float32(tmp_path):
    path = Network([4, 3, 2], seed=1).save(tmp_path / "w.npz")
    net = Network([4, 3, 2], dtype=np.float32).load(path)
    assert net.dtype == np.float32
    np.testing.assert_allclose(net.theta1.data, Network([4, 3, 2], seed=1).theta1.data, rtol=1e-7)
