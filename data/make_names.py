"""Regenerate ``autograd_nn/datasets/names.txt`` from the 1990 US Census name lists in the ``names`` package.

The ``names`` package on PyPI (MIT licence) ships the Census Bureau's 1990 frequency lists inside its
archive: ``dist.male.first`` and ``dist.female.first`` (5,494 first names between them) and ``dist.all.last``
(88,799 surnames). Each line reads ``NAME  frequency  cumulative-frequency  rank``; only the name is kept.

The names are lowercased, kept only if they are made of the letters a-z, deduplicated (a name on more than
one list is written once) and sorted, one a line. The script says how many it dropped and why.

``names`` is needed only here, never at run time: the script downloads its archive with
``pip download --no-deps names`` into a temporary folder and reads the three lists out of it
(a wheel or an sdist), without installing anything.

Usage::

    python data/make_names.py                  # rewrites autograd_nn/datasets/names.txt
    python data/make_names.py --archive names-0.3.0.tar.gz   # from an archive already downloaded
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

# The file ships inside the package (read through importlib.resources); data/names.txt links to it.
OUT = Path(__file__).resolve().parent.parent / "autograd_nn" / "datasets" / "names.txt"
LISTS = ("dist.male.first", "dist.female.first", "dist.all.last")
LETTERS = re.compile(r"[a-z]+")


def download_archive(folder: Path) -> Path:
    """``pip download --no-deps names`` into ``folder``; the path of the archive it saved."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "names", "-d", str(folder)],
        check=True,
    )
    archives = sorted(folder.glob("names-*"))
    if not archives:
        sys.exit(f"pip download saved no names-* archive in {folder}")
    return archives[0]


def read_lists(archive: Path) -> dict[str, list[str]]:
    """The three Census lists inside a names wheel (.whl) or sdist (.tar.gz): list file name -> its lines."""
    texts: dict[str, str] = {}
    if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if Path(member).name in LISTS:
                    texts[Path(member).name] = zf.read(member).decode("ascii")
    else:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                if Path(member.name).name in LISTS and member.isfile():
                    texts[Path(member.name).name] = tf.extractfile(member).read().decode("ascii")
    missing = [name for name in LISTS if name not in texts]
    if missing:
        sys.exit(f"{archive} holds no {', '.join(missing)}")
    return {name: [line for line in texts[name].splitlines() if line.strip()] for name in LISTS}


def clean(raw: Iterable[str]) -> tuple[list[str], list[str]]:
    """Lowercased, a-z only, deduplicated and sorted names; and the raw entries dropped for other characters."""
    kept, dropped = set(), []
    for entry in raw:
        name = entry.lower()
        if LETTERS.fullmatch(name):
            kept.add(name)
        else:
            dropped.append(entry)
    return sorted(kept), dropped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=OUT, help=f"output path (default: {OUT})")
    parser.add_argument("--archive", type=Path, help="a names wheel or sdist already downloaded (skips pip)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        archive = args.archive or download_archive(Path(tmp))
        lists = read_lists(archive)
    raw = {list_name: [line.split()[0] for line in lines] for list_name, lines in lists.items()}
    for list_name, entries in raw.items():
        print(f"{list_name}: {len(entries):,} entries")
    everything = [entry for entries in raw.values() for entry in entries]
    names, dropped = clean(everything)
    duplicates = len(everything) - len(dropped) - len(names)
    print(
        f"dropped {len(dropped):,} entries with characters outside a-z"
        + (f": {dropped[:10]}" if dropped else "")
    )
    print(f"dropped {duplicates:,} repeats (a name on more than one list, or twice on one)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(f"{name}\n" for name in names), encoding="ascii", newline="\n")
    back = args.out.read_text(encoding="ascii").splitlines()
    assert back == names, "names.txt did not round-trip"
    print(f"wrote {args.out}: {len(names):,} names, longest {max(map(len, names))} letters")


if __name__ == "__main__":
    main()
