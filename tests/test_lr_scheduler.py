"""Learning-rate schedules: the rates PyTorch's formulas give, written out here, epoch by epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograd_nn import nn
from autograd_nn.optim import SGD, Adam, AdamW, GradientDescent, Momentum, make_optimizer
from autograd_nn.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, StepLR


def optimizer(lr=0.5, cls=SGD):
    return cls(nn.Linear(2, 1, rng=0).parameters(), lr=lr)


def rates(scheduler, epochs: int) -> list[float]:
    """The rate at construction, then after each of ``epochs`` steps (with an optimizer step before each)."""
    seen = [scheduler.optimizer.lr]
    for _ in range(epochs):
        scheduler.optimizer.step()
        scheduler.step()
        seen.append(scheduler.optimizer.lr)
        assert scheduler.get_last_lr() == [scheduler.optimizer.lr]
    return seen


def test_lambda_lr_applies_the_lambda_at_construction():
    opt = optimizer(0.5)
    scheduler = LambdaLR(opt, lambda epoch: 0.9**epoch + 0.1)
    assert opt.lr == pytest.approx(0.5 * 1.1)  # lr_lambda(0) already applied
    assert rates(scheduler, 6) == pytest.approx([0.5 * (0.9**e + 0.1) for e in range(7)], rel=1e-15)


def test_lambda_lr_as_a_linear_warm_up():
    scheduler = LambdaLR(optimizer(1e-3, Adam), lambda epoch: min(1.0, (epoch + 1) / 4))
    assert rates(scheduler, 6) == pytest.approx([0.25e-3, 0.5e-3, 0.75e-3, 1e-3, 1e-3, 1e-3, 1e-3], rel=1e-15)


def test_step_lr_multiplies_by_gamma_every_step_size_epochs():
    scheduler = StepLR(optimizer(0.5), step_size=3, gamma=0.1)
    want = [0.5 * 0.1 ** (e // 3) for e in range(10)]
    assert rates(scheduler, 9) == pytest.approx(want, rel=1e-15)
    assert want[:4] == pytest.approx([0.5, 0.5, 0.5, 0.05])


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_cosine_annealing_goes_down_to_eta_min_at_t_max_and_keeps_cycling(eta_min):
    base, t_max = 0.5, 4
    scheduler = CosineAnnealingLR(optimizer(base), T_max=t_max, eta_min=eta_min)
    want = [eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2 for e in range(19)]
    got = rates(scheduler, 18)
    assert got == pytest.approx(want, rel=1e-14, abs=1e-15)
    assert got[0] == base and got[t_max] == pytest.approx(eta_min, abs=1e-15)
    assert got[2 * t_max] == pytest.approx(base) and got[3 * t_max] == pytest.approx(eta_min, abs=1e-15)
    assert got[t_max + 1] > got[t_max]  # past T_max it climbs back up, as PyTorch's does


@pytest.mark.parametrize("cls", [GradientDescent, Momentum, SGD, Adam, AdamW])
def test_every_optimizer_takes_the_scheduled_rate(cls):
    """The optimizer's step uses the rate the scheduler set: a plain-gradient step moves by lr * grad."""
    opt = optimizer(0.5, cls)
    StepLR(opt, step_size=1, gamma=0.5).step()  # epoch 1: 0.25
    assert opt.lr == 0.25
    if cls is GradientDescent:
        p = opt.params[0]
        before = p.data.copy()
        p.grad = np.ones_like(p.data)
        opt.step()
        np.testing.assert_allclose(p.data, before - 0.25)


def test_make_optimizer_and_param_groups_see_the_scheduled_rate():
    opt = make_optimizer("adam", nn.Linear(2, 1, rng=0).parameters(), 0.2)
    CosineAnnealingLR(opt, T_max=2).step()
    (group,) = opt.param_groups
    assert group["lr"] == pytest.approx(0.1)
    group["lr"] = 0.05  # PyTorch's idiom for setting the rate by hand
    assert opt.lr == 0.05
    assert group["params"] is opt.params and group["betas"] == (0.9, 0.999)
    with pytest.raises(KeyError, match="only 'lr'"):
        group["eps"] = 1.0


def test_state_dict_round_trip_resumes_the_schedule():
    first = StepLR(optimizer(0.5), step_size=2, gamma=0.5)
    rates(first, 3)
    state = first.state_dict()
    assert state == {"base_lr": 0.5, "last_epoch": 3, "_last_lr": 0.25, "step_size": 2, "gamma": 0.5}
    opt = optimizer(0.5)
    resumed = StepLR(opt, step_size=2, gamma=0.5)
    resumed.load_state_dict(state)
    assert opt.lr == 0.25
    resumed.step()
    first.step()
    assert opt.lr == first.optimizer.lr == 0.125


def test_lambda_lr_state_dict_leaves_the_function_out():
    scheduler = LambdaLR(optimizer(), lambda e: 1.0 / (e + 1))
    scheduler.step()
    assert "lr_lambda" not in scheduler.state_dict()
    assert scheduler.state_dict()["last_epoch"] == 1


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive integer"):
        StepLR(optimizer(), step_size=0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive integer"):
        CosineAnnealingLR(optimizer(), T_max=0)
    with pytest.raises(TypeError, match="lr_lambda must be a function"):
        LambdaLR(optimizer(), 0.5)
    with pytest.raises(TypeError, match=r"keep its learning rate in \.lr"):
        StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="needs the optimizer's initial_lr"):
        StepLR(optimizer(), step_size=1, last_epoch=3)
