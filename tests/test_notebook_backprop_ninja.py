"""examples/backprop_ninja.ipynb runs from a clean kernel (nbclient + ipykernel) without an error, every
hand-derived gradient in it agrees with autodiff, each planted mistake gets the verdict it should, and the
notebook is stored with the outputs it gives.

Skipped when nbclient is missing, unless ``AUTOGRAD_NN_REQUIRE_NOTEBOOK=1`` (set in CI) makes that a failure.
"""

from __future__ import annotations

from pathlib import Path

from test_notebook import code_cells, notebook_tools

NINJA = Path(__file__).resolve().parent.parent / "examples" / "backprop_ninja.ipynb"


NINJA_ROWS = [
    "logprobs",
    "probs",
    "counts_sum_inv",
    "counts_sum",
    "counts",
    "norm_logits",
    "logit_maxes",
    "logits",
    "b2",
    "W2",
    "h",
    "hpreact",
    "bnbias",
    "bngain",
    "bnraw",
    "bnvar_inv",
    "bnvar",
    "bndiff2",
    "bndiff",
    "bnmeani",
    "hprebn",
    "b1",
    "W1",
    "embcat",
    "emb",
    "C",
]


def test_the_backprop_ninja_notebook_checks_every_hand_derived_gradient_and_names_each_planted_mistake(
    tmp_path,
):
    nbclient, nbformat = notebook_tools()
    notebook = nbformat.read(NINJA, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [output for cell in code_cells(notebook) for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    reports = [
        o.data["text/plain"] for o in outputs if "GradientReport" in o.get("data", {}).get("text/plain", "")
    ]
    assert len(reports) == 7  # op by op, the shortcuts (in the graph, then alone), the three planted mistakes
    by_hand, shortcuts, cross_entropy, batchnorm, bessel, bias, sign = reports
    assert by_hand == "<GradientReport ok=True [" + ", ".join(f"{row}: ok" for row in NINJA_ROWS) + "]>"
    assert shortcuts == "<GradientReport ok=True [logits: ok, hprebn: ok]>"
    assert cross_entropy == "<GradientReport ok=True [logits: ok]>"  # check_value_and_grad
    assert batchnorm == "<GradientReport ok=True [x: ok, gamma: ok, beta: ok]>"  # check_backward
    html = [
        o.data["text/html"] for o in outputs if "GradientReport" in o.get("data", {}).get("text/plain", "")
    ]
    assert html[2].count(">autodiff<") == 1 and html[3].count(">autodiff<") == 3  # the reference: autodiff

    def verdicts(report: str) -> dict[str, str]:
        inside = report[report.index("[") + 1 : report.rindex("]")]
        return dict(item.split(": ") for item in inside.split(", "))

    # each mistake: the first row that is not ok, and its verdict
    for report, first, verdict in (
        (bessel, "bndiff2", "scale"),
        (bias, "b2", "shape"),
        (sign, "hpreact", "sign"),
    ):
        assert report.startswith("<GradientReport ok=False")
        rows = verdicts(report)
        assert list(rows) == NINJA_ROWS
        first_wrong = next(name for name, v in rows.items() if v != "ok")
        assert (first_wrong, rows[first_wrong]) == (first, verdict)
    assert [v for v in verdicts(bias).values() if v != "ok"] == ["shape"]  # nothing is computed from db2
    text = "".join(o.data.get("text/plain", "") for o in outputs if "data" in o)
    assert "0.9688 (= (m-1)/m) × autodiff: a Bessel correction on one side only" in text  # 31/32, named
    svgs = [o.data["image/svg+xml"] for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) == 1 and "hpreact" in svgs[0]


def test_the_stored_backprop_ninja_notebook_holds_its_outputs():
    _, nbformat = notebook_tools()
    notebook = nbformat.read(NINJA, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    assert cells[0].source.startswith("%matplotlib inline")
    assert all(cell.outputs for cell in cells[1:])
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    assert not [o for cell in cells for o in cell.outputs if o.output_type == "error"]
