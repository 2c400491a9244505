"""The nn examples and benchmark run end to end as a user runs them (subprocesses, reduced epochs).

The accuracy floors are far above chance (10%) and below what a few epochs reach, so a broken gradient
(a wrong sign, a missing term) fails them while the noise of a seed does not. Nothing about speed is asserted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=ENV,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def held_out_accuracy(output: str) -> float:
    match = re.search(r"^held-out accuracy: ([0-9.]+) \(359 digits", output, re.MULTILINE)
    assert match, output[-1000:]
    return float(match.group(1))


def test_custom_mlp_learns_the_digits_in_a_few_epochs(tmp_path):
    output = run("examples/custom_mlp.py", "--epochs", "4", "--save", str(tmp_path / "mlp.npz"))
    assert "hidden1.weight" not in output and "Linear(64, 32)" in output  # the model's repr is printed
    assert held_out_accuracy(output) >= 0.93
    with np.load(tmp_path / "mlp.npz", allow_pickle=False) as stored:
        assert sorted(stored.files) == sorted(
            f"{layer}.{kind}" for layer in ("hidden1", "hidden2", "out") for kind in ("weight", "bias")
        )


def test_digits_cnn_learns_the_digits_in_a_few_epochs():
    output = run("examples/digits_cnn.py", "--epochs", "3", "--float32")
    assert "Conv2d(16, 32, kernel_size=(3, 3), padding=1)" in output
    assert held_out_accuracy(output) >= 0.85


def test_examples_reject_bad_options_in_the_options_words():
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples/custom_mlp.py"), "--epochs", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "--epochs" in done.stderr


def test_modules_benchmark_quick_mode_checks_and_reports_every_comparison():
    output = run("benchmarks/modules_step.py", "--quick", "--skip-torch")
    assert "digits CNN, batch 16, float64" in output and "digits CNN, batch 16, float32" in output
    assert re.search(r"nn\.Sequential +[0-9.]+ ms +[0-9.]+x tutorial Network", output)
