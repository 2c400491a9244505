"""Smoke test of benchmarks/compiled_step.py: in --quick mode it runs and reports every measurement.

Not a timed test: nothing about speed is asserted, and it never needs JAX or PyTorch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compiled_step.py"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_quick_run_checks_every_contender_and_reports_every_measurement():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--skip", "torch,jax,end-to-end"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=SCRIPT.parents[1],
        env=ENV,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    for expected in (
        "check compiled",
        "mini-batch step",
        "full-batch step: tutorial",
        "the article's cost form",
        "first call",
        "replays pay the first two calls back",
        "its buffers",
        "traced memory after compiled mini-batch step 10",
    ):
        assert expected in run.stdout, expected
