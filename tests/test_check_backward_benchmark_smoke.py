"""Smoke test of benchmarks/check_backward.py: in --quick mode it runs end to end with autodiff as the reference
(how fast it is, is not asserted here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "check_backward.py"


def test_the_check_backward_benchmark_runs_and_reports_both_times():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeat", "1", "--entries", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line[:2] for line in lines[1:]] == ["1.", "2.", "3."]
    assert "check_backward (autodiff reference)" in lines[1]
    assert "timed on 26 of 774 entries and extrapolated" in lines[2]
    assert "x faster (target at least 100x)" in lines[3]
