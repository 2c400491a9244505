"""What the command line says, through the real entry point (``python -m autograd_nn``): usage errors name
the subcommand, help pages describe each command, Ctrl-C while starting is one line, the suggestions
without Graphviz work, ``check`` explains its columns and exit codes, and every line of ``train`` uses
one format for accuracy. The docs' sample of ``examples/check_backprop.py`` (docs/checking.md) is what it prints."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}

WRONG_DELTA2 = """
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop(params, X, Y):
    m = X.shape[0]
    a2 = sigmoid(X @ params["theta1"].T + params["b1"])
    h = sigmoid(a2 @ params["theta2"].T + params["b2"])
    delta3 = h - Y
    delta2 = delta3 @ params["theta2"]  # the sigmoid's derivative is missing
    return {
        "theta2": delta3.T @ a2 / m,
        "b2": delta3.sum(axis=0) / m,
        "theta1": delta2.T @ X / m,
        "b1": delta2.sum(axis=0) / m,
    }
"""


def cli(*args, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograd_nn", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or ENV,
        timeout=600,
    )


def without_graphviz(tmp_path: Path) -> dict:
    """An environment whose PATH has no ``dot`` (Python is run by its full path)."""
    empty = tmp_path / "empty_path"
    empty.mkdir(exist_ok=True)
    return {**ENV, "PATH": str(empty)}


# ------------------------------------------------------------------------------ usage errors and help
@pytest.mark.parametrize("command", ["train", "evaluate", "check"])
def test_an_unknown_option_names_the_subcommand_and_its_help(command, tmp_path):
    needed = ["--weights", "w.npz"] if command == "evaluate" else []
    done = cli(command, *needed, "--y-csv", "y.csv", "--bogus", "1", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.endswith(
        f"autograd-nn {command}: error: unrecognized arguments: --bogus 1 (see autograd-nn {command} --help)\n"
    )
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "graph", "export", "check"])
def test_every_help_page_describes_its_command_and_offers_model(command):
    done = cli(command, "--help")
    assert done.returncode == 0
    usage, description = done.stdout.split("\n\n")[:2]
    assert usage.startswith(f"usage: autograd-nn {command}")
    assert not description.startswith("options:") and len(description) > 40  # a sentence, not the options
    assert "--model FILE.py:NAME" in done.stdout


def test_train_help_explains_dtype_and_lists_the_optimizers():
    text = " ".join(cli("train", "--help").stdout.split())
    assert "--dtype {float64,float32} float64 or float32: the type of the parameters" in text
    assert "adam, momentum (gradient descent with momentum 0.9) or gd (plain gradient descent" in text


def test_export_help_offers_dtype():
    assert "--dtype {float64,float32}" in cli("export", "--help").stdout


# ------------------------------------------------------------------------------ Ctrl-C at once
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="watches /proc/PID/maps for NumPy loading")
@pytest.mark.parametrize("entry", ["python -m autograd_nn", "autograd-nn"])
def test_ctrl_c_while_the_command_starts_is_one_line_and_exit_130(entry, tmp_path):
    """SIGINT at several moments from the start of NumPy's import (what used to print a traceback) on:
    always the one line and status 130, never a traceback."""
    script = Path(sys.executable).with_name("autograd-nn")  # the console script pip installed
    if entry == "autograd-nn" and not script.exists():
        pytest.skip("the autograd-nn console script is not installed next to this Python")
    command = [sys.executable, "-m", "autograd_nn"] if entry.startswith("python") else [str(script)]
    for k, delay in enumerate((0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.4)):
        process = subprocess.Popen(
            [*command, "train", "--epochs", "100000", "--quiet", "--out", f"run{k}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=ENV,
        )
        deadline = time.monotonic() + 120
        while "numpy" not in Path(f"/proc/{process.pid}/maps").read_text():  # NumPy starts loading
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        assert "Traceback" not in stderr, (delay, stderr)
        assert process.returncode == 130, (delay, process.returncode, stderr)
        assert len(stderr.splitlines()) == 1 and "interrupted" in stderr, (delay, stderr)


def test_importing_the_package_leaves_ctrl_c_to_python():
    """Only the command line changes what Ctrl-C does while it starts; a program importing the package
    keeps Python's KeyboardInterrupt."""
    code = "import signal, autograd_nn; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert done.stdout.strip() == "True", done.stderr


# ------------------------------------------------------------------------------ without Graphviz
def test_graph_html_without_graphviz_gives_a_suggestion_that_works(tmp_path):
    done = cli(
        "graph", "--format", "html", "--out", "page.html", cwd=tmp_path, env=without_graphviz(tmp_path)
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "-Thtml" not in done.stderr  # Graphviz has no such format: the page is ours
    assert "Install Graphviz" in done.stderr and "then run this command again" in done.stderr
    assert "`dot` alone cannot make it" in done.stderr
    assert (tmp_path / "page.dot").read_text().startswith("digraph")


def test_graph_svg_without_graphviz_still_suggests_dot(tmp_path):
    done = cli("graph", "--out", "g.svg", cwd=tmp_path, env=without_graphviz(tmp_path))
    assert done.returncode == 1
    assert "`dot -Tsvg g.dot -o g.svg`" in done.stderr


def test_check_graph_without_graphviz_exits_0_when_every_gradient_agrees(tmp_path):
    done = cli("check", "--graph", "check.svg", cwd=tmp_path, env=without_graphviz(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All 4 gradients agree with autodiff." in done.stdout
    assert done.stderr.startswith("autograd-nn check: note: --graph check.svg was not drawn: Graphviz's dot")
    assert done.stderr.count("\n") == 1
    (tmp_path / "wrong.py").write_text(WRONG_DELTA2)
    wrong = cli(
        "check",
        "--backprop",
        "wrong.py:backprop",
        "--graph",
        "w.svg",
        cwd=tmp_path,
        env=without_graphviz(tmp_path),
    )
    assert wrong.returncode == 1  # the mismatch decides, not the missing drawing
    assert "was not drawn" in wrong.stderr


# ------------------------------------------------------------------------------ check's words
def test_check_explains_the_central_difference_column():
    done = cli("check")
    assert done.returncode == 0
    assert (
        "Column 'vs central diff.': autodiff's gradient against central differences (relative error). "
        "Small means autodiff is right, so a mismatch is in the hand-derived gradient."
    ) in done.stdout


def test_check_without_deltas_points_at_the_gradient_both_wrong_rows_come_through(tmp_path):
    (tmp_path / "wrong.py").write_text(WRONG_DELTA2)
    done = cli("check", "--backprop", "wrong.py:backprop", cwd=tmp_path)
    assert done.returncode == 1
    sentence = next(line for line in done.stdout.splitlines() if line.startswith("First mismatch"))
    assert sentence.startswith("First mismatch: b1 (mismatch")
    assert "theta1 also disagrees, though not computed from it" in sentence
    assert "they both get their gradient through z2, which was not compared" in sentence
    assert "no other row's gradient is computed from it" not in done.stdout


def test_check_help_documents_the_exit_codes():
    text = " ".join(cli("check", "--help").stdout.split())
    assert "Exit status: 0 when every gradient agrees" in text
    assert "1 when a gradient disagrees or is missing, or on an error" in text and "130 on Ctrl-C" in text
    assert "the drawing is skipped with a note" in text


# ------------------------------------------------------------------------------ train's lines
def test_the_progress_bar_shows_accuracy_as_the_other_lines_do(tmp_path):
    """On a terminal (a pseudo-terminal here) the bar shows held-out accuracy as a percentage."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))  # 200 columns wide
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "autograd_nn", "train", "--epochs", "3", "--out", "run"],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            cwd=tmp_path,
            env=ENV,
        )
        os.close(follower)
        stdout, _ = process.communicate(timeout=300)
        bar = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            bar += chunk
    finally:
        os.close(leader)
    assert process.returncode == 0, bar.decode(errors="replace")
    shown = re.findall(r"heldout_acc=([0-9.]+%?)", bar.decode(errors="replace"))
    assert shown and all(value.endswith("%") for value in shown), shown
    final = re.search(r"held-out accuracy: ([0-9.]+%)", stdout).group(1)
    assert shown[-1] == final  # the bar's last value is the one printed after training


def test_early_stopping_says_where_it_stopped_and_which_epoch_it_kept(tmp_path):
    done = cli(
        "train", "--patience", "1", "--lr", "0.5", "--epochs", "50", "--quiet", "--out", "r", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    stopped, kept = summary["epochs_run"], summary["kept_epoch"]
    assert (
        f"stopped early at epoch {stopped} of 50: no better held-out cost for 1 epoch (--patience 1); "
        f"kept epoch {kept}, the best"
    ) in done.stdout


def test_the_run_header_names_the_dtype_and_no_scale(tmp_path):
    done = cli(
        "train", "--epochs", "1", "--dtype", "float32", "--no-scale", "--quiet", "--out", "r", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "network: 64-25-10 sigmoid, float32, raw inputs (--no-scale); adam, lr=0.003" in done.stdout
    default = cli("train", "--epochs", "1", "--quiet", "--out", "d", cwd=tmp_path)
    assert "network: 64-25-10 sigmoid, float64; adam" in default.stdout


# ------------------------------------------------------------------------------ the docs' sample
def test_the_docs_check_backprop_sample_is_what_the_script_prints(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "check_backprop.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=ENV,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.split("--- check 3")[1].split("\n", 1)[1].split("=> fixing")[0].strip().splitlines()
    from docs_pages import page

    sample = (
        page("checking.md")
        .split("Here is its third check,")[1]
        .split("```\n", 1)[1]
        .split("```")[0]
        .strip()
        .splitlines()
    )
    assert sample == printed  # exactly, rounding noise of the rows that agree included
