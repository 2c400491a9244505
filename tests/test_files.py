"""Files are written whole or not at all, and never over an existing file unless asked."""

from __future__ import annotations

import os

import pytest

from autograd_nn.files import write_atomically


def test_writes_the_bytes_and_creates_missing_folders(tmp_path):
    path = write_atomically(tmp_path / "a" / "b" / "out.bin", b"\x00\x01data")
    assert path.read_bytes() == b"\x00\x01data"


def test_refuses_to_replace_an_existing_file_unless_asked(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("keep")
    with pytest.raises(FileExistsError, match=r"out\.txt already exists"):
        write_atomically(path, b"new")
    assert path.read_text() == "keep"
    write_atomically(path, b"new", overwrite=True)
    assert path.read_text() == "new"


def test_leaves_no_temporary_files_behind(tmp_path):
    write_atomically(tmp_path / "one", b"1")
    write_atomically(tmp_path / "one", b"2", overwrite=True)
    with pytest.raises(FileExistsError):
        write_atomically(tmp_path / "one", b"3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one"]


def test_new_files_get_the_usual_permissions_not_private_temp_ones(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_atomically(tmp_path / "shared.csv", b"x")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
