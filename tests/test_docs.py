"""The documentation is a specification: the site builds in strict mode, every Python block of README.md
and docs/ runs as written, every relative link resolves, and every public name is in the API reference."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from docs_pages import DOCS, README, ROOT, blocks, pages, run_as_reader

# The modules whose public names (their __all__) must each have an entry in the API reference.
DOCUMENTED_MODULES = [
    "autograd_nn",
    "autograd_nn.nn",
    "autograd_nn.optim",
    "autograd_nn.optim.lr_scheduler",
    "autograd_nn.functional",
    "autograd_nn.checking",
    "autograd_nn.testing",
    "autograd_nn.training",
    "autograd_nn.viz",
    "autograd_nn.export",
    "autograd_nn.datasets",
]

# Runs a page's Python blocks one after another in one namespace, as a reader pastes them into one session.
RUN_BLOCKS = """
import json, sys
namespace = {"__name__": "__main__"}
for where, code in json.load(sys.stdin):
    exec(compile(code, where, "exec"), namespace)
"""


def required(variable: str, message: str) -> None:
    """Skip for want of a tool, unless CI's AUTOGRAD_NN_REQUIRE_* variable makes that a failure."""
    if os.environ.get(variable) == "1":
        pytest.fail(f"{message}, and {variable}=1 requires it")
    pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built by `mkdocs build --strict` into a temporary folder."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        required("AUTOGRAD_NN_REQUIRE_DOCS", "MkDocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_site_builds_in_strict_mode_with_every_page_in_it(site):
    for source in DOCS.rglob("*.md"):
        page = source.relative_to(DOCS).with_suffix("")
        folder = page.parent if page.name == "index" else page  # MkDocs' directory URLs: engine.md -> engine/
        assert (site / folder / "index.html").is_file(), f"docs/{page}.md was not built"


def test_every_public_name_is_in_the_api_reference(site):
    ids = set()
    for html in (site / "api").rglob("*.html"):
        ids |= set(re.findall(r'id="(autograd_nn[\w.]*)"', html.read_text(encoding="utf-8")))
    missing = []
    for module in DOCUMENTED_MODULES:
        for name in importlib.import_module(module).__all__:
            obj = getattr(importlib.import_module(module), name)
            defined_as = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            if f"{module}.{name}" not in ids and defined_as not in ids:  # listed here, or where it is defined
                missing.append(f"{module}.{name}")
    assert not missing, f"public names without an entry in the API reference: {missing}"


# ------------------------------------------------------------------------------------ the Python blocks


def python_blocks(path: Path):
    return [block for block in blocks(path) if block.language == "python"]


PAGES_WITH_CODE = [path for path in pages() if python_blocks(path)]


def test_every_python_block_is_run_or_says_why_not():
    for path in pages():
        for block in blocks(path):
            if block.language in ("py", "python3", "pycon"):
                pytest.fail(f"{block.where}: write ```python, so the block is run")
            reason = block.markers.get("not run")
            if reason is not None:
                assert block.language == "python" and len(reason.split()) >= 3, (
                    f"{block.where}: 'not run' needs a reason"
                )


@pytest.mark.parametrize("path", PAGES_WITH_CODE, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_python_blocks_of_each_page_run_as_written(path, tmp_path):
    """A page's blocks in order, in one fresh interpreter, from an empty folder (files they write land there)."""
    runnable = [block for block in python_blocks(path) if "not run" not in block.markers]
    if any(block.markers.get("needs") == "dot" for block in runnable) and not shutil.which("dot"):
        if os.environ.get("AUTOGRAD_NN_REQUIRE_DOT") == "1":
            pytest.fail("Graphviz's dot is not installed, and AUTOGRAD_NN_REQUIRE_DOT=1 requires it")
        runnable = [block for block in runnable if block.markers.get("needs") != "dot"]
    assert all(block.markers.get("needs", "dot") == "dot" for block in runnable), "unknown 'needs:' marker"
    code = json.dumps([[block.where, block.code] for block in runnable])  # RUN_BLOCKS reads it from stdin
    done, _ = run_as_reader(RUN_BLOCKS, tmp_path, stdin=code)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------------------------------------ links

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def heading_anchors(path: Path) -> set[str]:
    """The anchors of a page's headings, as GitHub and MkDocs both make them."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    anchors = set()
    for title in re.findall(r"^#+ (.*)$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("path", pages(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    text = re.sub(r"`[^`\n]*`", "", text)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked):
            broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{path.relative_to(ROOT)}: broken links: {broken}"


def test_the_readme_links_into_every_page_of_the_site():
    linked = set(LINK.findall(README.read_text(encoding="utf-8")))
    topics = [path for path in DOCS.glob("*.md")]
    missing = [
        path.name for path in topics if f"docs/{path.name}" not in {t.partition("#")[0] for t in linked}
    ]
    assert not missing, f"README.md does not link to {missing}"
