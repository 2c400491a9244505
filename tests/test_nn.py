"""The tutorial network as forward code: autodiff == hand-derived backprop == central differences."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.digits import reference
from autograd_nn.digits.data import load_dataset, one_hot
from autograd_nn.digits.network import (
    Network,
    WeightsFileError,
    init_epsilon,
    input_scale_for,
    labels_from_scores,
)

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "digits.xlsx"


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The course's gradient-check measure: norm(a - b) / norm(a + b)."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(a + b))


def autodiff_gradients(net: Network, X, Y, lam: float) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    cost = net.cost(X, Y, lam)
    cost.backward()
    return cost.item(), [(theta.grad, bias.grad) for theta, bias in net.params]


def assert_autodiff_matches_hand_derived(net: Network, X, Y, lam: float) -> None:
    """The cost agrees to 1e-12 and every gradient to a relative difference below 1e-10."""
    cost, analytic = autodiff_gradients(net, X, Y, lam)
    expected_cost, expected = reference.cost_and_gradients(net.arrays(), X, Y, lam)
    assert cost == pytest.approx(expected_cost, rel=1e-12)
    for (ga_theta, ga_b), (ge_theta, ge_b) in zip(analytic, expected, strict=True):
        assert relative_difference(ga_theta, ge_theta) < 1e-10
        assert relative_difference(ga_b, ge_b) < 1e-10


def random_problem(sizes: list[int], m: int, seed: int) -> tuple[Network, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    net = Network(sizes, seed=seed)
    X = rng.standard_normal((m, sizes[0]))
    Y = one_hot(rng.integers(1, sizes[-1] + 1, size=m), sizes[-1])
    return net, X, Y


@pytest.fixture(scope="module")
def digits():
    return load_dataset(BUNDLED)


def test_initialisation_is_uniform_in_plus_minus_sqrt6_over_sqrt_fan_sum():
    net = Network([400, 25, 10], seed=1)
    eps1, eps2 = init_epsilon(400, 25), init_epsilon(25, 10)
    assert eps1 == pytest.approx(np.sqrt(6) / np.sqrt(425))
    theta1, theta2 = net.params[0][0].data, net.params[1][0].data
    assert theta1.shape == (25, 400) and theta2.shape == (10, 25)
    assert np.abs(theta1).max() <= eps1 and np.abs(theta1).max() > 0.95 * eps1
    assert np.abs(theta2).max() <= eps2
    assert abs(theta1.mean()) < 0.01  # centred: uniform on [-eps, eps], not [0, eps]


def test_initialisation_is_reproducible_with_a_seed_and_differs_across_seeds():
    a, b, c = Network([64, 25, 10], seed=3), Network([64, 25, 10], seed=3), Network([64, 25, 10], seed=4)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        np.testing.assert_array_equal(pa.data, pb.data)
        assert not np.array_equal(pa.data, pc.data)


def test_parameters_carry_the_tutorial_names_and_require_grad():
    net = Network([64, 32, 16, 10])
    assert [p.name for p in net.parameters()] == ["theta1", "b1", "theta2", "b2", "theta3", "b3"]
    assert all(p.requires_grad for p in net.parameters())


def test_the_network_is_a_module_of_named_parameters():
    from autograd_nn import nn, optim

    net = Network([64, 25, 10], seed=0, input_scale=16.0)
    assert isinstance(net, nn.Module)
    assert [name for name, _ in net.named_parameters()] == ["theta1", "b1", "theta2", "b2"]
    assert net.theta1 is net.params[0][0] and net.b2 is net.params[1][1]
    assert (net.theta1.scope, net.b2.scope) == ("layer1", "layer2")  # the drawing's layer frames
    assert net.num_parameters() == 25 * 65 + 10 * 26
    assert repr(net).splitlines()[0].startswith("Network(sizes=[64, 25, 10], input_scale=16)")
    other = Network([64, 25, 10], seed=1)
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other.theta2.data, net.theta2.data)
    optimizer = optim.SGD(net.parameters(), lr=1.0)
    assert [p.name for p in optimizer.params] == ["theta1", "b1", "theta2", "b2"]
    np.testing.assert_array_equal(net(np.ones((2, 64))).data, net.forward(np.ones((2, 64))).data)


def course_debug_matrix(rows: int, columns: int) -> np.ndarray:
    """The course's debugInitializeWeights: sin(1..n) / 10, filled column by column."""
    return np.sin(np.arange(1, rows * columns + 1)).reshape((rows, columns), order="F") / 10


@pytest.mark.parametrize("lam", [0.0, 3.0])
def test_course_gradient_check_3_5_3_network_m_5(lam):
    # The course's checkNNGradients: a 3-5-3 net, m = 5, deterministic "debug" weights and inputs,
    # labels 1 + (i mod 3), eps = 1e-4; all gradients unrolled into one vector.
    net = Network([3, 5, 3])
    for theta, bias in net.params:
        weights = course_debug_matrix(theta.shape[0], theta.shape[1] + 1)  # column 0 is the bias
        theta.data[:], bias.data[:] = weights[:, 1:], weights[:, 0]
    X = course_debug_matrix(5, 3)
    Y = one_hot(1 + np.arange(1, 6) % 3, 3)
    _, analytic = autodiff_gradients(net, X, Y, lam)
    numeric = reference.numerical_gradients(net.arrays(), X, Y, lam, eps=1e-4)
    unrolled_analytic = np.concatenate([g.ravel() for pair in analytic for g in pair])
    unrolled_numeric = np.concatenate([g.ravel() for pair in numeric for g in pair])
    assert relative_difference(unrolled_analytic, unrolled_numeric) < 1e-9


@pytest.mark.parametrize("hidden", [[7], [6, 5], [6, 5, 4]], ids=["1-hidden", "2-hidden", "3-hidden"])
@pytest.mark.parametrize("lam", [0.0, 0.7])
def test_autodiff_equals_hand_derived_backprop_on_random_networks(hidden, lam):
    net, X, Y = random_problem([4, *hidden, 3], m=11, seed=len(hidden))
    assert_autodiff_matches_hand_derived(net, X, Y, lam)


@pytest.mark.parametrize("hidden", [[5], [4, 3]])
def test_autodiff_matches_central_differences_through_the_whole_network(hidden):
    net, X, Y = random_problem([3, *hidden, 2], m=4, seed=7)
    assert ag.gradcheck(lambda: net.cost(X, Y, lam=0.5), wrt=net.parameters)  # the net reads its own tensors
    net.cost(X, Y, lam=0.5).backward()
    for p in net.parameters():
        # perturbs the parameter's own array in place, so the cost sees every perturbation
        numeric = ag.numerical_gradient(lambda: net.cost(X, Y, lam=0.5).item(), p.data)
        assert np.abs(numeric).max() > 1e-4  # a check that could fail: the cost depends on p
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-6, atol=1e-9, err_msg=p.name)


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_autodiff_equals_hand_derived_backprop_on_the_bundled_digits(digits, lam):
    net = Network([64, 25, 10], seed=0)
    X, Y = digits.X / 16.0, one_hot(digits.y)
    assert_autodiff_matches_hand_derived(net, X, Y, lam)


def test_input_scale_divides_inputs_before_the_first_layer():
    net, X, Y = random_problem([4, 5, 3], m=6, seed=2)
    scaled = Network([4, 5, 3], seed=2, input_scale=8.0)
    assert scaled.cost(X * 8.0, Y).item() == pytest.approx(net.cost(X, Y).item(), rel=1e-12)


def test_cost_is_finite_and_silent_when_the_sigmoid_saturates():
    net = Network([2, 3, 2], seed=0)
    X = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    net.params[1][0].data[:] = 1000.0  # output logits of +-1e5 or so
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        cost = net.cost(X, Y, lam=1.0)
        cost.backward()
    assert np.isfinite(cost.item()) and cost.item() > 100  # confidently wrong on one class: huge, not inf
    assert all(np.isfinite(p.grad).all() for p in net.parameters())


def test_regularization_excludes_biases_and_uses_the_given_number_of_examples():
    net, X, Y = random_problem([3, 4, 2], m=5, seed=1)
    plain = net.cost(X, Y).item()
    thetas = sum(float((theta.data**2).sum()) for theta, _ in net.params)
    assert net.cost(X, Y, lam=2.0).item() == pytest.approx(plain + 2.0 / (2 * 5) * thetas, rel=1e-12)
    assert net.cost(X, Y, lam=2.0, num_examples=50).item() == pytest.approx(
        plain + 2.0 / (2 * 50) * thetas, rel=1e-12
    )


def test_predict_is_the_argmax_label_and_accuracy_counts_matches():
    net = Network([2, 3, 3], seed=0)
    X = np.random.default_rng(0).standard_normal((20, 2))
    scores = net.forward(X).data
    np.testing.assert_array_equal(net.predict(X), scores.argmax(axis=1) + 1)
    y = net.predict(X).copy()
    y[:5] = (y[:5] % 3) + 1  # make five of twenty wrong
    assert net.accuracy(X, y) == pytest.approx(0.75)


def test_inputs_of_the_wrong_width_are_rejected_with_both_sizes():
    net = Network([64, 25, 10])
    with pytest.raises(ValueError, match=r"\(3, 63\).*64 inputs"):
        net.forward(np.zeros((3, 63)))


def test_float32_network_keeps_float32_gradients():
    net = Network([4, 3, 2], dtype=np.float32)
    X = np.ones((5, 4), dtype=np.float32)
    cost = net.cost(X, one_hot(np.array([1, 2, 1, 2, 1]), 2), lam=1.0)
    cost.backward()
    assert cost.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in net.parameters())


def test_save_and_load_round_trip_without_pickle(tmp_path):
    net = Network([5, 4, 3], seed=9, input_scale=16.0)
    path = net.save(tmp_path / "weights.npz")
    loaded = Network.from_file(path)
    assert loaded.sizes == [5, 4, 3] and loaded.input_scale == 16.0
    for a, b in zip(net.parameters(), loaded.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        assert a.name == b.name
    with np.load(path, allow_pickle=False) as stored:  # readable with pickle forbidden
        assert "theta1" in stored.files


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
    net = Network([2, 2, 2])
    net.save(tmp_path / "w.npz")
    with pytest.raises(FileExistsError, match=r"w\.npz"):
        net.save(tmp_path / "w.npz")
    net.save(tmp_path / "w.npz", overwrite=True)


def test_loading_a_bad_weights_file_names_the_file_and_the_problem(tmp_path):
    with pytest.raises(WeightsFileError, match="no such weights file"):
        Network.from_file(tmp_path / "missing.npz")
    text = tmp_path / "text.npz"
    text.write_text("not a weights file")
    with pytest.raises(WeightsFileError, match=r"text\.npz"):
        Network.from_file(text)
    np.savez(tmp_path / "nosizes.npz", theta1=np.zeros((2, 2)))
    with pytest.raises(WeightsFileError, match="'sizes'"):
        Network.from_file(tmp_path / "nosizes.npz")
    np.savez(tmp_path / "shape.npz", sizes=np.array([3, 2]), theta1=np.zeros((2, 4)), b1=np.zeros(2))
    with pytest.raises(WeightsFileError, match=r"theta1 has shape \(2, 4\).*\(2, 3\)"):
        Network.from_file(tmp_path / "shape.npz")
    np.savez(tmp_path / "missing_b.npz", sizes=np.array([3, 2]), theta1=np.zeros((2, 3)))
    with pytest.raises(WeightsFileError, match="'b1'"):
        Network.from_file(tmp_path / "missing_b.npz")
    objects = tmp_path / "objects.npz"
    np.savez(objects, sizes=np.array([3, 2]), theta1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(WeightsFileError, match=r"objects\.npz"):
        Network.from_file(objects)


def test_network_rejects_bad_sizes():
    with pytest.raises(ValueError, match="sizes"):
        Network([64])
    with pytest.raises(ValueError, match="sizes"):
        Network([64, 0, 10])


def test_input_scale_for_is_the_largest_absolute_value_or_one():
    assert input_scale_for(np.array([[0.0, -3.0], [2.0, 1.0]])) == 3.0
    assert input_scale_for(np.zeros((2, 2))) == 1.0
    assert input_scale_for(np.zeros((0, 4))) == 1.0


def test_labels_from_scores_are_the_argmax_column_plus_one():
    np.testing.assert_array_equal(labels_from_scores(np.array([[0.1, 0.7, 0.2], [0.9, 0.0, 0.1]])), [2, 1])
