"""``autograd-nn check``, driven as a real process: a hand backprop with a planted mistake exits 1 and says where."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TUTORIAL_BACKPROP = """
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop(params, X, Y):
    m = X.shape[0]
    a2 = sigmoid(X @ params["theta1"].T + params["b1"])
    h = sigmoid(a2 @ params["theta2"].T + params["b2"])
    delta3 = {delta3}
    delta2 = delta3 @ params["theta2"] * a2 * (1 - a2)
    return {{
        "z3": delta3,
        "z2": delta2,
        "theta2": {theta2},
        "b2": delta3.sum(axis=0) / m,
        "theta1": delta2.T @ X / m,
        "b1": delta2.sum(axis=0) / m,
        "scale": {{"z3": 1 / m, "z2": 1 / m}},
    }}
"""


def backprop_file(tmp_path: Path, delta3="h - Y", theta2="delta3.T @ a2 / m") -> Path:
    path = tmp_path / "my_backprop.py"
    path.write_text(TUTORIAL_BACKPROP.format(delta3=delta3, theta2=theta2))
    return path


def check(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograd_nn", "check", *args], capture_output=True, text=True, cwd=cwd
    )


def test_the_projects_own_backprop_agrees_and_exits_0():
    done = check()
    assert done.returncode == 0, done.stderr
    assert "16 random examples of 1797; network 64-25-10" in done.stdout
    assert "reference.py" in done.stdout
    assert "All 4 gradients agree with autodiff." in done.stdout
    assert "vs central diff." in done.stdout  # central differences were computed too


def test_a_right_user_backprop_with_deltas_exits_0(tmp_path):
    done = check("--backprop", f"{backprop_file(tmp_path)}:backprop", "--hidden", "8", "--examples", "10")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All 6 gradients agree" in done.stdout


def test_a_planted_sign_mistake_exits_1_naming_z3_and_draws_it(tmp_path):
    graph = tmp_path / "check.svg"
    path = backprop_file(tmp_path, delta3="Y - h")
    done = check("--backprop", f"{path}:backprop", "--graph", str(graph))
    assert done.returncode == 1
    assert "First mismatch: z3 (sign" in done.stdout
    lines = done.stdout.splitlines()
    assert next(line for line in lines if line.startswith("z3 ")).split()[3] == "sign"
    assert "first mismatch" in graph.read_text()
    assert done.stderr == ""


def test_a_planted_missing_1_over_m_is_a_scale_of_m(tmp_path):
    path = backprop_file(tmp_path, theta2="delta3.T @ a2")
    done = check("--backprop", f"{path}:backprop", "--examples", "20")
    assert done.returncode == 1
    assert "First mismatch: theta2 (scale" in done.stdout
    assert "20 (= m)" in done.stdout


def test_a_backprop_that_leaves_out_the_bias_gradients_exits_1(tmp_path):
    path = tmp_path / "no_bias.py"
    path.write_text(
        "def backprop(params, X, Y):\n"
        "    from autograd_nn.digits.reference import cost_and_gradients\n"
        "    _, ((t1, _), (t2, _)) = cost_and_gradients(\n"
        "        [(params['theta1'], params['b1']), (params['theta2'], params['b2'])], X, Y)\n"
        "    return {'theta1': t1, 'theta2': t2}\n"
    )
    done = check("--backprop", f"{path}:backprop", "--hidden", "8", "--examples", "8")
    assert done.returncode == 1
    assert "All 2 gradients agree with autodiff." in done.stdout
    assert "Missing: no gradient for b2, b1" in done.stdout


@pytest.mark.parametrize(
    ("source", "spec", "expected"),
    [
        (None, "missing.py:backprop", "--backprop: missing.py: no such file"),
        (
            "def other(p, X, Y):\n    return {}\n",
            "bp.py:backprop",
            "bp.py has no function 'backprop'; it defines other",
        ),
        (
            "def backprop(p, X, Y):\n    return 1 / 0\n",
            "bp.py:backprop",
            "backprop(params, X, Y) in bp.py raised ZeroDivisionError: division by zero (line 2)",
        ),
        (
            "def backprop(p, X, Y):\n    return [1, 2]\n",
            "bp.py:backprop",
            "returned list; it must return a dict",
        ),
        (
            "def backprop(p, X, Y):\n    return {'delta3': 0}\n",
            "bp.py:backprop",
            "no tensor named 'delta3' (a key of manual) in the loss's graph; the names there are J, z3",
        ),
        ("def backprop(p, X, Y)\n    return {}\n", "bp.py:backprop", "loading it raised SyntaxError"),
        ("", "bp.py", "expected FILE.py:FUNCTION"),
    ],
)
def test_a_broken_backprop_file_is_one_line_and_exit_1(tmp_path, source, spec, expected):
    if source is not None:
        (tmp_path / "bp.py").write_text(textwrap.dedent(source))
    done = check("--backprop", spec, cwd=tmp_path)
    assert done.returncode == 1
    assert expected in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("autograd-nn check: error: ")


@pytest.mark.parametrize(("option", "value"), [("--examples", "0"), ("--seed", "-1")])
def test_bad_option_values_are_one_line_naming_the_option(option, value):
    done = check(option, value)
    assert done.returncode == 1
    assert (
        done.stderr.startswith(f"autograd-nn check: error: argument {option}: expected a whole number")
        and done.stderr.count("\n") == 1
    )


def test_an_existing_graph_file_is_not_overwritten(tmp_path):
    graph = tmp_path / "check.svg"
    graph.write_text("mine")
    done = check("--graph", str(graph))
    assert done.returncode == 1
    assert "--graph" in done.stderr and "--overwrite" in done.stderr
    assert graph.read_text() == "mine"


def test_the_example_fixes_the_tutorials_mistakes_one_at_a_time_until_all_agree(tmp_path):
    graph = tmp_path / "last_mistake.svg"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "check_backprop.py"), "--graph", str(graph)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    firsts = [line.split(" (")[0] for line in done.stdout.splitlines() if line.startswith("First mismatch")]
    assert firsts == ["First mismatch: z3", "First mismatch: b2", "First mismatch: z2"]
    assert "z3      (16, 10)  sign" in done.stdout
    assert "yours is all zeros" in done.stdout
    assert done.stdout.count("--- check") == 4
    assert "All 6 gradients agree with autodiff." in done.stdout.split("--- check 4")[1]
    assert "first mismatch" in graph.read_text()  # the drawing of check 3, z2 in bold red
