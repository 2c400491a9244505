"""nn.Module and the layers: registration, dotted names, modes, state dicts and weights files."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_nn as ag
from autograd_nn import nn, optim
from autograd_nn.ops import Op
from autograd_nn.tensor import _reverse_topological_order, _target


class Net(nn.Module):
    def __init__(self, rng=0):
        super().__init__()
        self.hidden = nn.Linear(4, 3, rng=rng)
        self.out = nn.Linear(3, 2, rng=rng)

    def forward(self, x):
        return self.out(self.hidden(x).tanh())


class Deep(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 5, rng=1), nn.ReLU(), Net(rng=2))
        self.blocks = nn.ModuleList([nn.Linear(2, 2, rng=3) for _ in range(2)])
        self.scale = nn.Parameter(np.ones(2))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x * self.scale


# ---------------------------------------------------------------- registration and names
def test_parameters_and_modules_register_in_assignment_order_with_dotted_names():
    model = Deep()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "scale",
        "body.0.weight",
        "body.0.bias",
        "body.2.hidden.weight",
        "body.2.hidden.bias",
        "body.2.out.weight",
        "body.2.out.bias",
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.1.weight",
        "blocks.1.bias",
    ]
    assert [p.name for p in model.parameters()] == names  # the names drawings show
    assert [name for name, _ in model.named_modules()] == [
        "",
        "body",
        "body.0",
        "body.1",
        "body.2",
        "body.2.hidden",
        "body.2.out",
        "blocks",
        "blocks.0",
        "blocks.1",
    ]
    assert len(list(model.modules())) == 10


def test_a_drawing_labels_parameters_with_their_dotted_names():
    model = Net()
    source = ag.draw_graph(model(np.ones((1, 4))).sum()).source
    for name in ("hidden.weight", "hidden.bias", "out.weight", "out.bias"):
        assert name in source


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 4, rng=1), nn.ReLU(), Net(rng=2))
        self.blocks = nn.ModuleList([nn.Linear(2, 2, rng=3) for _ in range(2)])

    def forward(self, x):
        x = self.body(x)
        for block in self.blocks:  # called from Tower's forward, not from the ModuleList's
            x = block(x)
        return x.sum()


def test_a_module_runs_its_forward_in_a_name_scope_named_like_it():
    model = Tower()
    out = model(ag.Tensor(np.ones((1, 2)), name="x"))
    scopes = [op.scope for op in _reverse_topological_order(_target(out)) if isinstance(op, Op)]
    assert out.op.scope is None  # the model called on its own opens no scope around everything
    assert set(scopes) == {
        None,
        "body/0",  # Linear: matmul, add, inside its parent's frame
        "body/1",  # ReLU
        "body/2",  # Net's own tanh, between its two layers
        "body/2/hidden",  # nested modules nest, like their dotted name body.2.hidden
        "body/2/out",
        "blocks.0",  # the dotted name below the module whose forward called it
        "blocks.1",
    }
    assert model.body[2].hidden(np.ones((1, 4))).scope == "body.2.hidden"  # called by the user
    with ag.name_scope("outer"):
        assert model.blocks[1](np.ones((1, 2))).scope == "outer/blocks.1"  # the user's scopes stay


def test_a_model_drawn_collapsed_shows_one_node_per_layer():
    model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU(), nn.Linear(3, 2, rng=1))
    source = ag.draw_graph(model(np.ones((5, 4))).sum(), collapse=True).source
    boxes = [a for a in re.findall(r"\n\t(\w+) \[(.*)\]", source) if "box3d" in a[1]]
    assert [re.search(r"<b>(\w+)</b>", attrs).group(1) for _, attrs in boxes] == [
        "0",
        "1",
        "2",
    ]  # in data-flow order
    assert "matmul, add" in boxes[0][1] and "relu" in boxes[1][1]


def test_parameters_is_a_generator_an_optimizer_takes():
    model = Net()
    params = model.parameters()
    assert not isinstance(params, list)
    opt = optim.SGD(params, lr=0.1)
    assert [id(p) for p in opt.params] == [id(p) for p in model.parameters()]


def test_a_shared_parameter_or_module_is_listed_once():
    model = nn.Module()
    layer = nn.Linear(2, 2, rng=0)
    model.a = layer
    model.b = layer
    assert [name for name, _ in model.named_parameters()] == ["a.weight", "a.bias"]
    assert len(list(model.modules())) == 2


def test_reassigning_or_deleting_an_attribute_unregisters_it():
    model = Net()
    model.hidden = None
    assert [name for name, _ in model.named_parameters()] == ["out.weight", "out.bias"]
    del model.out
    assert list(model.parameters()) == []


def test_plain_tensors_and_arrays_are_not_parameters():
    model = nn.Module()
    model.buffer = ag.Tensor(np.ones(3), requires_grad=True)
    model.table = np.ones(3)
    assert list(model.parameters()) == []


def test_assigning_before_super_init_says_what_to_do():
    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) before assigning attribute 'w'"):
        Forgetful()


def test_a_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="Module subclass must define forward"):
        nn.Module()(np.ones(2))


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(np.arange(3.0))
    assert isinstance(p, ag.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter(")


def test_repr_shows_the_tree_with_shapes_and_parameter_counts():
    text = repr(Net())
    assert text.splitlines() == [
        "Net()",
        "  (hidden): Linear(4, 3)  [weight (3, 4), bias (3,): 15 params]",
        "  (out): Linear(3, 2)  [weight (2, 3), bias (2,): 8 params]",
        "23 parameters",
    ]
    assert Net().num_parameters() == 23
    assert "(1): ReLU()" in repr(Deep()) and "    (hidden): Linear(4, 3)" in repr(Deep())


def test_zero_grad_clears_every_parameter():
    model = Net()
    model(np.ones((2, 4))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_and_eval_switch_every_module():
    model = Deep()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_to_float32_converts_every_parameter():
    model = Net().to(np.float32)
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model(np.ones((2, 4), dtype=np.float32)).dtype == np.float32


# ---------------------------------------------------------------- layers
def test_linear_is_x_times_weight_transposed_plus_bias():
    layer = nn.Linear(4, 3, rng=0)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    x = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data.T + layer.bias.data, rtol=1e-15)
    no_bias = nn.Linear(4, 3, bias=False, rng=0)
    assert no_bias.bias is None and len(list(no_bias.parameters())) == 1
    np.testing.assert_allclose(no_bias(x).data, x @ no_bias.weight.data.T)


def test_linear_initialisation_is_uniform_within_one_over_sqrt_fan_in():
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / np.sqrt(400)
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.95 * bound  # spread over the whole interval
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.01 * bound


def test_layers_built_from_the_same_seed_are_equal_and_manual_seed_repeats_them():
    np.testing.assert_array_equal(nn.Linear(3, 2, rng=7).weight.data, nn.Linear(3, 2, rng=7).weight.data)
    nn.init.manual_seed(5)
    first = nn.Linear(3, 2).weight.data
    nn.init.manual_seed(5)
    np.testing.assert_array_equal(nn.Linear(3, 2).weight.data, first)


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (nn.Tanh(), np.tanh),
        (nn.ReLU(), lambda x: np.maximum(x, 0)),
        (nn.Softmax(axis=1), lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
        (nn.Flatten(), lambda x: x.reshape(len(x), -1)),
    ],
    ids=["sigmoid", "tanh", "relu", "softmax", "flatten"],
)
def test_activation_layers_compute_their_function(layer, expected):
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(layer(x).data, expected(x), rtol=1e-12)


def test_flatten_keeps_the_batch_axis():
    x = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    assert nn.Flatten()(x).shape == (2, 12)


def test_a_models_parameter_gradients_match_central_differences():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 2, rng=1), nn.Sigmoid())
    x = np.random.default_rng(2).standard_normal((5, 3))
    model(x).sum().backward()
    for name, p in model.named_parameters():
        numeric = ag.numerical_gradient(lambda: model(x).sum().item(), p.data)  # perturbs p.data in place
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: nn.Linear(0, 3), "in_features must be a positive integer"),
        (lambda: nn.Linear(3, 2.5), "out_features must be a positive integer"),
        (lambda: nn.Linear(3, 2, dtype=np.int64), "dtype must be float32 or float64"),
        (lambda: nn.Linear(3, 2, rng="seed"), "rng must be a numpy Generator"),
        (lambda: nn.Dropout(1.0), r"p must be in \[0, 1\)"),
        (lambda: nn.Conv2d(1, 2, (3, 3, 3)), "kernel_size must be an int or a pair"),
        (lambda: nn.ModuleList([nn.Tanh(), 3]), "item 1 is a int, not a Module"),
    ],
)
def test_bad_layer_settings_are_named(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_module_list_and_sequential_index_and_iterate():
    seq = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Tanh())
    assert len(seq) == 2 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Tanh)
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh"]
    blocks = nn.ModuleList().append(nn.Linear(2, 2, rng=0))
    blocks.extend([nn.Linear(2, 2, rng=1)])
    assert [name for name, _ in blocks.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]


# ---------------------------------------------------------------- gradient clipping
def test_clip_grad_norm_scales_all_grads_by_one_factor_and_returns_the_old_norm():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    held = a.grad
    assert nn.clip_grad_norm_([a, b], max_norm=1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad, [0.8], rtol=1e-6)
    np.testing.assert_array_equal(held, [3.0, 0.0])  # a copy was scaled, not the caller's array
    assert nn.clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(b.grad, [0.8], rtol=1e-6)  # under the limit: untouched
    with pytest.raises(ValueError, match="max_norm must be positive"):
        nn.clip_grad_norm_([a], 0.0)


# ---------------------------------------------------------------- state dicts
def test_state_dict_round_trip_restores_every_parameter():
    source, target = Deep(), Deep()
    for p in source.parameters():
        p.data[...] = np.random.default_rng(0).standard_normal(p.shape)
    state = source.state_dict()
    assert list(state) == [name for name, _ in source.named_parameters()]
    arrays_before = [p.data for p in target.parameters()]
    target.load_state_dict(state)
    for (name, p), before in zip(target.named_parameters(), arrays_before, strict=True):
        np.testing.assert_array_equal(p.data, state[name])
        assert p.data is before  # copied into the existing arrays
    state["scale"][0] = 99.0
    assert target.scale.data[0] != 99.0  # state_dict holds copies


def test_load_state_dict_names_a_missing_key():
    state = Net().state_dict()
    del state["out.bias"]
    with pytest.raises(nn.StateDictError, match=r"Net.load_state_dict: missing key\(s\) 'out.bias'"):
        Net().load_state_dict(state)


def test_load_state_dict_names_an_unexpected_key():
    state = Net().state_dict()
    state["extra.weight"] = np.ones(2)
    with pytest.raises(nn.StateDictError, match=r"unexpected key\(s\) 'extra.weight'; the model has 'hidden"):
        Net().load_state_dict(state)


def test_load_state_dict_names_a_wrongly_shaped_key_with_both_shapes():
    state = Net().state_dict()
    state["hidden.weight"] = np.ones((4, 3))
    with pytest.raises(
        nn.StateDictError,
        match=r"'hidden.weight' has shape \(4, 3\), but the model's parameter has shape \(3, 4\)",
    ):
        Net().load_state_dict(state, strict=False)  # shapes are checked even when not strict


def test_load_state_dict_rejects_non_numbers_and_changes_nothing_on_error():
    model = Net()
    before = model.state_dict()
    state = {name: value + 1 for name, value in before.items()}
    state["out.bias"] = np.array(["a", "b"])
    with pytest.raises(nn.StateDictError, match=r"'out\.bias' holds <U1 values, not numbers"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_non_strict_loading_ignores_missing_and_unexpected_keys():
    model = Net()
    model.load_state_dict({"out.bias": np.array([1.0, 2.0]), "other": np.ones(1)}, strict=False)
    np.testing.assert_array_equal(model.out.bias.data, [1.0, 2.0])


def test_loading_bumps_the_version_of_each_parameter_that_has_one():
    model = Net()
    if not hasattr(model.out.bias, "_version"):
        pytest.skip("this engine has no version counter")
    before = model.out.bias._version
    model.load_state_dict(model.state_dict())
    assert model.out.bias._version == before + 1


# ---------------------------------------------------------------- weights files
def test_save_and_load_round_trip_through_npz(tmp_path):
    source, target = Net(rng=1), Net(rng=2)
    path = source.save(tmp_path / "net.npz")
    assert target.load(path) is target
    for (name, p), (_, q) in zip(source.named_parameters(), target.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    with np.load(path, allow_pickle=False) as stored:
        assert sorted(stored.files) == sorted(name for name, _ in source.named_parameters())


def test_save_never_replaces_a_file_unless_asked(tmp_path):
    path = tmp_path / "net.npz"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        Net().save(path)
    assert path.read_bytes() == b"precious"
    Net().save(path, overwrite=True)
    Net().load(path)


def test_load_checks_the_file_against_the_models_structure(tmp_path):
    path = nn.Sequential(nn.Linear(4, 3, rng=0)).save(tmp_path / "other.npz")
    with pytest.raises(nn.StateDictError, match=r"other.npz: missing key\(s\) 'hidden.weight'"):
        Net().load(path)


def test_load_names_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(nn.StateDictError, match="no such weights file"):
        Net().load(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(nn.StateDictError, match=r"junk.npz: not an .npz weights file"):
        Net().load(tmp_path / "junk.npz")


@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped byte"])
def test_load_names_a_damaged_file_instead_of_failing_inside_zip(damage, tmp_path):
    path = Net().save(tmp_path / "net.npz")
    data = bytearray(path.read_bytes())
    if damage == "empty":
        data = bytearray()
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0xFF  # inside the stored arrays: only the CRC check notices
    path.write_bytes(bytes(data))
    with pytest.raises(nn.StateDictError, match=r"net.npz: not an .npz weights file \(\w+"):
        Net().load(path)


def test_load_refuses_pickled_object_arrays(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, **{"hidden.weight": np.array([object()], dtype=object)})
    with pytest.raises(nn.StateDictError, match=r"not an \.npz weights file"):
        Net().load(path)


# ---------------------------------------------------------------- training through the optimizers
@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.5, momentum=0.9),
        lambda ps: optim.Adam(ps, lr=0.05),
        lambda ps: optim.AdamW(ps, lr=0.05),
        lambda ps: optim.GradientDescent(ps, lr=0.5),
    ],
    ids=["sgd", "adam", "adamw", "gd"],
)
def test_a_module_trains_through_each_optimizer_updating_parameters_in_place(make):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)[:, None]
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.Tanh(), nn.Linear(8, 1, rng=1))
    arrays = [p.data for p in model.parameters()]
    initialised = model[0].weight._version  # the initialisation's fill counts too
    opt = make(model.parameters())

    def loss():
        return ag.binary_cross_entropy_with_logits(model(X), y)

    first = loss().item()
    for _ in range(100):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.7 * first
    assert all(p.data is a for p, a in zip(model.parameters(), arrays, strict=True))
    if hasattr(model[0].weight, "_version"):
        assert model[0].weight._version == initialised + 100


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.array([1.0, 2.0, 3.0]))

    def forward(self, x):
        return x * self.w  # the multiplication saves w itself for its VJP


def test_backward_through_a_graph_whose_weights_an_optimizer_changed_raises():
    """The optimizer's in-place update bumps the version the node saved, so the stale graph refuses."""
    model = Scale()
    x = np.ones((4, 3))
    model(x).sum().backward()
    stale = model(x).sum()
    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.step()
    assert model.w._version == 1
    with pytest.raises(ag.AutogradError, match="version"):
        stale.backward()
    model.zero_grad()
    model(x).sum().backward()  # a fresh forward pass is fine
    np.testing.assert_array_equal(model.w.grad, [4.0, 4.0, 4.0])


def test_a_stale_linear_graph_raises_after_an_optimizer_step():
    """Linear saves W.T, a view of W: the view shares W's version, so the optimizer's step is seen."""
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.Tanh(), nn.Linear(2, 1, rng=1))
    x = np.ones((4, 3))
    stale = model(x).sum()  # layer 1's gradient will need layer 2's weight, through W2.T
    for p in model.parameters():
        p.grad = np.ones(p.shape)
    optim.SGD(model.parameters(), lr=0.1).step()
    with pytest.raises(ag.AutogradError, match="version"):
        stale.backward()


# ---------------------------------------------------------------- layers over the ops branch's functions
def test_dropout_drops_and_rescales_in_training_mode_and_is_the_identity_in_eval_mode():
    x = np.ones((200, 50))
    layer = nn.Dropout(0.3, rng=0)
    out = layer(x).data
    kept = out != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(out[kept], 1 / 0.7)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x)
    layer.train()
    assert (layer(x).data == 0).any()


def test_dropout_follows_the_model_mode_and_its_seed():
    def model():
        return nn.Sequential(nn.Linear(4, 30, rng=0), nn.Dropout(0.5, rng=7))

    x = np.ones((3, 4))
    a, b = model(), model()
    np.testing.assert_array_equal(a(x).data, b(x).data)  # same seed, same masks
    assert not np.array_equal(a(x).data, a(x).data)  # a fresh mask each call
    a.eval()
    np.testing.assert_array_equal(a(x).data, a[0](x).data)


def test_dropout_gradient_flows_only_through_the_kept_units():
    w = nn.Parameter(np.ones((10, 10)))
    layer = nn.Dropout(0.5, rng=1)
    out = layer(w)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad, out.data)  # d(sum)/dw is the mask scaled by 2: the output itself


def test_leaky_relu_layer():
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(np.array([-2.0, 0.5])).data, [-0.2, 0.5])
    np.testing.assert_allclose(nn.LeakyReLU()(np.array([-2.0])).data, [-0.02])


def naive_conv2d(x, w, b, stride, padding):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = x[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", window, w) + b
    return out


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 1)])
def test_conv2d_layer_matches_loops_and_its_parameter_gradients_match_central_differences(stride, padding):
    layer = nn.Conv2d(2, 3, 3, stride=stride, padding=padding, rng=0)
    assert layer.weight.shape == (3, 2, 3, 3) and layer.bias.shape == (3,)
    assert np.abs(layer.weight.data).max() <= 1 / np.sqrt(2 * 9)
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 6))
    out = layer(x)
    np.testing.assert_allclose(out.data, naive_conv2d(x, layer.weight.data, layer.bias.data, stride, padding))
    weights = np.random.default_rng(2).standard_normal(out.shape)
    (out * weights).sum().backward()
    for name, p in layer.named_parameters():
        numeric = ag.numerical_gradient(lambda: (layer(x) * weights).sum().item(), p.data)
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_max_pool_layer_takes_the_largest_of_each_window():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).data, [[[[5.0, 7.0], [13.0, 15.0]]]])
    assert nn.MaxPool2d(2, stride=1)(x).shape == (1, 1, 3, 3)
    assert "MaxPool2d(kernel_size=2, stride=1)" in repr(nn.MaxPool2d(2, stride=1))


def test_the_digits_cnn_runs_forward_and_backward_on_8x8_images():
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=0),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, rng=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128, 10, rng=2),
    )
    assert model.num_parameters() == 160 + 4640 + 1290
    logits = model(np.random.default_rng(0).standard_normal((5, 1, 8, 8)))
    assert logits.shape == (5, 10)
    ag.cross_entropy(logits, np.arange(5)).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


# ---------------------------------------------------------------- random architectures (property tests)

ACTIVATIONS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "none": None}


@st.composite
def architectures(draw):
    widths = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    layers = []
    for i in range(len(widths) - 1):
        layers.append(("linear", widths[i], widths[i + 1], draw(st.booleans())))
        activation = draw(st.sampled_from(sorted(ACTIVATIONS)))
        if ACTIVATIONS[activation] is not None:
            layers.append((activation,))
    return widths[0], layers, draw(st.integers(0, 2**16))


def build(layers, seed):
    rng = np.random.default_rng(seed)
    modules = [
        nn.Linear(spec[1], spec[2], bias=spec[3], rng=rng) if spec[0] == "linear" else ACTIVATIONS[spec[0]]()
        for spec in layers
    ]
    return nn.Sequential(*modules)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(arch=architectures())
def test_random_sequentials_have_right_gradients_and_survive_a_round_trip_through_a_file(
    arch, tmp_path_factory
):
    width, layers, seed = arch
    model = build(layers, seed)
    x = np.random.default_rng(seed + 1).standard_normal((3, width))
    weights = np.random.default_rng(seed + 2).standard_normal(model(x).shape)

    def loss():
        return (model(x) * weights).sum()

    loss().backward()
    for name, p in model.named_parameters():
        numeric = ag.numerical_gradient(lambda: loss().item(), p.data)
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-5, atol=1e-8, err_msg=name)

    path = model.save(tmp_path_factory.mktemp("weights") / "model.npz")
    other = build(layers, seed + 1).load(path)  # same structure, other initial values
    np.testing.assert_array_equal(other(x).data, model(x).data)
    assert [n for n, _ in other.named_parameters()] == [n for n, _ in model.named_parameters()]
