"""The bundled names data set: what data/make_names.py wrote, loaded from any folder, split the same way each time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from docs_pages import example as docs_example

from autograd_nn.datasets import Names, load_names

ROOT = Path(__file__).resolve().parents[1]
NAMES_FILE = ROOT / "autograd_nn" / "datasets" / "names.txt"


def test_the_file_holds_91910_sorted_unique_lowercase_names_of_1_to_13_letters():
    lines = NAMES_FILE.read_text(encoding="ascii").split("\n")
    assert lines[-1] == ""  # one name a line, the last one ends with a newline too
    names = lines[:-1]
    assert len(names) == 91_910  # 5,163 distinct first names + 88,799 surnames - 2,052 on both lists
    assert names == sorted(set(names))
    assert all(name.isascii() and name.isalpha() and name.islower() for name in names)
    assert min(map(len, names)) >= 1 and max(map(len, names)) == 13
    for first_name in ("mary", "james", "emma"):  # from dist.female.first / dist.male.first
        assert first_name in names
    for surname in ("smith", "johnson", "aaberg"):  # from dist.all.last
        assert surname in names


def test_data_names_txt_points_at_the_packaged_file():
    assert (ROOT / "data" / "names.txt").resolve() == NAMES_FILE.resolve()


def test_the_split_is_80_10_10_disjoint_and_covers_every_name():
    data = load_names()
    assert isinstance(data, Names)
    sizes = (len(data.names), len(data.train), len(data.validation), len(data.test))
    assert sizes == (91_910, 73_528, 9_191, 9_191)
    train, validation, test = set(data.train), set(data.validation), set(data.test)
    assert not (train & validation) and not (train & test) and not (validation & test)
    assert train | validation | test == set(data.names)
    assert data.train != sorted(data.train)  # shuffled, not cut from the alphabetical list
    assert repr(data) == "Names(91,910 names: train 73,528, validation 9,191, test 9,191)"


def test_the_split_is_seeded():
    assert load_names(seed=42) == load_names(seed=42)
    assert load_names(seed=1).train != load_names(seed=42).train
    assert sorted(load_names(seed=1).train) != sorted(load_names(seed=42).train)


def test_other_fractions_and_bad_fractions():
    data = load_names(fractions=(0.5, 0.25))
    assert (len(data.train), len(data.validation), len(data.test)) == (45_955, 22_977, 22_978)
    with pytest.raises(ValueError, match=r"load_names: fractions \(0\.9, 0\.2\)"):
        load_names(fractions=(0.9, 0.2))


def _load_in_a_subprocess(cwd: Path, pythonpath: Path) -> dict:
    code = (
        "import json, autograd_nn.datasets as d; n = d.load_names(); "
        "print(json.dumps({'file': d.__file__, 'sizes': [len(n.names), len(n.train), len(n.validation), len(n.test)], "
        "'first': n.train[:3]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(pythonpath)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_load_names_works_from_any_folder(tmp_path):
    loaded = _load_in_a_subprocess(tmp_path, ROOT)
    assert loaded["sizes"] == [91_910, 73_528, 9_191, 9_191]
    assert loaded["first"] == load_names().train[:3]


def test_the_wheel_carries_the_names_and_loads_them_without_the_source_tree(tmp_path):
    """Build a wheel from a copy of the sources, unpack it elsewhere, load the names from a third folder."""
    source = tmp_path / "source"
    source.mkdir()
    for item in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / item, source / item)
    shutil.copytree(
        ROOT / "autograd_nn", source / "autograd_nn", ignore=shutil.ignore_patterns("__pycache__")
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            ".",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=source,
        timeout=300,
    )
    if done.returncode != 0 and "No module named pip" in done.stderr:
        pytest.skip("pip is not available to build the wheel")
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("autograd_nn-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "autograd_nn/datasets/names.txt" in zf.namelist()
        zf.extractall(tmp_path / "installed")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    loaded = _load_in_a_subprocess(elsewhere, tmp_path / "installed")
    assert loaded["file"].startswith(str(tmp_path / "installed"))
    assert loaded["sizes"] == [91_910, 73_528, 9_191, 9_191]


def test_the_docs_example_prints_the_sizes_it_says(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", docs_example("names data")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "91910 73528 9191 9191\n"
