"""Smoke test of benchmarks/compiled_step.py: in --quick mode it runs, reports every measurement and writes
its markdown (the step table and issue 13's targets) into docs/performance.md between its own markers.

Not a timed test: nothing about speed is asserted, and it never needs JAX or PyTorch.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "compiled_step.py"
PERFORMANCE_PAGE = ROOT / "docs" / "performance.md"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
START, END = "<!-- compiled-benchmark:start -->", "<!-- compiled-benchmark:end -->"

STEP_ROWS = [
    "mini-batch 64, 64-25-10, float64 (µs)",
    "mini-batch, in turns of 32 steps (µs)",
    "course size 250×400→25→10, float64 (ms)",  # --quick shrinks the course's 5000 examples to 250
    "course size, float32 (ms)",
    "the article's cost form, course size, float64 (ms)",
]
TARGET_ROWS = [
    "mini-batch: compiled ≤ 1.0× hand-written",
    "mini-batch: compiled ≥ 3× faster than eager",
    "full batch, course size, float64: compiled ≤ 0.95× hand-written",
    "full batch, course size, float64: compiled ≤ 1.10× bare matmuls",
    "full batch, course size, float32: compiled ≤ 0.95× hand-written",
    "full batch, course size, float32: compiled ≤ 1.10× bare matmuls",
    "the article's form: compiled ≤ 1.0× hand-written",
    "`autograd-nn train --epochs 5`: ≥ 2× faster end to end than with `--no-compile`",
    "`autograd-nn train --epochs 5`: the same history as `--no-compile`",
    "peak memory, course size: compiled step + the buffers its program holds ≤ hand-written step",
    "memory flat over 500 compiled mini-batch steps",
    "tracing cost reported (mini-batch network), and paid back by faster replays",
]


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, cwd=ROOT, env=ENV
    )


@pytest.fixture(scope="module")
def page_copy(tmp_path_factory) -> Path:
    """A copy of the documentation's performance page, which the quick run below updates."""
    path = tmp_path_factory.mktemp("docs") / "performance.md"
    path.write_text(PERFORMANCE_PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def quick_run(page_copy) -> subprocess.CompletedProcess:
    return run_script("--quick", "--skip", "torch,jax", "--markdown", "--update-docs", str(page_copy))


@pytest.fixture(scope="module")
def block(quick_run) -> str:
    """The printed markdown block."""
    return quick_run.stdout.split("== markdown ==\n", 1)[1].split("\n\nwrote the results into", 1)[0]


def table_rows(block: str, header: str) -> dict[str, list[str]]:
    """The rows of the table under ``header``: first cell -> the other cells."""
    lines = block.splitlines()
    start = lines.index(header) + 2  # past the header and the alignment row
    rows = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_quick_run_exits_cleanly(quick_run):
    assert quick_run.returncode == 0, quick_run.stdout[-2000:] + quick_run.stderr


@pytest.mark.parametrize(
    "expected",
    [
        "check compiled",
        "mini-batch step",
        "full-batch step: tutorial",
        "the article's cost form",
        "first call",
        "replays pay the first two calls back",
        "its buffers",
        "traced memory after compiled mini-batch step 10",
        "rounds of 32 steps in a row per contender",
        "outside the training loop, a compiled run",
    ],
)
def test_quick_run_reports_every_measurement(quick_run, expected):
    assert expected in quick_run.stdout


def test_the_markdown_says_when_with_which_command_and_on_what(block):
    first = block.splitlines()[0]
    assert re.match(r"Measured on \d{4}-\d\d-\d\d with `", first)
    assert "python benchmarks/compiled_step.py --quick --skip torch,jax --markdown" in first
    assert "OPENBLAS_NUM_THREADS=1" in first  # the thread setting is part of the command
    assert "(--quick: tiny sizes, not real numbers)" in first
    assert "autograd_nn at " in first and "NumPy " in first and "load average" in first


def test_the_step_table_has_every_measured_row_with_the_pages_columns(block):
    header = "| step | eager | compiled | hand-written | bare matmuls | JAX jit / PyTorch eager |"
    rows = table_rows(block, header)
    assert list(rows) == STEP_ROWS
    for label, cells in rows.items():
        assert len(cells) == 5, label
        assert re.fullmatch(r"[0-9.]+ \([0-9.]+×\)", cells[1]), (label, cells)  # compiled, ratio
        assert re.fullmatch(r"[0-9.]+", cells[2]), (label, cells)  # hand-written, the baseline
        assert cells[4] == "", label  # neither JAX nor PyTorch ran
    assert rows["course size, float32 (ms)"][3]  # the bare matmuls at full batch
    assert rows["mini-batch 64, 64-25-10, float64 (µs)"][3] == ""
    assert rows["mini-batch, in turns of 32 steps (µs)"][3] == ""


def test_the_targets_table_has_every_measured_target_and_decides_each_yes_or_no(block):
    rows = table_rows(block, "| target (issue 13) | result | met? |")
    labels = list(rows)
    assert len(labels) == len(TARGET_ROWS)
    for label, expected in zip(labels, TARGET_ROWS, strict=True):
        assert label.startswith(expected)
    assert all(cells[1] in ("yes", "no") for cells in rows.values()), rows
    assert (
        "Not measured in this run: JAX jit (--skip jax); PyTorch eager (--skip torch); MNIST size (--quick)."
        in block
    )


def test_each_ratio_verdict_follows_from_its_figure(block):
    """A verdict is computed, not written in: a ratio within its limit is "yes", else "no"."""
    rows = table_rows(block, "| target (issue 13) | result | met? |")
    checked = 0
    for label, (result, met) in rows.items():
        limit = re.search(r"(≤|≥) ([0-9.]+)×", label)
        value = re.match(r"([0-9.]+)×", result)
        if limit and value:
            ratio, bound = float(value.group(1)), float(limit.group(2))
            checked += 1
            if ratio == bound:
                continue  # shown to two decimals, 1.00× may be 0.996 (met) or 1.004 (not met)
            within = ratio <= bound if limit.group(1) == "≤" else ratio >= bound
            assert met == ("yes" if within else "no"), (label, result, met)
    assert checked == 8


def test_the_markdown_says_where_the_time_outside_the_training_loop_goes(block):
    """Its parts, each timed in a subprocess of its own, and what 2× end to end would allow there."""
    rows = table_rows(block, "| target (issue 13) | result | met? |")
    result = rows["`autograd-nn train --epochs 5`: ≥ 2× faster end to end than with `--no-compile`"][0]
    loop_ratio = float(re.search(r"the training loop alone ([0-9.]+)×", result).group(1))
    paragraph = next(line for line in block.splitlines() if line.startswith("Outside its training loop"))
    assert re.match(
        r"Outside its training loop a compiled `autograd-nn train --epochs 5` takes [0-9.]+ s\. Timed on their "
        r"own: starting Python [0-9.]+ s, importing autograd_nn's command line \(NumPy with it\) [0-9.]+ s, "
        r"the cost curve \(importing matplotlib, then drawing\) [0-9.]+ s\. ",
        paragraph,
    ), paragraph
    if loop_ratio < 2:  # no time outside the loop is short enough
        assert paragraph.endswith(f"cannot be reached: the loop alone is {loop_ratio:.2f}× faster."), (
            paragraph
        )
    else:
        assert re.search(r"would need that part to take at most [0-9.]+ s\.$", paragraph), paragraph


def test_update_docs_writes_the_block_between_the_markers_and_nothing_else(quick_run, block, page_copy):
    original = PERFORMANCE_PAGE.read_text(encoding="utf-8")
    updated = page_copy.read_text(encoding="utf-8")
    assert f"wrote the results into {page_copy}" in quick_run.stdout
    before, _, rest = original.partition(START + "\n")
    _, _, after = rest.partition(END + "\n")
    assert updated == f"{before}{START}\n{block.strip()}\n{END}\n{after}"


def test_update_docs_refuses_a_file_without_its_markers_before_measuring(tmp_path):
    readme = tmp_path / "performance.md"
    text = "# Results\n\n<!-- benchmark:start -->\ntrain_step's table\n<!-- benchmark:end -->\n"
    readme.write_text(text)
    run = run_script("--quick", "--skip", "torch,jax,end-to-end", "--update-docs", str(readme))
    assert run.returncode != 0
    assert START in run.stderr and END in run.stderr
    assert "mini-batch step" not in run.stdout  # it stops before measuring anything
    assert readme.read_text() == text


def test_an_unknown_skip_name_is_refused_in_one_line():
    run = run_script("--quick", "--skip", "torch,numpy")
    assert run.returncode == 2
    assert "--skip: unknown name(s) numpy; choose from torch, jax, end-to-end, mnist" in run.stderr
    assert "mini-batch step" not in run.stdout
