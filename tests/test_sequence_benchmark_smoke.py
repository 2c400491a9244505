"""Smoke test of benchmarks/sequence_step.py: in --quick mode it runs end to end and reports every measurement.

Not a timed test: nothing about speed is asserted, and it never needs PyTorch (--skip torch).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sequence_step.py"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_quick_run_checks_every_contender_and_prints_the_tables():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--skip", "torch", "--markdown"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=SCRIPT.parents[1],
        env=ENV,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    out = run.stdout
    for heading in ("1. GPT step", "2. makemore MLP step", "3. ops", "4. peak memory"):
        assert heading in out
    for row in (
        "| GPT | float64 | 1 |",
        "| makemore MLP | float64 | 1 |",
        "| LayerNorm float64 |",
        "| GELU (tanh) float64 |",
        "| softmax float64 |",
        "| attention (causal) float64 |",
    ):
        assert row in out, row
    assert "| GPT forward + backward, peak memory (tracemalloc) |" in out
    assert "PyTorch skipped (--skip torch)" in out
