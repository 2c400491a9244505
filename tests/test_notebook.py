"""examples/tutorial.ipynb runs from a clean kernel (nbclient + ipykernel) without an error, and is
stored with the outputs it gives, so it reads on any notebook viewer.

Skipped when nbclient is missing, unless ``AUTOGRAD_NN_REQUIRE_NOTEBOOK=1`` (set in CI) makes that a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "tutorial.ipynb"


def _notebook_tools():
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
    nbclient, nbformat = _notebook_tools()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    outputs = [output for cell in code_cells(notebook) for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "held-out accuracy" in text
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
    _, nbformat = _notebook_tools()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    assert cells[0].source.startswith("%matplotlib inline")  # figures inline, whatever MPLBACKEND says
    assert cells and all(cell.outputs for cell in cells[1:])  # every cell after the imports shows something
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))  # run in order, once
    assert not [o for cell in cells for o in cell.outputs if o.output_type == "error"]
