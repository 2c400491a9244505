"""The optimizers (``autograd_nn.optim``) on stand-in parameters: update rules, state, dtypes and validation."""

from __future__ import annotations

import numpy as np
import pytest

from autograd_nn.optim import Adam, GradientDescent, Momentum, Optimizer, make_optimizer


class Param:
    """The duck type the optimizers need: ``.data`` updated in place, ``.grad`` or None."""

    def __init__(self, data, grad=None, dtype=np.float64):
        self.data = np.array(data, dtype=dtype)
        self.grad = None if grad is None else np.array(grad, dtype=dtype)


# f(theta) = 1/2 sum a * (theta - c)**2 has its minimum at c and gradient a * (theta - c).
CURVATURE = np.array([0.5, 1.0, 2.0])
MINIMUM = np.array([1.0, -2.0, 3.0])


def quadratic_grad(theta):
    return CURVATURE * (theta - MINIMUM)


@pytest.mark.parametrize(
    ("make", "steps"),
    [
        (lambda ps: GradientDescent(ps, lr=0.5), 200),
        (lambda ps: Momentum(ps, lr=0.1, momentum=0.9), 500),
        (lambda ps: Adam(ps, lr=0.05), 2000),
    ],
    ids=["gd", "momentum", "adam"],
)
def test_each_optimizer_minimises_a_quadratic(make, steps):
    p = Param(np.zeros(3))
    opt = make([p])
    for _ in range(steps):
        opt.zero_grad()
        p.grad = quadratic_grad(p.data)
        opt.step()
    np.testing.assert_allclose(p.data, MINIMUM, atol=1e-8)


def test_gradient_descent_step_is_theta_minus_lr_times_grad_in_place():
    p = Param([1.0, -2.0, 0.5], grad=[0.3, -0.1, 2.0])
    data = p.data
    GradientDescent([p], lr=0.25).step()
    assert p.data is data  # updated in place, never rebound
    np.testing.assert_array_equal(p.data, np.array([1.0, -2.0, 0.5]) - 0.25 * np.array([0.3, -0.1, 2.0]))


def test_momentum_accumulates_a_velocity():
    p = Param([1.0, 2.0])
    opt = Momentum([p], lr=0.1, momentum=0.9)
    g1, g2 = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    p.grad = g1.copy()
    opt.step()  # v = g1
    np.testing.assert_allclose(p.data, [1.0, 2.0] - 0.1 * g1, rtol=1e-15)
    p.grad = g2.copy()
    opt.step()  # v = 0.9 g1 + g2
    np.testing.assert_allclose(p.data, [1.0, 2.0] - 0.1 * g1 - 0.1 * (0.9 * g1 + g2), rtol=1e-15)


def test_adam_first_step_is_lr_times_sign_of_grad():
    """Bias correction makes m^ = g and v^ = g**2 on step one, whatever the grad's size."""
    grad = np.array([3.0, -0.5, 1e-3, -200.0])
    p = Param(np.zeros(4), grad=grad)
    Adam([p], lr=0.01).step()
    np.testing.assert_allclose(p.data, -0.01 * np.sign(grad), rtol=1e-5)


def test_adam_second_step_follows_the_bias_corrected_moments():
    lr, (b1, b2), eps = 0.01, (0.8, 0.99), 1e-8
    g1, g2 = np.array([1.0, -3.0]), np.array([2.0, 1.0])
    p = Param([0.5, 0.5])
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    for g in (g1, g2):
        p.grad = g.copy()
        opt.step()
    m = (1 - b1) * (b1 * g1 + g2)
    v = (1 - b2) * (b2 * g1**2 + g2**2)
    step1 = lr * g1 / (np.abs(g1) + eps)
    step2 = lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)
    np.testing.assert_allclose(p.data, 0.5 - step1 - step2, rtol=1e-12)


def test_zero_grad_sets_every_grad_to_none():
    params = [Param([1.0], grad=[2.0]), Param([3.0, 4.0], grad=[5.0, 6.0]), Param([7.0])]
    GradientDescent(params).zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("name", ["gd", "momentum", "adam"])
def test_params_without_grad_are_left_alone(name):
    frozen, moving = Param([1.0, 2.0]), Param([3.0], grad=[1.0])
    opt = make_optimizer(name, [frozen, moving], lr=0.1)
    for _ in range(3):
        opt.step()
    np.testing.assert_array_equal(frozen.data, [1.0, 2.0])
    assert frozen.grad is None
    assert moving.data[0] < 3.0


def test_adam_counts_steps_per_parameter():
    """A parameter that had no grad for a while still gets the bias-corrected first step lr * sign(g)."""
    late, early = Param([0.0, 0.0]), Param([0.0], grad=[1.0])
    opt = Adam([late, early], lr=0.1)
    for _ in range(5):
        opt.step()
    late.grad = np.array([4.0, -0.25])
    opt.step()
    np.testing.assert_allclose(late.data, [-0.1, 0.1], rtol=1e-6)


@pytest.mark.parametrize(("name", "cls"), [("gd", GradientDescent), ("momentum", Momentum), ("adam", Adam)])
def test_make_optimizer_builds_the_named_optimizer(name, cls):
    params = [Param([1.0])]
    opt = make_optimizer(name, params, lr=0.3)
    assert type(opt) is cls and isinstance(opt, Optimizer)
    assert opt.lr == 0.3 and opt.params == params


def test_make_optimizer_rejects_an_unknown_name_listing_the_choices():
    with pytest.raises(ValueError, match=r"unknown optimizer 'sgd'.*'adam', 'gd', 'momentum'"):
        make_optimizer("sgd", [Param([1.0])], lr=0.1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda ps: GradientDescent(ps, lr=0.0), "lr"),
        (lambda ps: GradientDescent(ps, lr=-0.1), "lr"),
        (lambda ps: GradientDescent(ps, lr=float("nan")), "lr"),
        (lambda ps: Momentum(ps, lr=float("inf")), "lr"),
        (lambda ps: Momentum(ps, momentum=1.0), "momentum"),
        (lambda ps: Momentum(ps, momentum=-0.5), "momentum"),
        (lambda ps: Adam(ps, lr=0.0), "lr"),
        (lambda ps: Adam(ps, betas=(1.0, 0.999)), r"betas\[0\]"),
        (lambda ps: Adam(ps, betas=(0.9, 1.0)), r"betas\[1\]"),
        (lambda ps: Adam(ps, betas=(-0.1, 0.999)), r"betas\[0\]"),
        (lambda ps: Adam(ps, betas=(0.9,)), "betas"),
        (lambda ps: Adam(ps, eps=0.0), "eps"),
        (lambda ps: make_optimizer("adam", ps, lr=-1.0), "lr"),
    ],
)
def test_bad_hyperparameters_raise_value_errors_naming_the_parameter(make, message):
    with pytest.raises(ValueError, match=message):
        make([Param([1.0])])


def test_bad_parameter_lists_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        GradientDescent([])
    p = Param([1.0])
    with pytest.raises(ValueError, match="parameter 1 appears twice"):
        GradientDescent([p, p])
    with pytest.raises(ValueError, match=r"parameter 0: \.data must be a floating-point ndarray"):
        GradientDescent([Param([1, 2], dtype=np.int64)])


@pytest.mark.parametrize("name", ["gd", "momentum", "adam"])
def test_a_grad_of_the_wrong_shape_raises_before_anything_is_updated(name):
    good, bad = Param([1.0, 2.0], grad=[1.0, 1.0]), Param([[1.0, 2.0]] * 2, grad=[1.0, 1.0])
    opt = make_optimizer(name, [good, bad], lr=0.1)
    with pytest.raises(
        ValueError, match=r"parameter 1: grad of shape \(2,\) does not match data of shape \(2, 2\)"
    ):
        opt.step()
    np.testing.assert_array_equal(good.data, [1.0, 2.0])


@pytest.mark.parametrize("name", ["gd", "momentum", "adam"])
def test_float32_parameters_stay_float32(name):
    p = Param([1.0, -1.0], dtype=np.float32)
    data = p.data
    opt = make_optimizer(name, [p], lr=0.1)
    for grad in ([0.5, -0.5], [0.25, -1.0]):
        p.grad = np.array(grad, dtype=np.float64)  # even a float64 grad must not change the param's dtype
        opt.step()
    assert p.data is data and p.data.dtype == np.float32
    assert p.data[0] < 1.0 and p.data[1] > -1.0


@pytest.mark.parametrize("name", ["gd", "momentum", "adam"])
def test_step_never_writes_to_the_users_grad(name):
    p = Param([1.0, 2.0, 3.0], grad=[0.5, -1.0, 2.0])
    grad = p.grad
    opt = make_optimizer(name, [p], lr=0.1)
    for _ in range(3):
        opt.step()
    assert p.grad is grad
    np.testing.assert_array_equal(grad, [0.5, -1.0, 2.0])


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_optimizer_state_does_not_alias_the_grad(name):
    """Overwriting a grad array after step() must not reach into the optimizer's velocity or moments."""
    g1, g2 = np.array([0.5, -1.0]), np.array([2.0, 0.25])
    clean, reused = Param([1.0, 1.0]), Param([1.0, 1.0])
    clean_opt = make_optimizer(name, [clean], lr=0.1)
    reused_opt = make_optimizer(name, [reused], lr=0.1)

    clean.grad = g1.copy()
    clean_opt.step()
    clean.grad = g2.copy()
    clean_opt.step()

    buffer = g1.copy()
    reused.grad = buffer
    reused_opt.step()
    buffer[...] = g2  # e.g. a backward pass accumulating into the same array
    reused_opt.step()

    np.testing.assert_array_equal(reused.data, clean.data)


# ---------------------------------------------------------------- PyTorch's names and update rules
# Each reference below is PyTorch's documented algorithm written out step by step, independently of optim.py.

from autograd_nn.optim import SGD, AdamW  # noqa: E402

GRADS = [np.array([0.3, -1.2, 2.0]), np.array([-0.7, 0.4, 0.1]), np.array([1.5, 0.2, -0.9])]
START = np.array([0.5, -1.0, 2.0])


def reference_sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    theta, buf = START.copy(), None
    for t, grad in enumerate(GRADS):
        g = grad + weight_decay * theta
        if momentum:
            buf = g.copy() if t == 0 else momentum * buf + g
            g = g + momentum * buf if nesterov else buf
        theta = theta - lr * g
    return theta


def reference_adam(lr, betas, eps, weight_decay, decoupled):
    theta, m, v = START.copy(), np.zeros(3), np.zeros(3)
    for t, grad in enumerate(GRADS, start=1):
        g = grad
        if decoupled:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g**2
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def run(opt_factory):
    p = Param(START.copy())
    opt = opt_factory([p])
    for grad in GRADS:
        p.grad = grad.copy()
        opt.step()
    return p.data


@pytest.mark.parametrize(
    "settings",
    [
        {"lr": 0.1},
        {"lr": 0.1, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.8, "nesterov": True},
        {"lr": 0.1, "weight_decay": 0.3},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    ],
    ids=["plain", "momentum", "nesterov", "weight-decay", "all"],
)
def test_sgd_follows_pytorchs_update_rule(settings):
    np.testing.assert_allclose(run(lambda ps: SGD(ps, **settings)), reference_sgd(**settings), rtol=1e-13)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_follows_pytorchs_update_rule_with_l2_weight_decay(weight_decay):
    settings = {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": weight_decay}
    got = run(lambda ps: Adam(ps, **settings))
    np.testing.assert_allclose(got, reference_adam(**settings, decoupled=False), rtol=1e-12)


def test_adamw_decays_the_weights_apart_from_the_gradient():
    settings = {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.5}
    got = run(lambda ps: AdamW(ps, **settings))
    np.testing.assert_allclose(got, reference_adam(**settings, decoupled=True), rtol=1e-12)
    assert not np.allclose(got, reference_adam(**settings, decoupled=False))  # the two decays differ


def test_pytorch_defaults():
    p = [Param([1.0])]
    adam, adamw = Adam(p), AdamW(p)
    assert (adam.lr, adam.betas, adam.eps, adam.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 0.0)
    assert (adamw.lr, adamw.weight_decay) == (1e-3, 1e-2)
    sgd = SGD(p, lr=0.1)
    assert (sgd.momentum, sgd.nesterov, sgd.weight_decay) == (0.0, False, 0.0)


def test_momentum_is_sgd_with_momentum():
    got = run(lambda ps: Momentum(ps, lr=0.1, momentum=0.9))
    np.testing.assert_allclose(got, reference_sgd(lr=0.1, momentum=0.9), rtol=1e-15)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda ps: SGD(ps, lr=0.1, nesterov=True), "nesterov needs a momentum"),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=-1.0), "weight_decay"),
        (lambda ps: AdamW(ps, weight_decay=float("nan")), "weight_decay"),
        (lambda ps: SGD(ps, lr=0.1, momentum=1.0), "momentum"),
    ],
)
def test_bad_pytorch_style_settings_name_the_setting(make, message):
    with pytest.raises(ValueError, match=message):
        make([Param([1.0])])


def test_optimizers_take_a_generator_of_parameters():
    params = [Param([1.0], grad=[1.0]), Param([2.0], grad=[1.0])]
    opt = SGD((p for p in params), lr=0.5)
    opt.step()
    np.testing.assert_array_equal([p.data[0] for p in params], [0.5, 1.5])


class VersionedParam(Param):
    """A stand-in with the engine's version counter."""

    def __init__(self, data, grad=None):
        super().__init__(data, grad)
        self._version = 0


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: GradientDescent(ps, lr=0.1),
        lambda ps: Momentum(ps, lr=0.1),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
        lambda ps: Adam(ps, lr=0.1),
        lambda ps: AdamW(ps, lr=0.1),
    ],
    ids=["gd", "momentum", "sgd", "adam", "adamw"],
)
def test_each_step_bumps_the_version_of_the_parameters_it_changed(make):
    changed, untouched, plain = (
        VersionedParam([1.0], grad=[1.0]),
        VersionedParam([2.0]),
        Param([3.0], grad=[1.0]),
    )
    opt = make([changed, untouched, plain])  # a parameter without a counter is still updated
    opt.step()
    opt.step()
    assert changed._version == 2 and untouched._version == 0
    assert plain.data[0] < 3.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_updating_its_parameters_together_gives_the_numbers_of_one_at_a_time(dtype, weight_decay):
    """Several parameters step on flat arrays (one NumPy call per rule line); one parameter alone
    steps by itself. Both must give the same bits, also after a step that skipped a parameter."""
    rng = np.random.default_rng(0)
    shapes = [(5, 4), (4,), (3, 5)]
    together = [Param(rng.normal(size=s), dtype=dtype) for s in shapes]
    alone = [Param(p.data, dtype=dtype) for p in together]
    opt = Adam(together, lr=0.01, weight_decay=weight_decay)
    singles = [Adam([p], lr=0.01, weight_decay=weight_decay) for p in alone]
    for step in range(12):
        for k, (p, q, single) in enumerate(zip(together, alone, singles, strict=True)):
            skipped = step == 8 and k == 1
            p.grad = None if skipped else rng.normal(size=p.data.shape).astype(dtype)
            if not skipped:
                q.grad = p.grad.copy()
                single.step()
        opt.step()
        for p, q in zip(together, alone, strict=True):
            assert p.data.dtype == q.data.dtype == dtype
            np.testing.assert_array_equal(p.data, q.data)
