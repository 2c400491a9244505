"""Load data in the course's layout (an Excel workbook or a CSV pair), check it, and split it.

The layout is the course's ``ex3d1.xlsx``: sheet ``X`` has one example per row and one feature per
column, sheet ``y`` one label per row, 1..num_labels, where label 10 stands for the digit 0. Neither
has a header row. Bad input raises one ``DataError`` that names the file, sheet, row and column of
the first bad cell, rather than whatever pandas or openpyxl would have raised. What parsed and
passed the checks is kept in a cache keyed by the files' contents (data_cache.py), so reading the same
bytes again neither parses them nor imports pandas; ``cache=False`` reads the file itself.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AutogradError
from . import data_cache

if TYPE_CHECKING:  # pandas is imported only when a file is read: it is slow to import
    import pandas as pd

__all__ = [
    "DataError",
    "Dataset",
    "SplitRecord",
    "bundled_digits",
    "fingerprint",
    "labels_to_digits",
    "load_csv",
    "load_dataset",
    "load_features",
    "load_labelled_if_possible",
    "load_workbook",
    "one_hot",
    "split_rows",
    "stratified_split",
]

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


class DataError(AutogradError, ValueError):
    """Input data that cannot be used: missing or unreadable files, bad cells, bad labels."""


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Examples ``X`` (m, n) float64 with labels ``y`` (m,) int64 in 1..num_labels, and where they came from.

    ``from_cache`` says the file's parsed data came from the cache (data_cache.py) instead of a fresh parse;
    the arrays are the same either way.
    """

    X: np.ndarray
    y: np.ndarray
    source: str
    num_labels: int = 10
    from_cache: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        X = np.asarray(self.X, dtype=np.float64)
        y = np.asarray(self.y)
        if X.ndim != 2:
            raise DataError(f"{self.source}: X must be 2-D (examples, features), got shape {X.shape}")
        if y.shape != (X.shape[0],):
            raise DataError(f"{self.source}: y must have shape ({X.shape[0]},) to match X, got {y.shape}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", _as_labels(y, self.num_labels, self.source))

    @property
    def m(self) -> int:
        """Number of examples (rows of X)."""
        return self.X.shape[0]

    @property
    def n(self) -> int:
        """Number of features per example (columns of X)."""
        return self.X.shape[1]

    def __repr__(self) -> str:
        return f"Dataset(source={self.source!r}, m={self.m}, n={self.n}, num_labels={self.num_labels})"


# ----------------------------------------------------------------------------------------------------
# Loading


@contextmanager
def bundled_digits() -> Iterator[Path]:
    """The path of the digits workbook shipped inside the package (see data/README.md), valid
    inside the ``with`` block; read through importlib.resources, so an installed wheel finds it."""
    with resources.as_file(resources.files(__package__) / "workbooks" / "digits.xlsx") as path:
        yield path


def load_workbook(
    path: str | Path, x_sheet: str = "X", y_sheet: str = "y", num_labels: int = 10, *, cache: bool = True
) -> Dataset:
    """Read examples from sheet ``x_sheet`` and labels from sheet ``y_sheet`` of an .xlsx/.xlsm file
    (or from the cache, when these bytes were read before with the same sheets and label count)."""
    path = _existing_file(path)
    key = _workbook_key(path, x_sheet, y_sheet, num_labels) if cache else None
    cached = _cached_dataset(key, str(path), num_labels)
    if cached is not None:
        return cached
    with _open_workbook(path, (x_sheet, y_sheet)) as book:
        x_table = _Table(_read_sheet(book, path, x_sheet), str(path), x_sheet)
        y_table = _Table(_read_sheet(book, path, y_sheet), str(path), y_sheet)
    return _stored(key, _dataset(x_table, y_table, str(path), num_labels))


def _workbook_key(path: Path, x_sheet: str, y_sheet: str, num_labels: int) -> data_cache.CacheKey | None:
    return data_cache.key_for("workbook", [path], x_sheet=x_sheet, y_sheet=y_sheet, num_labels=num_labels)


def _cached_dataset(key: data_cache.CacheKey | None, source: str, num_labels: int) -> Dataset | None:
    """The Dataset the cache holds for ``key``, named after this read's ``source``; None on a miss."""
    arrays = data_cache.lookup(key)
    if arrays is None:
        return None
    try:
        return Dataset(*arrays, source, num_labels, from_cache=True)
    except DataError:  # labels outside 1..num_labels: not an entry this code wrote
        return None


def _stored(key: data_cache.CacheKey | None, dataset: Dataset) -> Dataset:
    data_cache.store(key, dataset.X, dataset.y)
    return dataset


def _open_workbook(path: Path, sheets: tuple[str, ...]) -> pd.ExcelFile:
    """The workbook, opened, once it is known to hold every sheet in ``sheets``."""
    import pandas as pd

    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # zipfile, openpyxl and XML errors all mean the same thing here
        raise DataError(f"{path}: not a valid Excel workbook (.xlsx/.xlsm): {_reason(exc)}") from None
    for sheet in sheets:
        if sheet not in book.sheet_names:
            found = ", ".join(repr(name) for name in book.sheet_names)
            book.close()
            raise DataError(f"{path}: no sheet named {sheet!r}; the sheets are {found}")
    return book


def load_features(path: str | Path, *, x_sheet: str = "X") -> np.ndarray:
    """Only the examples, no labels (for predictions): a workbook's ``x_sheet`` or a CSV of features,
    checked cell by cell like ``load_dataset``'s."""
    path = _existing_file(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _numbers(_Table(_read_csv(path), str(path)))
    if suffix not in WORKBOOK_SUFFIXES:
        raise _unsupported_type(path)
    with _open_workbook(path, (x_sheet,)) as book:
        return _numbers(_Table(_read_sheet(book, path, x_sheet), str(path), x_sheet))


def load_labelled_if_possible(
    path: str | Path,
    *,
    x_sheet: str = "X",
    y_sheet: str = "y",
    y_path: str | Path | None = None,
    cache: bool = True,
) -> tuple[np.ndarray, Dataset | None]:
    """(examples, the labelled Dataset or None): labels are read when there are some (the workbook
    has ``y_sheet``, or ``y_path`` is given for CSV data), and checked like ``load_dataset``'s.
    Labelled data goes through the cache as ``load_dataset``'s does; examples without labels do not."""
    path = _existing_file(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if y_path is None:
            return load_features(path), None
        dataset = load_csv(path, y_path, cache=cache)
        return dataset.X, dataset
    if suffix not in WORKBOOK_SUFFIXES:
        raise _unsupported_type(path)
    if y_path is not None:
        raise DataError(f"{path}: y_path is only for CSV data; a workbook keeps its labels in a sheet")
    key = _workbook_key(path, x_sheet, y_sheet, 10) if cache else None
    dataset = _cached_dataset(key, str(path), 10)
    if dataset is not None:
        return dataset.X, dataset
    with _open_workbook(path, (x_sheet,)) as book:
        x_table = _Table(_read_sheet(book, path, x_sheet), str(path), x_sheet)
        if y_sheet not in book.sheet_names:
            return _numbers(x_table), None
        y_table = _Table(_read_sheet(book, path, y_sheet), str(path), y_sheet)
    dataset = _stored(key, _dataset(x_table, y_table, str(path), 10))
    return dataset.X, dataset


def load_csv(x_path: str | Path, y_path: str | Path, num_labels: int = 10, *, cache: bool = True) -> Dataset:
    """Read examples from one CSV file and labels from another; no header, one example per line
    (or from the cache, when this pair of files was read before with the same label count)."""
    key = data_cache.key_for("csv", [Path(x_path), Path(y_path)], num_labels=num_labels) if cache else None
    cached = _cached_dataset(key, str(x_path), num_labels)
    if cached is not None:
        return cached
    x_table = _Table(_read_csv(x_path), str(x_path))
    y_table = _Table(_read_csv(y_path), str(y_path))
    return _stored(key, _dataset(x_table, y_table, str(x_path), num_labels))


def load_dataset(
    path: str | Path,
    *,
    x_sheet: str = "X",
    y_sheet: str = "y",
    y_path: str | Path | None = None,
    num_labels: int = 10,
    cache: bool = True,
) -> Dataset:
    """Load a workbook (.xlsx/.xlsm) or a CSV pair (.csv, labels in ``y_path``), chosen by file suffix;
    ``cache=False`` parses the file even when the cache holds it, and stores nothing (data_cache.py)."""
    path = _existing_file(path)
    suffix = path.suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        if y_path is not None:
            raise DataError(f"{path}: y_path is only for CSV data; a workbook keeps its labels in a sheet")
        return load_workbook(path, x_sheet=x_sheet, y_sheet=y_sheet, num_labels=num_labels, cache=cache)
    if suffix == ".csv":
        if y_path is None:
            raise DataError(
                f"{path}: CSV data needs its labels in a second CSV file; pass y_path (--y-csv on the command line)"
            )
        return load_csv(path, y_path, num_labels=num_labels, cache=cache)
    raise _unsupported_type(path)


def _unsupported_type(path: Path) -> DataError:
    return DataError(f"{path}: unsupported file type {path.suffix!r}; expected .xlsx, .xlsm or .csv")


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    return path


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


def _read_sheet(book: pd.ExcelFile, path: Path, sheet: str) -> pd.DataFrame:
    """The sheet's cells as written: numbers, text, booleans, and "" for empty cells."""
    import pandas as pd

    try:
        # dtype=object and na_filter=False keep every cell as openpyxl read it: empty cells as "", text
        # such as "NA" as text, TRUE as True (pandas would otherwise quietly turn TRUE into 1).
        return pd.read_excel(book, sheet_name=sheet, header=None, dtype=object, na_filter=False)
    except Exception as exc:
        raise DataError(f"{path}, sheet {sheet!r}: cannot be read: {_reason(exc)}") from None


def _read_csv(path: str | Path) -> pd.DataFrame:
    """The file's fields, numeric columns parsed, everything else as text ("" when empty)."""
    import pandas as pd

    path = _existing_file(path)
    try:
        # skip_blank_lines=False keeps row i on line i + 1, so messages point at the right line.
        frame = pd.read_csv(path, header=None, na_filter=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = found.groups()
            raise DataError(
                f"{path}, line {line}: {saw} fields, but the lines before it have {expected}"
            ) from None
        raise DataError(f"{path}: not a valid CSV file: {_reason(exc)}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text (UTF-8) CSV file") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read: {_reason(exc)}") from None
    # Drop blank lines at the end of the file (as Excel ignores empty rows after the data).
    blank = (frame == "").all(axis=1).to_numpy()
    trailing = len(blank) if blank.all() else int(np.argmin(blank[::-1]))
    return frame.iloc[: len(blank) - trailing]


# ----------------------------------------------------------------------------------------------------
# Checking


@dataclass(frozen=True)
class _Table:
    """A sheet or CSV file as read, and how to name its rows and cells in messages."""

    frame: pd.DataFrame
    file: str
    sheet: str | None = None  # None for a CSV file

    @property
    def where(self) -> str:
        """The table's name in messages: ``data/digits.xlsx, sheet 'X'`` or ``x.csv``."""
        return self.file if self.sheet is None else f"{self.file}, sheet {self.sheet!r}"

    def cell(self, i: int, j: int) -> str:
        """Rows and column letters in a workbook, lines and column numbers in a CSV file (1-based)."""
        if self.sheet is None:
            return f"{self.file}, line {i + 1}, column {j + 1}"
        return f"{self.where}, row {i + 1}, column {_column_letters(j)}"


def _column_letters(j: int) -> str:
    """Excel's name for the 0-based column j: 0 -> "A", 25 -> "Z", 26 -> "AA"."""
    letters = ""
    j += 1
    while j:
        j, rest = divmod(j - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _dataset(x_table: _Table, y_table: _Table, source: str, num_labels: int) -> Dataset:
    X = _numbers(x_table)
    y = _labels(y_table, num_labels)
    if X.shape[0] != y.shape[0]:
        if x_table.sheet is None:
            counts = f"{x_table.file} has {X.shape[0]} lines but {y_table.file} has {y.shape[0]}"
        else:
            counts = (
                f"{x_table.file}: sheet {x_table.sheet!r} has {X.shape[0]} rows "
                f"but sheet {y_table.sheet!r} has {y.shape[0]}"
            )
        raise DataError(f"{counts}; every example needs exactly one label")
    return Dataset(X, y, source, num_labels)


_OK, _TEXT, _EMPTY, _NAN, _INF = range(5)
_NUMERIC_COLUMNS = {"integer", "floating", "mixed-integer-float"}  # pandas' infer_dtype names


def _numbers(table: _Table) -> np.ndarray:
    """The table as float64, or a DataError naming its first cell that is not a finite number."""
    from pandas.api.types import infer_dtype

    frame = table.frame
    if frame.size == 0:
        raise DataError(f"{table.where} is empty")
    if all(infer_dtype(column, skipna=False) in _NUMERIC_COLUMNS for _, column in frame.items()):
        values = frame.to_numpy(dtype=np.float64)  # the usual case: no text, no empty cells
        problems = np.zeros(values.shape, dtype=np.int8)
    else:
        numbers, codes = _parse(frame.to_numpy(dtype=object))  # text, empty cells, booleans, ...
        values, problems = numbers.astype(np.float64), codes.astype(np.int8)
    problems[(problems == _OK) & np.isnan(values)] = _NAN
    problems[(problems == _OK) & np.isinf(values)] = _INF

    bad = np.argwhere(problems)
    if len(bad):
        i, j = bad[0]
        raw = frame.iat[i, j]
        what = {
            _TEXT: f"non-numeric value {_show(raw)}",
            _EMPTY: "empty cell",
            _NAN: f"not-a-number value {str(raw).strip()}",
            _INF: f"infinite value {str(raw).strip()}",
        }[problems[i, j]]
        if problems[i, j] == _NAN and table.sheet is not None and not isinstance(raw, str):
            what = "error value such as #N/A or #DIV/0! (or NaN)"  # pandas reads Excel errors as NaN
        hint = "; the layout has no header row" if i == 0 and problems[i, j] == _TEXT else ""
        more = (
            f" ({len(bad) - 1} more bad cell{'s' if len(bad) > 2 else ''} after it)" if len(bad) > 1 else ""
        )
        raise DataError(f"{table.cell(i, j)}: {what}; expected a finite number{hint}{more}")
    return values


def _parse_cell(value: object) -> tuple[float, int]:
    """(number, problem code) for one cell that pandas left as a Python object."""
    if isinstance(value, (bool, np.bool_)):
        return math.nan, _TEXT
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), _OK  # NaN and inf are flagged later
    if isinstance(value, str):
        if not value.strip():
            return math.nan, _EMPTY
        try:
            return float(value), _OK  # numbers stored as text; "nan"/"inf" are flagged later
        except ValueError:
            return math.nan, _TEXT
    return (math.nan, _EMPTY) if value is None else (math.nan, _TEXT)  # dates, times, ...


_parse = np.frompyfunc(_parse_cell, 1, 2)


def _show(value: object) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _labels(table: _Table, num_labels: int) -> np.ndarray:
    """The single label column as int64 in 1..num_labels, or a DataError naming the first bad label."""
    if table.frame.shape[1] > 1:
        extra = "2" if table.sheet is None else _column_letters(1)
        raise DataError(
            f"{table.where}, column {extra}: labels must be in a single column, "
            f"found {table.frame.shape[1]} columns"
        )
    values = _numbers(table)[:, 0]
    fractional = np.flatnonzero(values != np.round(values))
    if len(fractional):
        i = fractional[0]
        raise DataError(f"{table.cell(i, 0)}: label {_show(values[i])} is not a whole number")
    outside = np.flatnonzero((values < 1) | (values > num_labels))
    if len(outside):
        i = outside[0]
        hint = " (the digit 0 has label 10)" if values[i] == 0 and num_labels == 10 else ""
        raise DataError(f"{table.cell(i, 0)}: label {int(values[i])} is outside 1..{num_labels}{hint}")
    return values.astype(np.int64)


def _as_labels(y: np.ndarray, num_labels: int, where: str) -> np.ndarray:
    """y as int64 labels in 1..num_labels (whole-number floats accepted), else a DataError."""
    if y.dtype.kind not in "iuf" and y.size:
        raise DataError(f"{where}: labels must be numbers, got dtype {y.dtype}")
    with np.errstate(invalid="ignore"):  # NaN and inf turn into garbage here, and are caught below
        labels = y.astype(np.int64)
    bad = np.flatnonzero((labels != y) | (labels < 1) | (labels > num_labels))
    if len(bad):
        i = bad[0]
        raise DataError(f"{where}: label {_show(y[i])} at index {i} is not an integer in 1..{num_labels}")
    return labels


# ----------------------------------------------------------------------------------------------------
# Transforming


def one_hot(y: np.ndarray, num_labels: int = 10) -> np.ndarray:
    """(m, num_labels) float64 with a 1 in column k-1 for label k (so label 10, the digit 0, is last)."""
    labels = _as_labels(np.asarray(y).reshape(-1), num_labels, "one_hot")
    encoded = np.zeros((labels.size, num_labels))
    encoded[np.arange(labels.size), labels - 1] = 1.0
    return encoded


def labels_to_digits(labels: np.ndarray) -> np.ndarray:
    """The digit each course label stands for: 10 becomes 0, 1..9 stay as they are."""
    labels = np.asarray(labels)
    return np.where(labels == 10, 0, labels)


def split_rows(y: np.ndarray, holdout: float = 0.2, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """The row numbers (0-based) of ``stratified_split``'s (train, held out) parts, in their shuffled order.

    Each class contributes round(holdout * its size) rows, but always leaves at least one in train.
    The same labels, holdout and seed give the same rows.
    """
    if not (isinstance(holdout, Real) and 0 <= holdout < 1):
        raise DataError(f"holdout must be a fraction in [0, 1), got {holdout!r}")
    y = np.asarray(y)
    if holdout == 0:
        return np.arange(y.size), np.arange(0)
    rng = np.random.default_rng(seed)
    train, held = [np.arange(0)], [np.arange(0)]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_held = min(math.floor(holdout * members.size + 0.5), members.size - 1)
        held.append(members[:n_held])
        train.append(members[n_held:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(held))


def stratified_split(dataset: Dataset, holdout: float = 0.2, seed: int | None = 0) -> tuple[Dataset, Dataset]:
    """Shuffle and split into (train, held out), holding out about ``holdout`` of every class.

    The rows are ``split_rows``'. ``holdout=0`` returns the dataset itself and an empty one.
    """
    train, held = split_rows(dataset.y, holdout, seed)
    if holdout == 0:
        return dataset, _subset(dataset, held)
    return _subset(dataset, train), _subset(dataset, held)


def fingerprint(dataset: Dataset) -> str:
    """A SHA-256 of the examples and labels (values, shape, order): the same data read from a
    workbook or from CSV files has the same fingerprint; any changed cell gives another."""
    digest = hashlib.sha256()
    digest.update(f"{dataset.m}x{dataset.n}:{dataset.num_labels};".encode())
    digest.update(np.ascontiguousarray(dataset.X, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(dataset.y, dtype="<i8").tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class SplitRecord:
    """How a training run split its data, kept with the weights so the held-out rows can be found again."""

    seed: int
    holdout: float
    data_sha256: str  # ``fingerprint`` of the whole dataset before the split
    data_source: str

    def matches(self, dataset: Dataset) -> bool:
        """Whether ``dataset`` is the data this split was made from."""
        return fingerprint(dataset) == self.data_sha256

    def rows(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """The (train, held out) row numbers of ``dataset``, each sorted in file order."""
        train, held = split_rows(dataset.y, self.holdout, self.seed)
        return np.sort(train), np.sort(held)


def _subset(dataset: Dataset, rows: np.ndarray) -> Dataset:
    return Dataset(dataset.X[rows], dataset.y[rows], dataset.source, dataset.num_labels)
