"""Grad mode, anomaly mode and name scopes belong to the thread that sets them; @no_grad without parentheses."""

from __future__ import annotations

import sys
import threading

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor, enable_grad, grad_mode, no_grad


def run_in_thread(target) -> None:
    errors: list[BaseException] = []

    def wrapped():
        try:
            target()
        except BaseException as error:  # re-raised in the main thread, so the test fails on it
            errors.append(error)

    thread = threading.Thread(target=wrapped)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def test_a_no_grad_block_in_one_thread_does_not_stop_recording_in_another():
    inside = threading.Event()
    done = threading.Event()
    seen: list[bool] = []

    def quiet_thread():
        with no_grad():
            seen.append(ag.is_grad_enabled())
            inside.set()
            assert done.wait(timeout=30)

    thread = threading.Thread(target=quiet_thread)
    thread.start()
    assert inside.wait(timeout=30)
    try:
        x = Tensor([1.0, 2.0], requires_grad=True)
        assert ag.is_grad_enabled()
        y = x * 3  # recorded here although the other thread is inside no_grad
        assert y.requires_grad and y.op is not None
    finally:
        done.set()
        thread.join(timeout=30)
    assert seen == [False]


def test_tensors_made_while_another_thread_runs_backward_still_require_grad():
    stop = threading.Event()
    backward_passes = []

    def backward_loop():
        w = Tensor(np.linspace(-1, 1, 50), requires_grad=True)
        while not stop.is_set():
            y = w
            for _ in range(200):  # a long backward pass: most of this thread's time is spent inside it
                y = y.tanh() * w
            w.grad = None
            y.sum().backward()
            backward_passes.append(1)

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so the two interleave finely
    thread = threading.Thread(target=backward_loop)
    thread.start()
    try:
        x = Tensor([1.0], requires_grad=True)
        results = []
        while len(backward_passes) < 20:
            results.extend((x * 2.0).requires_grad for _ in range(100))
    finally:
        stop.set()
        thread.join(timeout=30)
        sys.setswitchinterval(switch_interval)
    assert all(results), f"{results.count(False)} of {len(results)} results lost requires_grad"


def test_each_thread_starts_with_recording_on_anomaly_off_and_no_scope():
    states = []
    with no_grad(), ag.detect_anomaly(), ag.name_scope("main"):
        run_in_thread(
            lambda: states.append((ag.is_grad_enabled(), grad_mode.STATE.anomaly, grad_mode.STATE.scope))
        )
        assert (grad_mode.STATE.enabled, grad_mode.STATE.anomaly, grad_mode.STATE.scope) == (
            False,
            True,
            "main",
        )
    assert states == [(True, False, None)]


def test_a_name_scope_in_another_thread_does_not_tag_this_threads_tensors():
    entered = threading.Event()
    release = threading.Event()

    def scoped():
        with ag.name_scope("other"):
            entered.set()
            assert release.wait(timeout=30)

    thread = threading.Thread(target=scoped)
    thread.start()
    assert entered.wait(timeout=30)
    try:
        t = Tensor([1.0], requires_grad=True) * 2
    finally:
        release.set()
        thread.join(timeout=30)
    assert t.scope is None


def test_no_grad_and_enable_grad_decorate_without_parentheses():
    @no_grad
    def quiet(t):
        return t * 2

    @enable_grad
    def loud(t):
        return t * 2

    x = Tensor([1.0], requires_grad=True)
    assert not quiet(x).requires_grad
    assert ag.is_grad_enabled()
    with no_grad():
        assert loud(x).requires_grad
        assert not ag.is_grad_enabled()
    assert quiet.__name__ == "quiet"


def test_no_grad_with_parentheses_still_decorates_and_a_bad_argument_is_a_type_error():
    @no_grad()
    def quiet(t):
        return t * 2

    assert not quiet(Tensor([1.0], requires_grad=True)).requires_grad
    try:
        no_grad(3)
    except TypeError as error:
        assert "no_grad" in str(error)
    else:
        raise AssertionError("no_grad(3) did not raise")


def test_a_decorated_function_called_from_two_threads_restores_each_threads_own_state():
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()
    after: dict[str, bool] = {}

    @no_grad
    def work(entered: threading.Event, wait_for: threading.Event) -> None:
        entered.set()
        assert wait_for.wait(timeout=30)

    def thread_a():  # records; its call returns first
        work(a_inside, b_inside)
        after["a"] = ag.is_grad_enabled()
        a_done.set()

    def thread_b():  # inside no_grad; its call starts after a's and returns after it
        with no_grad():
            assert a_inside.wait(timeout=30)
            work(b_inside, a_done)
            after["b"] = ag.is_grad_enabled()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert after == {"a": True, "b": False}
