"""The tutorial's forward pass and cost, written in its own NumPy idiom, differentiate unchanged on Tensors.

The functions below are plain NumPy as a course assignment writes them: ``np.dot(X, theta.T)``,
``1 / (1 + np.exp(-z))``, biases as a column of ones joined with ``np.hstack``/``np.concatenate``,
``np.sum(np.sum(...)) / m``. Called with ndarrays they give floats; called with Tensor weights they give a
Tensor whose gradients must equal the hand-derived backprop of ``digits/reference.py`` and central
differences. Not one line differs between the two uses.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from docs_pages import code_blocks, page

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.digits import reference

ROOT = Path(__file__).resolve().parents[1]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(theta1, theta2, X):
    m = X.shape[0]
    a1 = np.hstack((np.ones((m, 1)), X))  # the bias unit as a column of ones
    z2 = np.dot(a1, theta1.T)
    a2 = np.concatenate((np.ones((m, 1)), sigmoid(z2)), axis=1)
    z3 = np.dot(a2, theta2.T)
    return sigmoid(z3)


def cost_function(theta1, theta2, X, y, lam=0.0):
    m = X.shape[0]
    h = forward(theta1, theta2, X)
    J = np.sum(np.sum(-np.log(h) * y - np.log(1 - h) * (1 - y))) / m
    J = J + lam / (2 * m) * (np.sum(np.square(theta1[:, 1:])) + np.sum(theta2[:, 1:] ** 2))
    return J


def problem(seed=0, m=12, n=5, hidden=4, classes=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    y = np.eye(classes)[rng.integers(0, classes, m)]
    theta1 = rng.standard_normal((hidden, n + 1)) * 0.5
    theta2 = rng.standard_normal((classes, hidden + 1)) * 0.5
    return theta1, theta2, X, y


def as_reference_params(theta1, theta2):
    """The same network as reference.py's [(theta, b), ...]: the bias is the first column."""
    return [(theta1[:, 1:], theta1[:, 0]), (theta2[:, 1:], theta2[:, 0])]


def test_with_arrays_it_is_plain_numpy_and_equals_the_reference_cost():
    theta1, theta2, X, y = problem()
    J = cost_function(theta1, theta2, X, y)
    assert isinstance(J, float | np.floating)
    assert pytest.approx(reference.cost(as_reference_params(theta1, theta2), X, y), rel=1e-12) == J


@pytest.mark.parametrize("lam", [0.0, 1.5])
def test_with_tensor_weights_the_unchanged_code_gives_the_reference_gradients(lam):
    theta1, theta2, X, y = problem()
    t1, t2 = Tensor(theta1, requires_grad=True), Tensor(theta2, requires_grad=True)
    J = cost_function(t1, t2, X, y, lam)
    assert isinstance(J, Tensor) and J.requires_grad
    expected_J, grads = reference.cost_and_gradients(as_reference_params(theta1, theta2), X, y, lam)
    assert J.item() == pytest.approx(expected_J, rel=1e-12)
    J.backward()
    for tensor, (g_theta, g_b) in zip(
        (t1, t2), grads, strict=True
    ):  # reference.py's theta has no bias column
        np.testing.assert_allclose(tensor.grad, np.hstack((g_b[:, None], g_theta)), rtol=1e-10, atol=1e-13)


def test_the_unchanged_code_agrees_with_central_differences():
    theta1, theta2, X, y = problem(seed=3, m=6, n=3, hidden=3, classes=2)
    t1, t2 = Tensor(theta1, requires_grad=True), Tensor(theta2, requires_grad=True)
    assert ag.gradcheck(lambda a, b: cost_function(a, b, X, y, 0.7), t1, t2)


def test_the_graph_names_the_numpy_functions_the_code_called():
    theta1, theta2, X, y = problem()
    J = cost_function(Tensor(theta1, requires_grad=True), Tensor(theta2, requires_grad=True), X, y)
    names, stack, seen = set(), [J.op], set()
    while stack:
        op = stack.pop()
        if op is None or id(op) in seen or isinstance(op, Tensor):
            continue
        seen.add(id(op))
        names.add(op.name)
        stack.extend(t for t in op.targets if t is not None)
    assert {"dot", "exp", "log", "sum", "concatenate", "div", "neg"} <= names


def test_plain_array_inputs_on_the_left_keep_the_graph():
    """ndarray @ Tensor, ndarray * Tensor, ndarray - Tensor: NumPy hands each to the Tensor."""
    rng = np.random.default_rng(1)
    X, w = rng.standard_normal((4, 3)), Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    for result in (X @ w, X[:2, :2] * w[:2], X[:2, :2] - w[:2], np.ones(2) / (w + 3), np.float64(2.0) * w):
        assert isinstance(result, Tensor) and result.requires_grad
    (X @ w).sum().backward()
    np.testing.assert_allclose(w.grad, X.sum(axis=0)[:, None] * np.ones((1, 2)))


def test_the_example_draws_the_numpy_names_and_agrees_with_the_hand_written_backprop(tmp_path):
    """examples/numpy_forward.py run as a user runs it (a subprocess from the project root)."""
    graph = tmp_path / "forward.dot"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "numpy_forward.py"), "--graph", str(graph)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    costs = re.findall(r"cost with (?:ndarrays|Tensors): +([0-9.]+) \((float64|Tensor)", done.stdout)
    assert [kind for _, kind in costs] == ["float64", "Tensor"] and costs[0][0] == costs[1][0]
    assert "NumPy functions named in the drawing: hstack, dot, exp, log, sum" in done.stdout
    assert "All 2 gradients agree with autodiff." in done.stdout
    labels = set(re.findall(r"\blabel=\"?(\w+)", graph.read_text()))
    assert {"hstack", "dot", "exp", "log", "sum"} <= labels


def test_the_docs_page_runs_and_prints_what_it_says():
    printed = io.StringIO()
    names: dict = {}
    with contextlib.redirect_stdout(printed):
        for block in code_blocks(page("numpy.md")):
            exec(compile(block, "docs/numpy.md", "exec"), names)
    lines = printed.getvalue().splitlines()
    assert lines[0] == "Tensor (5, 5) (3, 6)"
    assert lines[1].startswith(
        "numpy.cumprod is not differentiable in autograd_nn; use np.prod over the axis"
    )
    assert lines[2] == "[0.5  0.75]"


def test_the_dispatch_benchmark_reports_every_measurement():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "numpy_dispatch.py"), "--quick", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for stmt in ("a * t", "X @ w", "np.exp(t)", "np.dot(X, w)", "x ** 3", "np.power(x, 3)", "x * x * x"):
        assert re.search(rf"^  {re.escape(stmt)} +[0-9.]+ (µs|ms)", done.stdout, re.MULTILINE), stmt
