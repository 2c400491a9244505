"""Smoke test of benchmarks/check_overhead.py: in --quick mode it runs end to end (nothing about speed is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "check_overhead.py"


def test_the_check_overhead_benchmark_runs_and_reports_each_measurement():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line[:2] for line in lines] == ["1.", "2.", "3."]
    assert "µs/op with no hooks anywhere" in lines[0] and "compare_gradients of 6 tensors" in lines[1]
