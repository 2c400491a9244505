"""Reading the documentation as the tests check it: README.md and the pages of docs/.

A block is found by the HTML comment on the line before its fence: ``<!-- example: NAME -->`` names a
Python block other tests run, ``<!-- command: NAME -->`` a shell command, ``<!-- not run: REASON -->``
marks a Python block that is a fragment, and ``<!-- needs: dot -->`` one that renders with Graphviz.
``run_as_reader`` runs Python as a reader would, in a fresh interpreter from an empty folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)
MARKER = re.compile(r"<!-- (example|command|not run|needs): (.*?) -->")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, its code and the markers just above it."""

    page: Path
    line: int
    language: str
    code: str
    markers: dict[str, str]

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    """README.md and every Markdown page of the site, API reference included."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def page(name: str) -> str:
    """The text of ``README.md`` or of ``docs/NAME``."""
    return (README if name == "README.md" else DOCS / name).read_text(encoding="utf-8")


def all_text() -> str:
    """Every page, one after another: for claims that must appear somewhere in the documentation."""
    return "\n".join(path.read_text(encoding="utf-8") for path in pages())


def blocks(path: Path) -> list[Block]:
    """The page's fenced code blocks in order, each with the markers on the lines right above it."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        above = text[: match.start()].rstrip("\n").splitlines()
        markers = {}
        while above and MARKER.fullmatch(above[-1].strip()):
            kind, value = MARKER.fullmatch(above.pop().strip()).groups()
            markers[kind] = value
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(path, line, match.group(1), match.group(2), markers))
    return found


def marked(kind: str, name: str) -> Block:
    """The one block marked ``<!-- KIND: NAME -->`` in README.md or docs/."""
    found = [block for path in pages() for block in blocks(path) if block.markers.get(kind) == name]
    assert len(found) == 1, (
        f"README.md and docs/ must hold one block after '<!-- {kind}: {name} -->', found {len(found)}"
    )
    return found[0]


def example(name: str) -> str:
    """The Python block after ``<!-- example: NAME -->``."""
    block = marked("example", name)
    assert block.language == "python", f"{block.where}: the example {name!r} must be a python block"
    return block.code


def command(name: str) -> str:
    """The shell command after ``<!-- command: NAME -->`` (one line)."""
    return marked("command", name).code.strip()


def section(name: str, heading: str) -> str:
    """A page's section: from the heading line (``## Title``) up to the next heading of its level or above."""
    text = page(name)
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(f"\n{heading}\n") + 1
    following = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, start + len(heading))
    return text[start : following.start() if following else len(text)]


def code_blocks(text: str, language: str = "python") -> list[str]:
    """The code of the fenced blocks of ``language`` in a piece of Markdown, in order."""
    return [code for lang, code in FENCE.findall(text) if lang == language]


def run_as_reader(
    program: str, tmp_path: Path, stdin: str | None = None
) -> tuple[subprocess.CompletedProcess, Path]:
    """``python -c program`` in a fresh interpreter, from the empty folder ``tmp_path/reader`` (files it
    writes land there), with the repository importable, a cache of its own and matplotlib drawing offscreen.
    Returns the finished process and the folder."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AUTOGRAD_NN_CACHE_DIR": str(tmp_path / "cache"),
        "MPLBACKEND": "Agg",
    }
    folder = tmp_path / "reader"
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=stdin,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, folder
