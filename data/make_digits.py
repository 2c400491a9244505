"""Regenerate ``autograd_nn/datasets/workbooks/digits.xlsx`` from scikit-learn's bundled copy of the UCI handwritten digits.

The workbook copies the layout of the course's ``ex3d1.xlsx``: sheet ``X`` holds one image per row
(64 pixels of an 8x8 image, row-major, values 0-16) and sheet ``y`` one label per row (1-9 for the
digits 1-9, 10 for the digit 0); neither sheet has a header row. Images keep scikit-learn's order.

The output is byte-for-byte reproducible (for given versions of pandas, openpyxl and zlib): openpyxl
stamps the workbook and its zip entries with the current time, so those stamps are pinned here.

Usage (scikit-learn is a dev extra, needed only here)::

    pip install -e .[dev]
    python data/make_digits.py            # rewrites autograd_nn/datasets/workbooks/digits.xlsx
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

# The workbook ships inside the package (read through importlib.resources); data/digits.xlsx links to it.
OUT = Path(__file__).resolve().parent.parent / "autograd_nn" / "datasets" / "workbooks" / "digits.xlsx"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # earliest time a zip entry can hold
DOC_TIME = b"2000-01-01T00:00:00Z"  # docProps/core.xml "created" and "modified"


def digits_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 1,797 digits as the course lays them out: (X, y), integers, label 10 for the digit 0."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("make_digits.py needs scikit-learn: pip install -e .[dev]")
    digits = load_digits()
    X = pd.DataFrame(digits.data.astype(np.int64))  # pixel counts 0..16, exactly integral
    y = pd.DataFrame(np.where(digits.target == 0, 10, digits.target).astype(np.int64))
    return X, y


def workbook_bytes(X: pd.DataFrame, y: pd.DataFrame) -> bytes:
    """The .xlsx file holding sheets X and y, without header rows or index columns."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        X.to_excel(writer, sheet_name="X", index=False, header=False)
        y.to_excel(writer, sheet_name="y", index=False, header=False)
    return pin_timestamps(buffer.getvalue())


def pin_timestamps(xlsx: bytes) -> bytes:
    """Rewrite the zip with fixed entry times and fixed document times, so reruns give identical bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", DOC_TIME, data)
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, data)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=OUT, help=f"output path (default: {OUT})")
    out = parser.parse_args(argv).out

    X, y = digits_frames()
    out.write_bytes(workbook_bytes(X, y))

    # Read it back the way the package will, and make sure nothing was lost on the way.
    back = pd.read_excel(out, sheet_name=["X", "y"], header=None, engine="openpyxl")
    assert np.array_equal(back["X"].to_numpy(), X.to_numpy()), "sheet X did not round-trip"
    assert np.array_equal(back["y"].to_numpy(), y.to_numpy()), "sheet y did not round-trip"
    print(f"wrote {out}: {X.shape[0]} images x {X.shape[1]} pixels, {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
