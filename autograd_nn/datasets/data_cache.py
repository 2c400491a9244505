"""A cache of parsed data files, so the same workbook or CSV pair is parsed once rather than on every run.

Parsing the course's 5000x400 workbook with pandas and openpyxl takes seconds; reading back what was
parsed from it takes milliseconds and imports neither. An entry is keyed by the SHA-256 of the files'
bytes and by everything else that shapes the result (sheet names, label count, ``FORMAT_VERSION``, the
readers' versions), so it is never stale: changed bytes are a miss. Entries are plain arrays in an
``.npz`` file, written atomically and read without pickle. Only data that parsed and passed every check
is stored, and an entry that cannot be read, or a folder that cannot be written, just means no cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import read_arrays, write_arrays

__all__ = ["CACHE_DIR_VARIABLE", "FORMAT_VERSION", "CacheKey", "cache_dir", "key_for", "lookup", "store"]

# Bump when data.py's reading or checking rules change what a file reads as, or the entry layout changes.
FORMAT_VERSION = 1
CACHE_DIR_VARIABLE = "AUTOGRAD_NN_CACHE_DIR"
_READERS = ("pandas", "openpyxl")  # an upgrade of either may read a cell differently: a miss


def cache_dir() -> Path | None:
    """The folder entries live in: ``$AUTOGRAD_NN_CACHE_DIR``, else ``$XDG_CACHE_HOME/autograd_nn/datasets``,
    else ``~/.cache/autograd_nn/datasets``; None when there is no home folder to put it in."""
    chosen = os.environ.get(CACHE_DIR_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore a relative path
        return Path(xdg) / "autograd_nn" / "datasets"
    try:
        return Path.home() / ".cache" / "autograd_nn" / "datasets"
    except (RuntimeError, KeyError):  # no HOME and no password entry
        return None


@dataclass(frozen=True)
class CacheKey:
    """What an entry holds: the files, their SHA-256s when hashed, and every option that shapes the result."""

    description: str  # canonical JSON of all of it but the paths; stored in the entry and compared on reading
    files: tuple[Path, ...]
    digests: tuple[str, ...]

    @property
    def file_name(self) -> str:
        return hashlib.sha256(self.description.encode()).hexdigest() + ".npz"


def key_for(kind: str, files: Sequence[Path], **options: str | int) -> CacheKey | None:
    """The key of ``files`` read as ``kind`` with ``options``; None when a file cannot be read, so that
    the reader itself meets the problem and reports it (or there is no cache folder: nothing to look up)."""
    if cache_dir() is None:
        return None
    try:
        digests = tuple(_sha256(path) for path in files)
    except OSError:
        return None
    description = json.dumps(
        {"format": FORMAT_VERSION, "kind": kind, "sha256": digests, "readers": _reader_versions(), **options},
        sort_keys=True,
    )
    return CacheKey(description, tuple(files), digests)


def lookup(key: CacheKey | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The stored (X, y) for ``key``, or None: no entry, or one that is damaged or not what it should be."""
    folder = cache_dir()
    if key is None or folder is None:
        return None
    try:
        arrays = read_arrays(folder / key.file_name)
    except (OSError, ValueError):  # missing, unreadable, truncated, not an .npz, or holding pickled objects
        return None
    if set(arrays) != {"key", "X", "y"}:
        return None
    stored_key, X, y = arrays["key"], arrays["X"], arrays["y"]
    if stored_key.dtype.kind != "U" or stored_key.shape != () or str(stored_key) != key.description:
        return None
    if X.dtype != np.float64 or X.ndim != 2 or X.size == 0 or not np.isfinite(X).all():
        return None
    if y.dtype != np.int64 or y.shape != (X.shape[0],):
        return None
    return X, y


def store(key: CacheKey | None, X: np.ndarray, y: np.ndarray) -> None:
    """Keep (X, y) under ``key`` unless a file changed since it was hashed; a new cache folder is private
    to the user. A folder that cannot be written (permissions, read-only, full) leaves the cache as it
    was, silently: the data was read all the same, and nothing is lost."""
    folder = cache_dir()
    if key is None or folder is None:
        return
    try:
        if tuple(_sha256(path) for path in key.files) != key.digests:
            return  # rewritten while it was being read: what was read may belong to neither version
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # entries are copies of the user's data
        write_arrays(
            folder / key.file_name, {"key": np.array(key.description), "X": X, "y": y}, overwrite=True
        )
    except OSError:
        return


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache  # importing importlib.metadata costs ~10 ms: once per process
def _reader_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in _READERS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found
