"""The autograd-nn command line: train writes a complete run; user errors are one line, no traceback."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autograd_nn.digits.cli import confusion_matrix, main
from autograd_nn.digits.network import Network
from autograd_nn.training.loop import History
from autograd_nn.training.runs import cost_curve_figure, kept_epoch_to_mark

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "autograd_nn" / "datasets" / "workbooks" / "digits.xlsx"
QUICK = ["--epochs", "3", "--quiet"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """One short training run shared by the evaluate/predict tests."""
    out = tmp_path_factory.mktemp("runs") / "quick"
    assert main(["train", "--out", str(out), *QUICK]) == 0
    return out


def test_train_writes_history_curve_weights_and_summary(trained_run):
    assert sorted(p.name for p in trained_run.iterdir()) == [
        "cost_curve.png",
        "history.csv",
        "summary.json",
        "weights.npz",
    ]
    with open(trained_run / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"epoch", "train_cost", "heldout_cost", "train_accuracy", "heldout_accuracy"}
    assert (trained_run / "cost_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["data"]["examples"] == 1797 and summary["data"]["features"] == 64
    assert summary["network"]["sizes"] == [64, 25, 10]
    assert summary["config"]["epochs"] == 3 and summary["config"]["optimizer"] == "adam"
    assert 0 < summary["final"]["heldout_accuracy"] <= 1
    assert summary["final"]["heldout_accuracy"] == pytest.approx(
        float(rows[-1]["heldout_accuracy"]), abs=1e-6
    )
    assert summary["seconds"] > 0
    assert Network.from_file(trained_run / "weights.npz").sizes == [64, 25, 10]


def test_train_prints_the_held_out_accuracy(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "run"), *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "1797 examples x 64 features" in printed
    assert "held-out accuracy:" in printed and "359 examples" in printed


def test_train_never_overwrites_an_earlier_run_unless_asked(trained_run, capsys):
    before = (trained_run / "weights.npz").read_bytes()
    assert main(["train", "--out", str(trained_run), *QUICK]) == 1
    error = capsys.readouterr().err
    assert "already holds a run" in error and "--overwrite" in error
    assert error.count("\n") == 1
    assert (trained_run / "weights.npz").read_bytes() == before


def test_train_overwrites_when_asked(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *QUICK]) == 0
    assert main(["train", "--out", str(out), "--overwrite", "--epochs", "1", "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["config"]["epochs"] == 1


def test_train_options_reach_the_network(tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        "--out",
        str(out),
        "--hidden",
        "16,8",
        "--optimizer",
        "gd",
        "--batch-size",
        "0",
        "--lambda",
        "1",
    ]
    assert main([*args, "--lr", "1.5", "--seed", "3", "--holdout", "0.25", *QUICK]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["network"]["sizes"] == [64, 16, 8, 10]
    config = summary["config"]
    assert (config["optimizer"], config["batch_size"], config["lam"], config["lr"], config["seed"]) == (
        "gd",
        None,
        1.0,
        1.5,
        3,
    )
    assert summary["data"]["heldout_examples"] == pytest.approx(1797 * 0.25, abs=10)


def test_evaluate_prints_accuracy_and_a_confusion_matrix(trained_run, capsys):
    weights = str(trained_run / "weights.npz")
    assert main(["evaluate", "--weights", weights, "--data", str(BUNDLED), "--split", "all"]) == 0
    printed = capsys.readouterr().out
    assert "all 1797 rows (--split all)" in printed and "of 1797 correct" in printed
    table = printed.splitlines()[-11:]
    assert table[0].split()[0] == "true\\pred"
    counts = np.array([[int(c) for c in line.split()[1:]] for line in table[1:]])
    assert counts.shape == (10, 10) and counts.sum() == 1797


def test_evaluate_defaults_to_the_held_out_rows_and_matches_the_runs_accuracy(trained_run, capsys):
    assert main(["evaluate", "--weights", str(trained_run / "weights.npz")]) == 0
    printed = capsys.readouterr().out
    assert "the 359 held-out rows of the training run (seed 0, holdout 0.2)" in printed
    summary = json.loads((trained_run / "summary.json").read_text())
    correct = round(summary["final"]["heldout_accuracy"] * 359)
    assert f"({correct} of 359 correct)" in printed


def test_confusion_matrix_counts_true_against_predicted():
    counts = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), classes=3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])


def test_predict_writes_one_csv_row_per_example(trained_run, tmp_path):
    out = tmp_path / "predictions.csv"
    weights = str(trained_run / "weights.npz")
    assert main(["predict", "--weights", weights, "--out", str(out), "--split", "all"]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == [
        "row",
        "predicted_label",
        "predicted_digit",
        "score",
        "true_label",
        "true_digit",
        "correct",
    ]
    assert len(frame) == 1797 and list(frame["row"]) == list(range(1, 1798))
    assert frame["predicted_label"].between(1, 10).all()
    assert ((frame["predicted_label"] % 10) == frame["predicted_digit"]).all()
    expected = Network.from_file(trained_run / "weights.npz").predict(
        pd.read_excel(BUNDLED, sheet_name="X", header=None, engine="openpyxl").to_numpy()
    )
    np.testing.assert_array_equal(frame["predicted_label"], expected)
    y = pd.read_excel(BUNDLED, sheet_name="y", header=None, engine="openpyxl")[0].to_numpy()
    np.testing.assert_array_equal(frame["true_label"], y)
    np.testing.assert_array_equal(frame["correct"], expected == y)


def test_predict_refuses_to_overwrite(trained_run, tmp_path, capsys):
    out = tmp_path / "p.csv"
    out.write_text("keep me")
    assert main(["predict", "--weights", str(trained_run / "weights.npz"), "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert "already exists; pass --overwrite" in error and "overwrite=True" not in error
    assert out.read_text() == "keep me"


def test_evaluate_rejects_weights_for_another_input_size(tmp_path, capsys):
    Network([400, 25, 10]).save(tmp_path / "course.npz")
    assert main(["evaluate", "--weights", str(tmp_path / "course.npz")]) == 1
    assert "takes 400 inputs but the data has 64" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--data", "missing.xlsx"], "missing.xlsx: file not found"),
        (["evaluate", "--weights", "missing.npz"], "no such weights file"),
        (["train", "--holdout", "1.5"], "holdout"),
    ],
)
def test_user_errors_are_one_line_on_stderr(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "Traceback" not in error
    assert not (tmp_path / "runs").exists()  # nothing half-made is left behind


def test_a_bad_workbook_exits_non_zero_without_a_traceback_in_a_real_process(tmp_path):
    bad = tmp_path / "bad.xlsx"
    with pd.ExcelWriter(bad) as writer:
        pd.DataFrame([[1, 2], [3, "oops"]]).to_excel(writer, sheet_name="X", header=False, index=False)
        pd.DataFrame([[1], [2]]).to_excel(writer, sheet_name="y", header=False, index=False)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograd_nn.digits.cli",
            "train",
            "--data",
            str(bad),
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "sheet 'X', row 2, column B" in done.stderr and "'oops'" in done.stderr
    assert not (tmp_path / "r" / "weights.npz").exists()


def test_graph_draws_the_network_cost_as_svg_with_layers_and_gradients(tmp_path, dot_program):
    import xml.etree.ElementTree as ElementTree

    out = tmp_path / "net.svg"
    assert main(["graph", "--hidden", "25", "--out", str(out)]) == 0
    svg = out.read_text()
    ElementTree.fromstring(svg)  # well-formed XML
    for text in (
        "theta1",
        "theta2",
        "b1",
        "matmul",
        "sigmoid",
        "bce_with_logits",
        "layer1",
        "layer2",
        "cost",
        "grad: norm",
    ):
        assert text in svg, text
    # z2, a2, z3 were freed after the forward pass; their nodes remember the names the network gave them
    for name in ("z2", "a2", "z3"):
        assert f">{name}<" in svg, name


def test_graph_writes_dot_source_without_graphviz_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "net.dot"
    assert main(["graph", "--format", "dot", "--out", str(out)]) == 0
    assert out.read_text().startswith("digraph")
    assert main(["graph", "--format", "dot", "--out", str(out)]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_the_cost_curve_marks_the_epoch_kept_by_early_stopping():
    history = History(
        epoch=[1, 2, 3, 4, 5],
        train_cost=[3.0, 2.0, 1.5, 1.2, 1.0],
        heldout_cost=[3.1, 2.2, 1.9, 2.0, 2.1],
        train_accuracy=[0.1, 0.3, 0.5, 0.6, 0.7],
        heldout_accuracy=[0.1, 0.3, 0.5, 0.5, 0.5],
    )
    figure = cost_curve_figure(history, "title", kept_epoch=3)
    cost_axis = figure.axes[0]
    marks = [line for line in cost_axis.get_lines() if line.get_label() == "kept: epoch 3"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [3, 3]  # a vertical line at x = 3
    legend = [text.get_text() for text in cost_axis.get_legend().get_texts()]
    assert "kept: epoch 3" in legend
    unmarked = cost_curve_figure(history, "title")
    assert not any(line.get_label().startswith("kept") for line in unmarked.axes[0].get_lines())


def test_early_stopping_keeps_an_epoch_before_the_last(tmp_path):
    out = tmp_path / "run"
    assert (
        main(["train", "--out", str(out), "--patience", "1", "--lr", "0.5", "--epochs", "50", "--quiet"]) == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_early"] and summary["kept_epoch"] < summary["epochs_run"]


def test_kept_epoch_is_marked_only_when_it_is_not_the_last():
    class Result:  # the two attributes kept_epoch_to_mark reads
        def __init__(self, best_epoch, epochs):
            self.best_epoch, self.history = best_epoch, History(epoch=list(range(1, epochs + 1)))

    assert kept_epoch_to_mark(Result(3, 5)) == 3
    assert kept_epoch_to_mark(Result(5, 5)) is None
    assert kept_epoch_to_mark(Result(0, 1)) is None


def test_graph_draws_a_trained_network_as_an_interactive_page_in_a_real_process(tmp_path, dot_program):
    weights = Network([64, 12, 10], seed=3).save(tmp_path / "weights.npz")
    out = tmp_path / "trained.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograd_nn",
            "graph",
            "--weights",
            str(weights),
            "--batch",
            "50",
            "--format",
            "html",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "cost of the trained 64-12-10 network (weights.npz) on 50 digits" in page
    data = json.loads(re.search(r'id="graph-data">(.*?)</script>', page, re.S).group(1))
    theta1 = next(node for node in data["nodes"].values() if node["title"] == "layer1/theta1 (parameter)")
    assert "shape (12, 64), float64" in theta1["details"]
    assert any(line.startswith(".grad norm") for line in theta1["details"])  # the cost's gradient
    assert len(data["steps"]) == 9  # every VJP of the 64-12-10 cost, to step through


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--hidden", "7"], "--hidden (7,) does not match --weights"),
        (["--batch", "0"], "argument --batch: expected a whole number >= 1"),
    ],
)
def test_graph_with_weights_refuses_what_does_not_fit(extra, message, tmp_path, capsys):
    weights = Network([64, 12, 10], seed=3).save(tmp_path / "weights.npz")
    out = tmp_path / "g.dot"
    assert main(["graph", "--weights", str(weights), "--out", str(out), *extra]) == 1
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not out.exists()


def test_graph_refuses_weights_for_other_data(tmp_path, capsys):
    weights = Network([400, 25, 10], seed=3).save(tmp_path / "weights.npz")
    assert main(["graph", "--weights", str(weights), "--out", str(tmp_path / "g.dot")]) == 1
    assert "maps 400 inputs to 10 labels, but the bundled digits have 64 columns" in capsys.readouterr().err
