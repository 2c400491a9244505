"""The scikit-learn row of docs/models.md is what examples/sklearn_reference.py prints, run as a reader runs it.

Needs scikit-learn (the test and dev extras); skipped without it, unless ``AUTOGRAD_NN_REQUIRE_SKLEARN=1``
(set in CI) makes that a failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from docs_pages import page

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_scikit_learn_row_is_what_the_script_prints(tmp_path):
    if importlib.util.find_spec("sklearn") is None:
        message = "scikit-learn is not installed (pip install -e '.[test]')"
        if os.environ.get("AUTOGRAD_NN_REQUIRE_SKLEARN") == "1":
            pytest.fail(f"{message}, and AUTOGRAD_NN_REQUIRE_SKLEARN=1 requires it")
        pytest.skip(message)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sklearn_reference.py")],
        cwd=tmp_path,  # any folder: the script finds the digits through load_digits
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [f"seed {s}" for s in range(6)]
    row = lines[-1]
    assert row.startswith("| scikit-learn `MLPClassifier(") and row.count("|") == 4
    models = page("models.md").splitlines()
    assert row in models  # the page's figures are the script's, digit for digit
    ours = next(line for line in models if line.startswith("| `autograd-nn train --seed S`"))
    assert len(ours.split("|")[2].split()) == len(row.split("|")[2].split()) == 6  # the same seeds, 0..5
