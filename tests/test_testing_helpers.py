"""autograd_nn.testing: assert_backward, assert_value_and_grad and assert_gradients_close in a user's pytest suite,
and the docs' pytest example, run by pytest as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from docs_pages import example, section

from autograd_nn.testing import assert_backward, assert_gradients_close, assert_value_and_grad

ROOT = Path(__file__).resolve().parents[1]


def scale_forward(x, w):
    out = x @ w
    return out, (x, w)


def scale_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout


def wrong_backward(dout, cache):
    x, w = cache
    return dout @ w.T, dout.T @ x  # dw transposed


def arrays():
    r = np.random.default_rng(0)
    return r.standard_normal((5, 3)), r.standard_normal((3, 2))


def test_assert_backward_returns_the_report_when_every_gradient_agrees():
    report = assert_backward(scale_forward, scale_backward, *arrays())
    assert report.ok and [row.name for row in report.rows] == ["x", "w"]


def test_assert_backward_raises_an_assertion_error_holding_the_table():
    with pytest.raises(AssertionError) as caught:
        assert_backward(scale_forward, wrong_backward, *arrays())
    message = str(caught.value)
    assert "tensor  shape   verdict" in message
    assert re.search(r"^w\s+\(3, 2\)\s+transpose", message, re.MULTILINE)
    assert "First mismatch: w (transpose: yours is autodiff transposed)." in message


def test_assert_value_and_grad_passes_a_right_gradient_and_fails_a_wrong_one():
    def cost(theta, X):
        return ((X @ theta) ** 2).sum(), 2 * X.T @ (X @ theta)

    def cost_missing_2(theta, X):
        return ((X @ theta) ** 2).sum(), X.T @ (X @ theta)

    X, theta = np.random.default_rng(1).standard_normal((4, 3)), np.ones(3)
    assert assert_value_and_grad(cost, theta, X, wrt=["theta"]).ok
    with pytest.raises(AssertionError, match=r"First mismatch: theta \(scale: yours = 0.5 × autodiff"):
        assert_value_and_grad(cost_missing_2, theta, X, wrt="theta")


def test_assert_gradients_close_names_the_kind_of_mistake():
    a = np.random.default_rng(2).standard_normal((4, 3))
    assert_gradients_close(a.copy(), a)
    assert_gradients_close(a * (1 + 1e-9), a)
    with pytest.raises(AssertionError, match="sign"):
        assert_gradients_close(-a, a)
    with pytest.raises(AssertionError, match=r"\(= m\).*missing 1/m"):
        assert_gradients_close(4 * a, a, num_examples=4)
    with pytest.raises(AssertionError, match=r"broadcast.*yours has shape \(3,\), autodiff \(1, 3\)"):
        assert_gradients_close(a[0], a[:1])
    with pytest.raises(
        AssertionError, match=r"summing yours over axis 0 \(keepdims\) gives autodiff's \(1, 3\)"
    ):
        assert_gradients_close(a, a.sum(axis=0, keepdims=True))
    with pytest.raises(AssertionError, match="nonfinite"):
        assert_gradients_close(np.full_like(a, np.nan), a)


def test_the_docs_pytest_example_passes_as_written_and_fails_with_the_table_on_a_mistake(tmp_path):
    source = example("pytest check_backward")
    planted = source.replace("db = dout.sum(axis=0)", "db = dout")  # the bias gradient not summed
    assert planted != source
    (tmp_path / "test_my_layers.py").write_text(source, encoding="utf-8")
    (tmp_path / "test_planted.py").write_text(planted, encoding="utf-8")
    done = subprocess.run(  # one pytest run for both files: starting pytest is most of the time
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_my_layers.py",
            "test_planted.py",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert "1 failed, 3 passed" in done.stdout, done.stdout + done.stderr
    assert "FAILED test_planted.py::test_affine_backward" in done.stdout
    assert (
        "First mismatch: b (shape: yours has shape (8, 3), autodiff (3,): summing yours over axis 0"
        in done.stdout
    )


def test_the_docs_check_backward_example_prints_what_the_page_shows(capsys):
    text = section("checking.md", "## Checking layer-by-layer backprop")
    match = re.search(r"```python\n(.*?)```\n\n```\n(.*?)```", text, re.DOTALL)
    assert match, "the section's first python block must be followed by the output it prints"
    exec(compile(match.group(1), "docs/checking.md (check_backward)", "exec"), {"__name__": "docs"})
    assert capsys.readouterr().out == match.group(2)
