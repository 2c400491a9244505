"""Files done safely: written whole or not at all and never over a user's file unless asked; arrays
read back checked and without pickle."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np


def write_atomically(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, moved into place in
    one step, so a reader never sees half a file. An existing ``path`` is replaced only with
    ``overwrite=True``; otherwise FileExistsError, even if the file appears while writing.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        temp = Path(handle.name)
        try:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise
    os.chmod(temp, 0o666 & ~_umask())  # as any new file would be, not tempfile's private 0o600
    try:
        if overwrite:
            os.replace(temp, path)
        else:
            _move_without_replacing(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def check_writable_folder(folder: str | os.PathLike) -> Path:
    """Raise ``OSError`` naming ``folder`` now, before any work, unless files can be created in it.

    Creates the folder (and missing parents) if needed, writes and removes a small probe file, then
    removes the folders it created, so nothing is left behind either way.
    """
    folder = Path(folder)
    created = []
    try:
        for parent in reversed((folder, *folder.parents)):
            if not parent.exists():
                parent.mkdir()
                created.append(parent)
        with tempfile.TemporaryFile(dir=folder, prefix=".probe."):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise type(error)(f"{folder}: cannot write files there ({reason})") from None
    finally:
        for made in reversed(created):
            with contextlib.suppress(OSError):
                made.rmdir()
    return folder


def check_writable_file(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Raise now, before any work, if ``write_atomically(path, ..., overwrite=overwrite)`` would
    fail because ``path`` exists or its folder cannot be written; creates nothing that stays."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    check_writable_folder(path.parent)
    return path


def _move_without_replacing(temp: Path, path: Path) -> None:
    """Give ``temp`` the name ``path``, failing if ``path`` exists (a hard link cannot replace a file)."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it") from None
    except OSError:  # no hard links on this file system: check, then rename
        if path.exists():
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it") from None
        os.replace(temp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], *, overwrite: bool = False) -> Path:
    """Named arrays as an ``.npz`` file, written atomically (``write_atomically``): plain arrays only."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_atomically(path, buffer.getvalue(), overwrite=overwrite)


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` file, every one read and CRC-checked, with no pickle (loading
    runs no code). FileNotFoundError when there is no such file; ValueError saying what is wrong
    when it is damaged or not an ``.npz`` (truncated, a flipped byte, another kind of file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        with zipfile.ZipFile(path) as archive:  # np.load alone does not check every CRC
            damaged = archive.testzip()
        if damaged is not None:
            raise zipfile.BadZipFile(f"bad CRC-32 for {damaged!r}")
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"{type(error).__name__}: {error}".rstrip(": ")) from None
