"""examples/tutorial.ipynb runs from a clean kernel (nbclient + ipykernel) without an error, and is
stored with the outputs it gives, so it reads on any notebook viewer.

Skipped when nbclient is missing, unless ``AUTOGRAD_NN_REQUIRE_NOTEBOOK=1`` (set in CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from docs_pages import all_text, command

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "tutorial.ipynb"


def notebook_tools():
    try:
        import nbclient
        import nbformat
    except ImportError:
        message = "nbclient and nbformat are not installed (pip install -e '.[notebook]')"
        if os.environ.get("AUTOGRAD_NN_REQUIRE_NOTEBOOK") == "1":
            pytest.fail(f"{message}, and AUTOGRAD_NN_REQUIRE_NOTEBOOK=1 requires it")
        pytest.skip(message)
    return nbclient, nbformat


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_the_tutorial_notebook_runs_from_a_clean_kernel(tmp_path):
    nbclient, nbformat = notebook_tools()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    outputs = [output for cell in code_cells(notebook) for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "held-out accuracy" in text
    assert "first held-out digits: [0 4 8 2 7 0 0 0] -> the course's labels [10  4  8  2  7 10 10 10]" in text
    # section 11: the tutorial's NumPy backprop with three mistakes, checked with check_value_and_grad
    assert "First mismatch: theta1 (sign: yours = -1 × autodiff)." in text
    assert "Also wrong: b1 (mismatch: yours is all zeros: a gradient never computed?)." in text
    assert "First mismatch: theta2 (mismatch: largest difference at" in text
    assert text.rstrip().endswith("All 4 gradients agree with autodiff.")
    reports = [o.data for o in outputs if "text/html" in o.get("data", {})]
    assert len(reports) == 2  # the hand-derived backprop's gradient report, then the one with a sign mistake
    right, mistaken = reports
    assert right["text/plain"] == (
        "<GradientReport ok=True [z3: ok, b2: ok, theta2: ok, z2: ok, b1: ok, theta1: ok]>"
    )
    assert (
        right["text/html"].count('class="verdict-ok"') == 6 and "All 6 gradients agree" in right["text/html"]
    )
    assert mistaken["text/plain"].startswith("<GradientReport ok=False [z3: sign, b2: sign")
    assert "First mismatch: z3 (sign" in mistaken["text/html"]
    svgs = [o.data["image/svg+xml"] for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) == 2  # the drawing with the report, and the collapsed drawing, inline
    compared, collapsed = svgs
    assert compared.count('fill="#b9eeb0"') == 6  # the six compared tensors, green
    assert compared.count("ok, rel. err") == 6 and "first mismatch" not in compared
    assert collapsed.count("(collapsed)") == 3  # layer1, layer2, cost
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the cost curve
    page = (tmp_path / "tutorial_graph.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count('"status":"ok"') == 6  # coloured on the page too


def test_the_stored_notebook_holds_the_outputs_of_every_code_cell():
    _, nbformat = notebook_tools()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    assert cells[0].source.startswith("%matplotlib inline")  # figures inline, whatever MPLBACKEND says
    assert cells and all(cell.outputs for cell in cells[1:])  # every cell after the imports shows something
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))  # run in order, once
    assert not [o for cell in cells for o in cell.outputs if o.output_type == "error"]


def test_the_notebook_loads_its_data_with_load_digits_and_no_path():
    """A path built from the package folder (or relative to the clone) breaks after a non-editable install."""
    _, nbformat = notebook_tools()
    source = "\n".join(cell.source for cell in code_cells(nbformat.read(NOTEBOOK, as_version=4)))
    assert "digits = load_digits()" in source
    for path_making in ("__file__", "Path(", "digits.xlsx", "load_dataset("):
        assert path_making not in source


# ---------------------------------------------------------------- the documented commands for the notebook


def extras() -> dict[str, list[str]]:
    """pyproject.toml's optional dependencies: extra -> its requirements."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def installed_by(extra: str) -> set[str]:
    """The distributions an extra installs, following ``autograd-nn[other]`` references."""
    names: set[str] = set()
    for requirement in extras()[extra]:
        name, _, rest = re.match(r"([A-Za-z0-9_.-]+)(\[([\w,-]+)\])?", requirement).groups()
        if name == "autograd-nn":
            for other in rest.split(","):
                names |= installed_by(other)
        else:
            names.add(name.lower())
    return names


def extras_in(command: str) -> list[str]:
    return [
        e for group in re.findall(r"pip install -e \"\.\[([\w,-]+)\]\"", command) for e in group.split(",")
    ]


def test_every_extra_the_docs_install_exists_in_pyproject():
    named = extras_in(all_text())
    assert {"test", "browser", "notebook", "onnx", "jupyter", "docs"} <= set(named)
    assert set(named) <= set(extras()), set(named) - set(extras())


def test_the_docs_say_how_to_open_the_notebook_and_how_to_run_it():
    opening = command("open the notebook")
    assert opening.endswith("jupyter lab examples/tutorial.ipynb")
    assert "jupyterlab" in set().union(*(installed_by(e) for e in extras_in(opening)))
    running = command("run the notebook")
    assert "jupyter nbconvert --to notebook --execute examples/tutorial.ipynb" in running
    needs = {"nbconvert", "nbclient", "nbformat", "ipykernel"}
    assert needs <= set().union(*(installed_by(e) for e in extras_in(running)))
    test_command = command("test")
    assert "notebook" in extras_in(test_command) and "jupyter" not in extras_in(
        test_command
    )  # CI: no JupyterLab


def test_the_docs_nbconvert_command_runs_the_notebook(tmp_path):
    """The documented command, as written, on a copy of the notebook (so the clone gets no new files)."""
    notebook_tools()
    _, _, nbconvert = command("run the notebook").partition(" && ")
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "jupyter-nbconvert").exists():
        message = "nbconvert is not installed (pip install -e '.[notebook]')"
        if os.environ.get("AUTOGRAD_NN_REQUIRE_NOTEBOOK") == "1":
            pytest.fail(f"{message}, and AUTOGRAD_NN_REQUIRE_NOTEBOOK=1 requires it")
        pytest.skip(message)
    (tmp_path / "examples").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "examples" / "tutorial.ipynb")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        shlex.split(nbconvert), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    _, nbformat = notebook_tools()
    executed = nbformat.read(tmp_path / "examples" / "tutorial-run.ipynb", as_version=4)
    outputs = [output for cell in code_cells(executed) for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert "held-out accuracy" in "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert (tmp_path / "examples" / "tutorial_graph.html").is_file()  # saved beside the notebook
