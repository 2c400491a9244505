"""autograd_nn.datasets.load_digits(): the bundled digits, split as `autograd-nn train` splits them, from
any folder; and the layering it sits in (datasets imports nothing from the tutorial's digits package)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from docs_pages import example as docs_example
from docs_pages import run_as_reader

from autograd_nn.datasets import DigitsData, load_digits
from autograd_nn.datasets.tables import bundled_digits, load_dataset, split_rows

ROOT = Path(__file__).resolve().parents[1]


def test_load_digits_works_from_an_empty_folder_outside_the_clone(tmp_path):
    """A fresh interpreter in an empty folder: no relative path to data/ can be what finds the workbook."""
    program = (
        "import json\n"
        "from autograd_nn.datasets import load_digits\n"
        "d = load_digits()\n"
        "print(json.dumps({'train': d.X_train.shape, 'test': d.X_test.shape, 'digits': sorted(set(d.y_train.tolist())),"
        " 'scale': d.scale, 'first': d.y_test[:5].tolist()}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOGRAD_NN_CACHE_DIR": str(tmp_path / "cache")}
    folder = tmp_path / "empty"
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["train"] == [1438, 64] and found["test"] == [359, 64]
    assert found["digits"] == list(range(10)) and found["scale"] == 16.0
    assert found["first"] == load_digits().y_test[:5].tolist()
    assert list(folder.iterdir()) == []  # it wrote nothing where it ran


def test_the_split_is_the_one_autograd_nn_train_uses_and_labels_are_digits():
    digits = load_digits()
    with bundled_digits() as path:
        data = load_dataset(path)
    train_rows, test_rows = split_rows(data.y, 0.2, 0)  # what train_network's stratified_split takes
    np.testing.assert_array_equal(digits.X_train, data.X[train_rows])
    np.testing.assert_array_equal(digits.X_test, data.X[test_rows])
    course = data.y[test_rows]  # 1..10, where 10 is the digit 0
    np.testing.assert_array_equal(digits.y_test, np.where(course == 10, 0, course))
    np.testing.assert_array_equal(digits.labels_test, course)
    np.testing.assert_array_equal(digits.labels_train, data.y[train_rows])
    assert digits.y_train.dtype == np.int64 and digits.X_train.dtype == np.float64
    assert digits.scale == float(np.abs(data.X[train_rows]).max()) == 16.0
    assert np.bincount(digits.y_test).tolist() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]  # stratified


def test_other_splits_and_the_repr():
    half = load_digits(holdout=0.5, seed=3)
    assert isinstance(half, DigitsData) and half.holdout == 0.5 and half.seed == 3
    assert abs(half.X_test.shape[0] - 1797 / 2) < 10 and half.X_train.shape[0] + half.X_test.shape[0] == 1797
    assert not np.array_equal(half.y_test[:50], load_digits(holdout=0.5, seed=4).y_test[:50])
    assert repr(load_digits()) == (
        "DigitsData(X_train (1438, 64), X_test (359, 64), digits 0..9, scale=16, holdout=0.2, seed=0)"
    )


def test_datasets_imports_nothing_from_the_tutorials_digits_package():
    """Lower groups never import higher ones: datasets sits below digits (the tutorial's app)."""
    for path in (ROOT / "autograd_nn" / "datasets").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")  # ".digits" is datasets/digits.py itself
                assert not module.startswith(("..digits", "autograd_nn.digits")), (path, module)


def test_the_old_module_names_are_the_same_modules():
    from autograd_nn.datasets import data_cache, tables
    from autograd_nn.digits import data
    from autograd_nn.digits import data_cache as old_cache

    assert data is tables and old_cache is data_cache


def test_the_docs_digits_examples_run_as_written_from_an_empty_folder(tmp_path):
    """The tutorial network, any network, the training loop for any model and the drawing, one after the
    other as a reader runs them, in a fresh interpreter in an empty folder (no data/ path to lean on)."""
    names = ["tutorial network", "any network", "train any model"]
    if shutil.which("dot") or os.environ.get("AUTOGRAD_NN_REQUIRE_DOT") == "1":
        names.append("seeing the graph")  # renders with Graphviz's dot
    program = "\n".join(docs_example(name) for name in names)
    done, folder = run_as_reader(program, tmp_path)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    claimed = re.search(r"# (0\.\d+) on the held-out digits", docs_example("tutorial network")).group(1)
    assert f"{float(first):.4f}" == claimed  # the page's figure is what the block prints
    assert (folder / "net.npz").is_file() and (folder / "runs" / "mlp" / "weights.npz").is_file()
