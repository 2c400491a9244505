"""Smoke test of benchmarks/train_step.py: in --quick mode it runs end to end and reports every measurement.

Not a timed test: nothing about speed is asserted, and it never needs PyTorch or HIPS autograd.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_step.py"
# One BLAS thread: on a busy CI machine, two spinning BLAS threads on two shared cores can make tiny
# matrix products a hundred times slower. Speed is not what this test is about.
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=SCRIPT.parents[1],
        env=ENV,
    )


@pytest.fixture(scope="module")
def quick_run() -> subprocess.CompletedProcess:
    return run_script("--quick", "--skip", "torch,autograd")


def test_quick_run_exits_cleanly(quick_run):
    assert quick_run.returncode == 0, quick_run.stdout[-2000:] + quick_run.stderr


@pytest.mark.parametrize(
    "expected",
    [
        "machine:",
        "PyTorch skipped (--skip torch)",
        "HIPS autograd skipped (--skip autograd)",
        "one training step: tutorial",
        "one training step: mnist",
        "check autograd_nn",
        "hand-written NumPy",
        "bare matmuls",
        "autograd_nn / bare matmuls",
        "float32 vs float64",
        "per-op overhead",
        "µs/op",
        "backward of a 10,000-op chain",
        "peak memory of one step",
        "memory over 50 steps",
        "after a full gc.collect()",
    ],
)
def test_quick_run_reports_every_measurement(quick_run, expected):
    assert expected in quick_run.stdout


def test_update_docs_refuses_a_file_without_markers(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text("# Results\n\nno markers here\n")
    run = run_script("--quick", "--skip", "torch,autograd", "--update-docs", str(page))
    assert run.returncode != 0
    assert "<!-- benchmark:start -->" in run.stderr
    assert "one training step" not in run.stdout  # it stops before measuring anything
    assert page.read_text() == "# Results\n\nno markers here\n"


def test_the_performance_page_holds_the_tables_place():
    """`--update-docs docs/performance.md` has its markers there, once each and in order."""
    marker_lines = runpy.run_path(str(SCRIPT), run_name="train_step")["marker_lines"]
    page = SCRIPT.parents[1] / "docs" / "performance.md"
    assert marker_lines(page.read_text(encoding="utf-8")) is not None


def test_the_table_replaces_only_what_lies_between_the_markers():
    replace_between_markers = runpy.run_path(str(SCRIPT), run_name="train_step")["replace_between_markers"]
    prose = "Run it; the table goes between `<!-- benchmark:start -->` and `<!-- benchmark:end -->`.\n"
    text = f"# Title\n{prose}\n<!-- benchmark:start -->\nold\ntable\n<!-- benchmark:end -->\n\nafter\n"
    assert replace_between_markers(text, "| new | table |\n") == (
        f"# Title\n{prose}\n<!-- benchmark:start -->\n| new | table |\n<!-- benchmark:end -->\n\nafter\n"
    )
