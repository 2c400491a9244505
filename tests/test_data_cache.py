"""Specification of the cache of parsed data (digits/data_cache.py): a second read of the same bytes
is a hit that parses nothing and imports no pandas, and gives what a fresh read gives; anything else
(changed bytes, other sheets or label count, a damaged or foreign entry) is a miss that reads the file;
errors are never cached; a cache that cannot be written never fails a load."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_data import write_workbook

from autograd_nn.digits import data, data_cache
from autograd_nn.digits.cli import main
from autograd_nn.digits.data import (
    DataError,
    fingerprint,
    load_csv,
    load_dataset,
    load_labelled_if_possible,
    load_workbook,
)

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "autograd_nn" / "datasets" / "workbooks" / "digits.xlsx"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty cache folder for this test alone."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("AUTOGRAD_NN_CACHE_DIR", str(folder))
    return folder


def entries(folder: Path) -> list[Path]:
    """Every file in the cache folder (entries, and any temporary file that should not be left)."""
    return sorted(folder.iterdir()) if folder.exists() else []


def small_workbook(path: Path, first: float = 0.5, **more: list[list[object]]) -> Path:
    x = [[first, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.25]]
    return write_workbook(path, {"X": x, "y": [[1], [2], [10]], **more})


def the_key(path: Path, x_sheet: str = "X", y_sheet: str = "y", num_labels: int = 10) -> data_cache.CacheKey:
    key = data_cache.key_for("workbook", [path], x_sheet=x_sheet, y_sheet=y_sheet, num_labels=num_labels)
    assert key is not None
    return key


def assert_same_as_fresh(cached, fresh) -> None:
    """Indistinguishable but for from_cache: arrays bit for bit, dtypes, memory layout, source, fingerprint."""
    for name in ("X", "y"):
        got, want = getattr(cached, name), getattr(fresh, name)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes(order="A") == want.tobytes(order="A")
        assert got.flags.c_contiguous == want.flags.c_contiguous
        assert got.flags.f_contiguous == want.flags.f_contiguous
    assert (cached.source, cached.num_labels, repr(cached)) == (fresh.source, fresh.num_labels, repr(fresh))
    assert fingerprint(cached) == fingerprint(fresh)


# ----------------------------------------------------------------------------------------------------
# Hits


def test_a_second_load_of_the_same_bytes_is_a_hit_identical_to_a_fresh_read(cache, monkeypatch):
    fresh = load_dataset(BUNDLED, cache=False)
    first = load_dataset(BUNDLED)
    assert not first.from_cache and len(entries(cache)) == 1
    monkeypatch.setattr(data, "_open_workbook", lambda *a: pytest.fail("the workbook was parsed"))
    second = load_dataset(BUNDLED)
    assert second.from_cache
    assert_same_as_fresh(second, fresh)
    assert_same_as_fresh(first, fresh)


def test_a_hit_in_a_new_process_does_not_import_pandas(cache):
    program = (
        "import sys\n"
        "from autograd_nn.digits.data import load_workbook\n"
        f"dataset = load_workbook({str(BUNDLED)!r})\n"
        "print(dataset.from_cache, 'pandas' in sys.modules, 'openpyxl' in sys.modules)\n"
    )

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run() == "False True True"  # a miss parses with pandas and openpyxl
    assert run() == "True False False"  # a hit imports neither


def test_a_hit_under_another_path_is_named_after_that_path(cache, tmp_path, monkeypatch):
    load_workbook(BUNDLED)
    copy = tmp_path / "copy of digits.xlsx"
    shutil.copy(BUNDLED, copy)
    monkeypatch.setattr(data, "_open_workbook", lambda *a: pytest.fail("the workbook was parsed"))
    again = load_workbook(copy)
    assert again.from_cache and again.source == str(copy)
    as_text = load_dataset(str(copy))
    assert as_text.from_cache and as_text.source == str(copy)


def test_a_csv_pair_is_cached_too(cache, tmp_path, monkeypatch):
    x = tmp_path / "x.csv"
    y = tmp_path / "y.csv"
    x.write_text("1,2\n3.5,4\n")
    y.write_text("1\n10\n")
    fresh = load_csv(x, y, cache=False)
    assert not load_csv(x, y).from_cache
    monkeypatch.setattr(data, "_read_csv", lambda *a: pytest.fail("a CSV file was parsed"))
    again = load_dataset(x, y_path=y)
    assert again.from_cache
    assert_same_as_fresh(again, fresh)


def test_predicting_reads_the_entry_that_training_wrote(cache, tmp_path, monkeypatch):
    workbook = small_workbook(tmp_path / "d.xlsx")
    trained_on = load_dataset(workbook)
    monkeypatch.setattr(data, "_open_workbook", lambda *a: pytest.fail("the workbook was parsed"))
    features, labelled = load_labelled_if_possible(workbook)
    assert labelled is not None and labelled.from_cache
    assert np.array_equal(features, trained_on.X) and np.array_equal(labelled.y, trained_on.y)


def test_predicting_writes_an_entry_for_labelled_data_only(cache, tmp_path):
    labelled = small_workbook(tmp_path / "labelled.xlsx")
    unlabelled = write_workbook(tmp_path / "unlabelled.xlsx", {"X": [[1.0, 2.0]]})
    assert load_labelled_if_possible(unlabelled)[1] is None
    assert entries(cache) == []
    load_labelled_if_possible(labelled)
    assert load_workbook(labelled).from_cache


def test_an_entry_is_plain_arrays_and_says_what_it_holds(cache):
    load_workbook(BUNDLED)
    (entry,) = entries(cache)
    assert entry.suffix == ".npz" and entry.name == the_key(BUNDLED).file_name
    with np.load(entry, allow_pickle=False) as stored:  # no object arrays: loads without pickle
        assert sorted(stored.files) == ["X", "key", "y"]
        described = json.loads(str(stored["key"]))
        assert stored["X"].dtype == np.float64 and stored["y"].dtype == np.int64
    assert described["format"] == data_cache.FORMAT_VERSION
    assert described["sha256"] == [hashlib.sha256(BUNDLED.read_bytes()).hexdigest()]
    assert (described["x_sheet"], described["y_sheet"], described["num_labels"]) == ("X", "y", 10)
    assert set(described["readers"]) == {"pandas", "openpyxl"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    X=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True),
    ),
    fortran=st.booleans(),
    data=st.data(),
)
def test_an_entry_gives_back_every_bit_and_the_memory_layout(cache, tmp_path, X, fortran, data):
    # -0.0, subnormals and the largest floats included; pandas hands over Fortran-ordered arrays.
    X = np.asfortranarray(X) if fortran else np.ascontiguousarray(X)
    y = np.asarray(data.draw(st.lists(st.integers(1, 10), min_size=len(X), max_size=len(X))), dtype=np.int64)
    path = tmp_path / "bytes.xlsx"
    path.write_bytes(X.tobytes())  # any file will do: the key only hashes it
    key = the_key(path)
    data_cache.store(key, X, y)
    found = data_cache.lookup(key)
    assert found is not None
    got_X, got_y = found
    assert (
        got_X.tobytes(order="A") == X.tobytes(order="A") and got_X.flags.f_contiguous == X.flags.f_contiguous
    )
    assert got_y.tobytes() == y.tobytes() and got_y.dtype == np.int64


# ----------------------------------------------------------------------------------------------------
# Misses: anything that could change the result


def test_a_changed_cell_is_a_miss(cache, tmp_path):
    path = small_workbook(tmp_path / "d.xlsx", first=0.5)
    assert load_workbook(path).X[0, 0] == 0.5
    small_workbook(path, first=0.75)
    again = load_workbook(path)
    assert not again.from_cache and again.X[0, 0] == 0.75
    assert len(entries(cache)) == 2
    assert load_workbook(path).from_cache


def test_a_changed_labels_file_is_a_miss(cache, tmp_path):
    x = tmp_path / "x.csv"
    y = tmp_path / "y.csv"
    x.write_text("1,2\n3,4\n")
    y.write_text("1\n2\n")
    load_csv(x, y)
    y.write_text("2\n1\n")
    again = load_csv(x, y)
    assert not again.from_cache and again.y.tolist() == [2, 1]


def test_other_sheet_names_are_a_miss(cache, tmp_path):
    path = small_workbook(tmp_path / "d.xlsx", pixels=[[9.0, 9.0, 9.0]], digits=[[4]])
    load_workbook(path)
    other = load_workbook(path, x_sheet="pixels", y_sheet="digits")
    assert not other.from_cache and other.X.tolist() == [[9.0, 9.0, 9.0]] and other.y.tolist() == [4]
    assert load_workbook(path, x_sheet="pixels", y_sheet="digits").from_cache
    assert load_workbook(path).from_cache


def test_another_label_count_is_a_miss(cache, tmp_path):
    path = small_workbook(tmp_path / "d.xlsx")
    load_workbook(path, num_labels=10)
    twelve = load_workbook(path, num_labels=12)
    assert not twelve.from_cache and twelve.num_labels == 12
    assert load_workbook(path, num_labels=12).from_cache


def test_new_parsing_rules_or_reader_versions_are_a_miss(cache, tmp_path, monkeypatch):
    path = small_workbook(tmp_path / "d.xlsx")
    load_workbook(path)
    monkeypatch.setattr(data_cache, "FORMAT_VERSION", data_cache.FORMAT_VERSION + 1)
    assert not load_workbook(path).from_cache
    monkeypatch.setattr(data_cache, "_reader_versions", lambda: {"pandas": "99.0", "openpyxl": "99.0"})
    assert not load_workbook(path).from_cache
    assert load_workbook(path).from_cache


def test_a_file_rewritten_while_it_is_parsed_is_not_stored(cache, tmp_path, monkeypatch):
    path = small_workbook(tmp_path / "d.xlsx", first=0.5)
    opened = data._open_workbook

    def open_then_rewrite(*args):
        book = opened(*args)
        small_workbook(path, first=0.75)  # saved from Excel while we read
        return book

    monkeypatch.setattr(data, "_open_workbook", open_then_rewrite)
    load_workbook(path)
    assert entries(cache) == []


# ----------------------------------------------------------------------------------------------------
# Damaged or foreign entries are misses, and replaced


def _truncate(entry: Path) -> None:
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])


def _flip_a_byte(entry: Path) -> None:
    raw = bytearray(entry.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside X's bytes: only the CRC can tell
    entry.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "damage",
    [
        _truncate,
        _flip_a_byte,
        lambda entry: entry.write_bytes(b""),
        lambda entry: entry.write_bytes(b"not a zip file at all"),
        lambda entry: entry.write_bytes(b"\x93NUMPY" + bytes(100)),
    ],
    ids=["truncated", "flipped byte", "empty", "text", "bad npy header"],
)
def test_a_damaged_entry_is_a_miss_and_is_replaced(cache, tmp_path, damage):
    path = small_workbook(tmp_path / "d.xlsx")
    fresh = load_workbook(path)
    (entry,) = entries(cache)
    damage(entry)
    again = load_workbook(path)
    assert not again.from_cache
    assert_same_as_fresh(again, fresh)
    assert entries(cache) == [entry]
    assert load_workbook(path).from_cache


def _planted(path: Path, **arrays) -> dict:
    good = {"key": np.array(the_key(path).description), "X": np.array([[0.5, 1.0, 2.0]] * 3), "y": [1, 2, 10]}
    return {**good, **arrays}


@pytest.mark.parametrize(
    "change",
    [
        {"X": np.zeros((3, 3), dtype=np.float32)},
        {"X": np.zeros(9)},
        {"X": np.zeros((0, 3))},
        {"X": np.full((3, 3), np.nan)},
        {"y": np.array([1, 2], dtype=np.int64)},
        {"y": np.array([1.0, 2.0, 10.0])},
        {"y": np.array([1, 2, 11], dtype=np.int64)},
        {"key": np.array("another workbook")},
        {"key": np.array([1, 2])},
        {"extra": np.zeros(1)},
    ],
    ids=[
        "float32",
        "1-D",
        "no rows",
        "NaN",
        "short y",
        "float y",
        "label 11",
        "other key",
        "numeric key",
        "extra",
    ],
)
def test_an_entry_that_is_not_what_this_code_writes_is_a_miss_and_is_replaced(cache, tmp_path, change):
    path = small_workbook(tmp_path / "d.xlsx")
    fresh = load_workbook(path, cache=False)
    cache.mkdir()
    np.savez(cache / the_key(path).file_name, **_planted(path, **change))
    again = load_workbook(path)
    assert not again.from_cache
    assert_same_as_fresh(again, fresh)
    assert load_workbook(path).from_cache


def test_a_planted_entry_of_the_right_form_is_what_a_hit_returns(cache, tmp_path):
    # The converse of the test above, so that test cannot pass by never reading entries at all.
    path = small_workbook(tmp_path / "d.xlsx")
    cache.mkdir()
    np.savez(cache / the_key(path).file_name, **_planted(path, y=np.array([3, 3, 3])))
    planted = load_workbook(path)
    assert planted.from_cache and planted.y.tolist() == [3, 3, 3]


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")  # unpickling would create the marker file


def test_an_entry_holding_pickled_objects_is_refused_unread_and_replaced(cache, tmp_path):
    path = small_workbook(tmp_path / "d.xlsx")
    marker = tmp_path / "unpickled"
    cache.mkdir()
    objects = np.array([_RunsCodeWhenUnpickled(marker)] * 3, dtype=object)
    np.savez(cache / the_key(path).file_name, **_planted(path, y=objects))  # numpy pickles object arrays
    again = load_workbook(path)
    assert not again.from_cache and again.y.tolist() == [1, 2, 10]
    assert not marker.exists()
    assert load_workbook(path).from_cache


# ----------------------------------------------------------------------------------------------------
# Errors are never cached


@pytest.mark.parametrize(
    "sheets, message",
    [
        ({"X": [[1.0, "abc"]], "y": [[1]]}, "sheet 'X', row 1, column B: non-numeric value 'abc'"),
        ({"X": [[1.0, 2.0]], "y": [[11]]}, "sheet 'y', row 1, column A: label 11 is outside 1..10"),
        ({"X": [[1.0, 2.0]]}, "no sheet named 'y'"),
    ],
)
def test_bad_data_raises_the_same_error_every_time_and_leaves_no_entry(cache, tmp_path, sheets, message):
    path = write_workbook(tmp_path / "bad.xlsx", sheets)
    errors = []
    for _ in range(2):
        with pytest.raises(DataError) as caught:
            load_dataset(path)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and message in errors[0]
    assert entries(cache) == []


def test_a_file_that_is_not_a_workbook_is_reported_and_not_cached(cache, tmp_path):
    path = tmp_path / "notes.xlsx"
    path.write_text("not a workbook")
    for _ in range(2):
        with pytest.raises(DataError, match="not a valid Excel workbook"):
            load_workbook(path)
    assert entries(cache) == []


def test_a_missing_file_is_still_reported_as_missing(cache, tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_workbook(tmp_path / "nowhere.xlsx")
    with pytest.raises(DataError, match="file not found"):
        load_csv(tmp_path / "x.csv", tmp_path / "y.csv")


# ----------------------------------------------------------------------------------------------------
# A cache that cannot be written never fails a load


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["a file", "below a file", "disk full"])
def test_an_unwritable_cache_still_loads_silently_and_caches_nothing(tmp_path, monkeypatch, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    folder = {"a file": blocker, "below a file": blocker / "cache", "disk full": tmp_path / "cache"}[where]
    monkeypatch.setenv("AUTOGRAD_NN_CACHE_DIR", str(folder))
    if where == "disk full":
        monkeypatch.setattr(data_cache, "write_arrays", _no_space)
    fresh = load_workbook(BUNDLED, cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            dataset = load_workbook(BUNDLED)
            assert not dataset.from_cache
            assert_same_as_fresh(dataset, fresh)
    assert blocker.read_text() == "a file, not a folder"
    assert entries(tmp_path / "cache") == []


def test_a_cache_folder_without_write_permission_still_loads(cache, tmp_path, monkeypatch):
    # As a folder with mode 0o500 would refuse a user, but also when the tests run as root (which
    # permissions do not stop): the file that would become the entry cannot be created.
    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    cache.mkdir()
    monkeypatch.setattr("autograd_nn.files.tempfile.NamedTemporaryFile", refused)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not load_workbook(small_workbook(tmp_path / "d.xlsx")).from_cache
    assert entries(cache) == []


def test_no_temporary_file_is_left_when_writing_fails(cache, tmp_path, monkeypatch):
    def fail_while_writing(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("autograd_nn.files.os.fsync", fail_while_writing)
    load_workbook(small_workbook(tmp_path / "d.xlsx"))
    assert entries(cache) == []


def test_readers_and_writers_at_the_same_time_never_see_half_an_entry(cache, tmp_path):
    path = small_workbook(tmp_path / "d.xlsx")
    key = the_key(path)
    X, y = np.arange(30000.0).reshape(10000, 3), np.ones(10000, dtype=np.int64)
    seen, failures = [], []

    def write() -> None:
        for _ in range(15):
            data_cache.store(key, X, y)

    def read() -> None:
        for _ in range(60):
            try:
                found = data_cache.lookup(key)
            except Exception as error:  # pragma: no cover - what this test exists to catch
                failures.append(error)
                return
            if found is not None:
                seen.append(np.array_equal(found[0], X) and np.array_equal(found[1], y))

    threads = [threading.Thread(target=write), threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and all(seen)
    assert entries(cache) == [cache / key.file_name]  # no temporary files left behind
    assert data_cache.lookup(key) is not None


# ----------------------------------------------------------------------------------------------------
# Where the cache lives, and how to bypass it


def test_cache_false_neither_reads_nor_writes_an_entry(cache, tmp_path):
    path = small_workbook(tmp_path / "d.xlsx")
    assert not load_dataset(path, cache=False).from_cache
    assert entries(cache) == []
    cache.mkdir()
    np.savez(cache / the_key(path).file_name, **_planted(path, y=np.array([3, 3, 3])))
    planted = (cache / the_key(path).file_name).read_bytes()
    assert load_dataset(path, cache=False).y.tolist() == [1, 2, 10]  # the file, not the planted entry
    assert (cache / the_key(path).file_name).read_bytes() == planted


def test_the_environment_variable_relocates_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRAD_NN_CACHE_DIR", str(tmp_path / "mine"))
    load_workbook(small_workbook(tmp_path / "d.xlsx"))
    assert len(entries(tmp_path / "mine")) == 1


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_new_cache_folder_is_readable_by_its_user_only(cache, tmp_path):
    load_workbook(small_workbook(tmp_path / "d.xlsx"))  # entries hold copies of the user's data
    assert cache.stat().st_mode & 0o777 == 0o700


def test_without_the_variable_the_cache_follows_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOGRAD_NN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_cache.cache_dir() == tmp_path / "xdg" / "autograd_nn" / "datasets"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert data_cache.cache_dir() == tmp_path / "home" / ".cache" / "autograd_nn" / "datasets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("AUTOGRAD_NN_CACHE_DIR", "")  # empty counts as unset
    load_workbook(small_workbook(tmp_path / "d.xlsx"))
    assert len(entries(tmp_path / "home" / ".cache" / "autograd_nn" / "datasets")) == 1


def test_without_a_home_folder_there_is_no_cache_and_loading_works(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOGRAD_NN_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert data_cache.cache_dir() is None
    assert not load_workbook(small_workbook(tmp_path / "d.xlsx")).from_cache
    assert not load_workbook(tmp_path / "d.xlsx").from_cache


# ----------------------------------------------------------------------------------------------------
# The command line


def train_line(argv: list[str], out: Path, capsys) -> str:
    assert main(["train", *argv, "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    return next(line for line in capsys.readouterr().out.splitlines() if line.startswith("data: "))


def test_train_says_when_its_data_came_from_the_cache(cache, tmp_path, capsys):
    workbook = small_workbook(tmp_path / "d.xlsx")
    first = train_line(["--data", str(workbook)], tmp_path / "run1", capsys)
    second = train_line(["--data", str(workbook)], tmp_path / "run2", capsys)
    assert first == f"data: {workbook}: 3 examples x 3 features, labels 1-10"
    assert second == f"data: {workbook}: 3 examples x 3 features, labels 1-10 (cached read)"


def test_no_cache_neither_reads_nor_writes_the_cache(cache, tmp_path, capsys):
    workbook = small_workbook(tmp_path / "d.xlsx")
    line = train_line(["--data", str(workbook), "--no-cache"], tmp_path / "run1", capsys)
    assert "(cached read)" not in line and entries(cache) == []
    cache.mkdir()
    entry = cache / the_key(workbook).file_name
    np.savez(entry, **_planted(workbook, y=np.array([3, 3, 3])))
    planted = entry.read_bytes()
    weights = tmp_path / "run1" / "weights.npz"
    for command in (
        ["train", "--out", str(tmp_path / "run2"), "--epochs", "1", "--quiet"],
        ["evaluate", "--weights", str(weights), "--split", "all"],
        ["predict", "--weights", str(weights), "--split", "all", "--out", str(tmp_path / "p.csv")],
        ["graph", "--out", str(tmp_path / "g.dot")],
        ["check", "--hidden", "2", "--examples", "2"],
    ):
        assert main([*command, "--data", str(workbook), "--no-cache"]) == 0, command
        output = capsys.readouterr().out
        assert "(cached read)" not in output
    assert "true_label" in (tmp_path / "p.csv").read_text()
    assert [row.split(",")[4] for row in (tmp_path / "p.csv").read_text().splitlines()[1:]] == [
        "1",
        "2",
        "10",
    ]
    assert entry.read_bytes() == planted and entries(cache) == [entry]
    # and without --no-cache the planted entry is what is read
    line = train_line(["--data", str(workbook)], tmp_path / "run3", capsys)
    assert line.endswith("(cached read)")


def test_a_warm_train_in_a_new_process_says_cached_and_never_imports_pandas(cache, tmp_path):
    program = (
        "import sys\n"
        "from autograd_nn.digits.cli import main\n"
        "status = main(['train', '--epochs', '1', '--quiet', '--out', sys.argv[1]])\n"
        "print('pandas imported:', 'pandas' in sys.modules)\n"
        "sys.exit(status)\n"
    )

    def train(out: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", program, out], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    cold, warm = train("cold"), train("warm")
    assert "labels 1-10\n" in cold and "pandas imported: True" in cold
    assert "labels 1-10 (cached read)\n" in warm and "pandas imported: False" in warm
