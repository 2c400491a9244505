"""Specification of autograd_nn.data: the bundled digits, the course's layout, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pytest

from autograd_nn.digits.data import (
    DataError,
    Dataset,
    labels_to_digits,
    load_csv,
    load_dataset,
    load_workbook,
    one_hot,
    stratified_split,
)
from autograd_nn.errors import AutogradError

DIGITS = Path(__file__).resolve().parents[1] / "data" / "digits.xlsx"


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_workbook(DIGITS)


def write_workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A workbook with the given sheets, each a list of rows written from cell A1, no header."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def good_x(m: int = 4, n: int = 3) -> list[list[object]]:
    return [[float(i * n + j) for j in range(n)] for i in range(m)]


def good_y(m: int = 4) -> list[list[object]]:
    return [[i % 10 + 1] for i in range(m)]


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def load_error(load, *args, **kwargs) -> str:
    """The message of the DataError that loading raises (and check it hides the library's traceback)."""
    with pytest.raises(DataError) as caught:
        load(*args, **kwargs)
    assert caught.value.__cause__ is None
    return str(caught.value)


# ----------------------------------------------------------------------------------------------------
# The bundled workbook


def test_bundled_workbook_holds_1797_images_of_8x8_pixels_valued_0_to_16(digits):
    assert (digits.m, digits.n) == (1797, 64)
    assert digits.X.shape == (1797, 64) and digits.X.dtype == np.float64
    assert digits.X.min() == 0 and digits.X.max() == 16
    assert np.array_equal(digits.X, np.round(digits.X))
    assert digits.source == str(DIGITS) and digits.num_labels == 10


def test_bundled_labels_run_1_to_10_with_about_180_images_of_every_digit(digits):
    assert digits.y.shape == (1797,) and digits.y.dtype == np.int64
    counts = np.bincount(digits.y, minlength=11)
    assert counts[0] == 0  # no label 0: the digit 0 is labelled 10
    assert counts.sum() == 1797
    assert all(170 <= c <= 190 for c in counts[1:])


def test_bundled_label_10_is_the_digit_0_whose_centre_is_empty(digits):
    centres = digits.X.reshape(-1, 8, 8)[:, 3:5, 3:5].mean(axis=(1, 2))
    mean_centre = {label: centres[digits.y == label].mean() for label in range(1, 11)}
    assert mean_centre[10] < 2
    assert all(mean_centre[label] > 8 for label in range(1, 10))


def test_bundled_images_keep_scikit_learns_order(digits):
    # The first ten images are the digits 0..9 in turn, and the first is the well-known 0.
    assert digits.y[:10].tolist() == [10, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert digits.X[0, :16].tolist() == [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]


def test_load_dataset_picks_the_workbook_loader_by_suffix(digits):
    data = load_dataset(DIGITS)
    assert np.array_equal(data.X, digits.X) and np.array_equal(data.y, digits.y)


# ----------------------------------------------------------------------------------------------------
# Dataset, one_hot, labels_to_digits


def test_dataset_stores_float64_examples_and_int64_labels():
    data = Dataset([[1, 2], [3, 4], [5, 6]], [1.0, 2.0, 10.0], "memory")
    assert data.X.dtype == np.float64 and data.y.dtype == np.int64
    assert (data.m, data.n) == (3, 2)
    assert data.y.tolist() == [1, 2, 10]
    assert repr(data) == "Dataset(source='memory', m=3, n=2, num_labels=10)"


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        ([1, 2, 3], [1, 2, 3], "2-D"),
        ([[1], [2]], [1], "shape"),
        ([[1], [2]], [1, 11], "label 11"),
        ([[1], [2]], [1, 2.5], "label 2.5"),
    ],
)
def test_dataset_rejects_bad_shapes_and_labels(X, y, message):
    with pytest.raises(DataError, match=message):
        Dataset(X, y, "memory")


def test_one_hot_puts_label_k_in_column_k_minus_1_so_the_digit_0_is_last():
    encoded = one_hot(np.array([1, 10, 3]))
    assert encoded.dtype == np.float64
    assert encoded.tolist() == [
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    ]


def test_one_hot_takes_other_label_counts_and_rejects_labels_out_of_range():
    assert one_hot([2, 1], num_labels=3).tolist() == [[0, 1, 0], [1, 0, 0]]
    assert one_hot(np.array([], dtype=np.int64)).shape == (0, 10)
    with pytest.raises(DataError, match="label 0"):
        one_hot([1, 0])
    with pytest.raises(DataError, match="label 4"):
        one_hot([4], num_labels=3)


def test_labels_to_digits_turns_10_into_0_and_leaves_the_others():
    assert labels_to_digits(np.arange(1, 11)).tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


# ----------------------------------------------------------------------------------------------------
# stratified_split


def numbered(counts: dict[int, int]) -> Dataset:
    """A dataset whose single feature is the row number, with counts[label] rows of each label."""
    y = np.repeat(list(counts), list(counts.values()))
    return Dataset(np.arange(y.size, dtype=float)[:, None], y, "numbered")


def test_stratified_split_holds_out_the_same_fraction_of_every_class(digits):
    train, held = stratified_split(digits, holdout=0.2, seed=0)
    assert train.m + held.m == digits.m
    for label in range(1, 11):
        size = np.count_nonzero(digits.y == label)
        assert np.count_nonzero(held.y == label) == round(0.2 * size)
    assert (train.n, held.n, train.source, train.num_labels) == (64, 64, digits.source, 10)


def test_stratified_split_partitions_the_rows_and_shuffles_them():
    data = numbered({1: 50, 2: 30, 3: 20})
    train, held = stratified_split(data, holdout=0.3, seed=1)
    train_rows, held_rows = train.X[:, 0].astype(int), held.X[:, 0].astype(int)
    assert set(train_rows).isdisjoint(held_rows)
    assert sorted([*train_rows, *held_rows]) == list(range(100))
    assert np.array_equal(data.y[train_rows], train.y) and np.array_equal(data.y[held_rows], held.y)
    assert list(train_rows) != sorted(train_rows)  # shuffled, not grouped by class
    assert np.bincount(held.y).tolist() == [0, 15, 9, 6]


def test_stratified_split_is_reproducible_with_a_seed():
    data = numbered({1: 40, 2: 40})
    first, second = stratified_split(data, 0.25, seed=7), stratified_split(data, 0.25, seed=7)
    other = stratified_split(data, 0.25, seed=8)
    assert np.array_equal(first[0].X, second[0].X) and np.array_equal(first[1].X, second[1].X)
    assert not np.array_equal(first[1].X, other[1].X)


def test_stratified_split_leaves_every_class_at_least_one_training_example():
    train, held = stratified_split(numbered({1: 2, 2: 1, 3: 10}), holdout=0.9, seed=0)
    assert sorted(set(train.y)) == [1, 2, 3]
    assert np.bincount(held.y, minlength=4).tolist() == [0, 1, 0, 9]


def test_stratified_split_with_no_holdout_returns_everything_and_an_empty_set():
    data = numbered({1: 3, 2: 3})
    train, held = stratified_split(data, holdout=0)
    assert train is data
    assert held.X.shape == (0, 1) and held.y.shape == (0,) and held.m == 0


@pytest.mark.parametrize("holdout", [1, 1.5, -0.1, float("nan"), "0.2"])
def test_stratified_split_rejects_a_holdout_outside_0_to_1(holdout):
    with pytest.raises(DataError, match="holdout"):
        stratified_split(numbered({1: 5}), holdout=holdout)


# ----------------------------------------------------------------------------------------------------
# Good files of other shapes


def test_load_workbook_reads_other_sheet_names_and_label_counts(tmp_path):
    path = write_workbook(tmp_path / "three.xlsx", {"inputs": good_x(3, 2), "labels": [[3], [1], [2]]})
    data = load_workbook(path, x_sheet="inputs", y_sheet="labels", num_labels=3)
    assert data.X.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert data.y.tolist() == [3, 1, 2] and data.num_labels == 3


def test_load_workbook_accepts_whole_number_floats_and_numbers_stored_as_text(tmp_path):
    path = write_workbook(tmp_path / "d.xlsx", {"X": [[1, "2.5"], [3, 4]], "y": [[3.0], ["10"]]})
    data = load_workbook(path)
    assert data.X.tolist() == [[1, 2.5], [3, 4]]
    assert data.y.tolist() == [3, 10] and data.y.dtype == np.int64


def test_load_csv_reads_a_pair_of_headerless_files(tmp_path):
    x = write_text(tmp_path / "x.csv", "0,1.5,2\n3,4,5\n")
    y = write_text(tmp_path / "y.csv", "10\n2.0\n\n")  # a trailing blank line is fine
    data = load_csv(x, y)
    assert data.X.tolist() == [[0, 1.5, 2], [3, 4, 5]]
    assert data.y.tolist() == [10, 2]
    assert data.source == str(x)
    same = load_dataset(x, y_path=y)
    assert np.array_equal(same.X, data.X) and np.array_equal(same.y, data.y)


# ----------------------------------------------------------------------------------------------------
# Bad files: one DataError naming where the problem is


def test_data_error_is_a_value_error_and_an_autograd_error():
    assert issubclass(DataError, ValueError) and issubclass(DataError, AutogradError)


@pytest.mark.parametrize("load", [load_workbook, load_dataset, lambda path: load_csv(path, path)])
def test_missing_file(tmp_path, load):
    message = load_error(load, tmp_path / "nowhere.xlsx")
    assert "nowhere.xlsx" in message and "not found" in message


def test_a_directory_is_not_a_file(tmp_path):
    assert "not a file" in load_error(load_workbook, tmp_path)


def test_text_file_named_xlsx_is_not_a_workbook(tmp_path):
    path = write_text(tmp_path / "fake.xlsx", "this is not a workbook\n")
    message = load_error(load_workbook, path)
    assert "fake.xlsx" in message and "not a valid Excel workbook" in message


def test_missing_sheet_lists_the_sheets_there_are(tmp_path):
    path = write_workbook(tmp_path / "d.xlsx", {"X": good_x(), "labels": good_y(), "notes": [["hi"]]})
    message = load_error(load_workbook, path)
    assert "d.xlsx" in message and "no sheet named 'y'" in message
    assert "'X', 'labels', 'notes'" in message


@pytest.mark.parametrize("empty", ["X", "y"])
def test_empty_sheet(tmp_path, empty):
    sheets = {"X": good_x(), "y": good_y()}
    sheets[empty] = []
    message = load_error(load_workbook, write_workbook(tmp_path / "d.xlsx", sheets))
    assert f"d.xlsx, sheet '{empty}' is empty" in message


def test_row_counts_that_differ_are_both_named(tmp_path):
    path = write_workbook(tmp_path / "d.xlsx", {"X": good_x(5), "y": good_y(4)})
    message = load_error(load_workbook, path)
    assert "d.xlsx" in message and "sheet 'X' has 5 rows" in message and "sheet 'y' has 4" in message


def test_non_numeric_cell_names_sheet_row_column_and_value(tmp_path):
    rows = good_x(4, 3)
    rows[2][2] = "abc"
    rows[3][0] = "later"
    message = load_error(load_workbook, write_workbook(tmp_path / "d.xlsx", {"X": rows, "y": good_y()}))
    assert message.startswith(f"{tmp_path / 'd.xlsx'}, sheet 'X', row 3, column C: non-numeric value 'abc'")
    assert "(1 more bad cell after it)" in message


def test_column_letters_go_past_z(tmp_path):
    rows = good_x(2, 30)
    rows[1][27] = "x"
    message = load_error(load_workbook, write_workbook(tmp_path / "d.xlsx", {"X": rows, "y": good_y(2)}))
    assert "row 2, column AB" in message


def test_a_header_row_is_reported_as_text_in_row_1(tmp_path):
    rows = [["pixel1", "pixel2"], *good_x(3, 2)]
    message = load_error(load_workbook, write_workbook(tmp_path / "d.xlsx", {"X": rows, "y": good_y(4)}))
    assert "row 1, column A: non-numeric value 'pixel1'" in message and "no header row" in message


def test_boolean_cell_is_not_a_number(tmp_path):
    rows = good_x(3, 2)
    rows[1][1] = True
    message = load_error(load_workbook, write_workbook(tmp_path / "d.xlsx", {"X": rows, "y": good_y(3)}))
    assert "sheet 'X', row 2, column B: non-numeric value True" in message


def test_empty_cell_is_named(tmp_path):
    rows = good_x(3, 3)
    rows[1][1] = None
    message = load_error(load_workbook, write_workbook(tmp_path / "d.xlsx", {"X": rows, "y": good_y(3)}))
    assert "sheet 'X', row 2, column B: empty cell" in message


def test_short_row_is_reported_as_empty_cells(tmp_path):
    rows = [*good_x(2, 3), [1.0, 2.0]]
    message = load_error(load_workbook, write_workbook(tmp_path / "d.xlsx", {"X": rows, "y": good_y(3)}))
    assert "sheet 'X', row 3, column C: empty cell" in message


@pytest.mark.parametrize(
    ("text", "what"), [("nan", "not-a-number"), ("NaN", "not-a-number"), ("-inf", "infinite")]
)
def test_nan_and_inf_values_are_named(tmp_path, text, what):
    rows = good_x(3, 2)
    rows[2][0] = text
    message = load_error(load_workbook, write_workbook(tmp_path / "d.xlsx", {"X": rows, "y": good_y(3)}))
    assert f"sheet 'X', row 3, column A: {what} value {text}; expected a finite number" in message


def test_excel_error_value_is_named(tmp_path):
    rows = good_x(3, 2)
    rows[1][0] = "#DIV/0!"  # openpyxl stores this as an error cell, as Excel would
    message = load_error(load_workbook, write_workbook(tmp_path / "d.xlsx", {"X": rows, "y": good_y(3)}))
    assert "sheet 'X', row 2, column A: error value such as #N/A or #DIV/0!" in message


def test_labels_in_more_than_one_column(tmp_path):
    path = write_workbook(tmp_path / "d.xlsx", {"X": good_x(2), "y": [[1, 5], [2, 6]]})
    message = load_error(load_workbook, path)
    assert "sheet 'y', column B" in message and "single column" in message and "2 columns" in message


def test_label_that_is_not_a_whole_number(tmp_path):
    path = write_workbook(tmp_path / "d.xlsx", {"X": good_x(3), "y": [[1], [2.0], [2.5]]})
    assert "sheet 'y', row 3, column A: label 2.5 is not a whole number" in load_error(load_workbook, path)


@pytest.mark.parametrize(("label", "extra"), [(11, ""), (0, "the digit 0 has label 10"), (-3, "")])
def test_label_out_of_range(tmp_path, label, extra):
    path = write_workbook(tmp_path / "d.xlsx", {"X": good_x(3), "y": [[1], [label], [2]]})
    message = load_error(load_workbook, path)
    assert f"sheet 'y', row 2, column A: label {label} is outside 1..10" in message and extra in message


def test_label_range_follows_num_labels(tmp_path):
    path = write_workbook(tmp_path / "d.xlsx", {"X": good_x(3), "y": [[1], [2], [4]]})
    assert "row 3, column A: label 4 is outside 1..3" in load_error(load_workbook, path, num_labels=3)


def test_text_label_is_named(tmp_path):
    path = write_workbook(tmp_path / "d.xlsx", {"X": good_x(2), "y": [[1], ["seven"]]})
    assert "sheet 'y', row 2, column A: non-numeric value 'seven'" in load_error(load_workbook, path)


# ----------------------------------------------------------------------------------------------------
# Bad CSV files: lines and column numbers


@pytest.fixture
def labels_csv(tmp_path) -> Path:
    return write_text(tmp_path / "y.csv", "1\n2\n3\n")


def test_csv_needs_its_labels_file(tmp_path):
    x = write_text(tmp_path / "x.csv", "1,2\n")
    assert "y_path" in load_error(load_dataset, x)


def test_labels_file_is_only_for_csv(tmp_path, labels_csv):
    assert "y_path is only for CSV" in load_error(load_dataset, DIGITS, y_path=labels_csv)


def test_unsupported_file_type(tmp_path):
    path = write_text(tmp_path / "d.txt", "1,2\n")
    assert "unsupported file type '.txt'" in load_error(load_dataset, path)


def test_csv_non_numeric_value_names_line_and_column(tmp_path, labels_csv):
    x = write_text(tmp_path / "x.csv", "1,2,3\n4,5,oops\n7,8,9\n")
    message = load_error(load_csv, x, labels_csv)
    assert message.startswith(f"{x}, line 2, column 3: non-numeric value 'oops'")


@pytest.mark.parametrize(("text", "what"), [("nan", "not-a-number"), ("inf", "infinite")])
def test_csv_nan_and_inf(tmp_path, labels_csv, text, what):
    x = write_text(tmp_path / "x.csv", f"1,2\n3,{text}\n5,6\n")
    assert f"x.csv, line 2, column 2: {what} value {text}" in load_error(load_csv, x, labels_csv)


def test_csv_empty_field_and_blank_line_keep_their_line_numbers(tmp_path, labels_csv):
    x = write_text(tmp_path / "x.csv", "1,2\n,4\n")
    assert "x.csv, line 2, column 1: empty cell" in load_error(load_csv, x, labels_csv)
    x = write_text(tmp_path / "x.csv", "1,2\n\n5,6\n")
    assert "x.csv, line 2, column 1: empty cell" in load_error(load_csv, x, labels_csv)


def test_csv_line_with_too_many_fields(tmp_path, labels_csv):
    x = write_text(tmp_path / "x.csv", "1,2\n3,4\n5,6,7\n")
    assert "x.csv, line 3: 3 fields, but the lines before it have 2" in load_error(load_csv, x, labels_csv)


def test_csv_line_counts_that_differ(tmp_path, labels_csv):
    x = write_text(tmp_path / "x.csv", "1,2\n3,4\n")
    message = load_error(load_csv, x, labels_csv)
    assert "x.csv has 2 lines" in message and "y.csv has 3" in message


def test_csv_labels_in_more_than_one_column_and_bad_labels(tmp_path):
    x = write_text(tmp_path / "x.csv", "1\n2\n")
    y = write_text(tmp_path / "y.csv", "1,1\n2,2\n")
    assert "y.csv, column 2: labels must be in a single column" in load_error(load_csv, x, y)
    y = write_text(tmp_path / "y.csv", "1\n12\n")
    assert "y.csv, line 2, column 1: label 12 is outside 1..10" in load_error(load_csv, x, y)


def test_empty_csv(tmp_path, labels_csv):
    x = write_text(tmp_path / "x.csv", "")
    assert f"{x} is empty" in load_error(load_csv, x, labels_csv)


def test_binary_file_named_csv(tmp_path, labels_csv):
    x = tmp_path / "x.csv"
    x.write_bytes(b"\xff\xfe\x00\x81garbage\x00\x9c")
    message = load_error(load_csv, x, labels_csv)
    assert "x.csv" in message and "not a text" in message


def test_load_features_reads_only_the_examples_sheet(tmp_path):
    import pandas as pd

    from autograd_nn.digits.data import load_features

    path = tmp_path / "unlabelled.xlsx"
    pd.DataFrame([[1, 2], [3, 4]]).to_excel(path, sheet_name="X", header=False, index=False)
    np.testing.assert_array_equal(load_features(path), [[1.0, 2.0], [3.0, 4.0]])
    csv_path = tmp_path / "unlabelled.csv"
    csv_path.write_text("1,2\n3,x\n")
    with pytest.raises(DataError, match=r"line 2, column 2.*'x'"):
        load_features(csv_path)
    with pytest.raises(DataError, match="no sheet named 'Pixels'"):
        load_features(path, x_sheet="Pixels")
