"""Smoke test of benchmarks/conv_ops.py: in --quick mode it checks every op and prints every row.

Not a timed test: nothing about speed is asserted, and it never needs PyTorch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "conv_ops.py"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_quick_run_checks_and_reports_every_op_in_both_dtypes():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--skip-torch"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=SCRIPT.parents[1],
        env=ENV,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    rows = [
        line.split()
        for line in run.stdout.splitlines()
        if line.split()[:1] in (["conv1"], ["conv2"], ["pool1"], ["pool2"], ["cnn"])
    ]
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (op, dtype) for op in ("conv1", "conv2", "pool1", "pool2", "cnn") for dtype in ("float32", "float64")
    )
    assert "WRONG" not in run.stdout + run.stderr
