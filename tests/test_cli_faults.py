"""Every fault a user can meet on the command line, driven through the real ``autograd-nn`` console
script in a subprocess: exit status 1 (130 for Ctrl-C), one line on stderr, no traceback, and nothing
already on disk changed; a training run is never lost."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import autograd_nn
from autograd_nn.digits.cli import main
from autograd_nn.digits.network import Network

CLI = Path(sys.executable).with_name("autograd-nn")  # the console script pip installed next to python
ENV = {**os.environ, "MPLBACKEND": "Agg"}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=ENV, timeout=300
    )


def run_here(capsys, *args: str) -> subprocess.CompletedProcess:
    """The same command run in this process (quicker), for what works rather than what fails."""
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, captured.out, captured.err)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``folder`` with its bytes, to check that a failed command changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def assert_one_line_error(done: subprocess.CompletedProcess, *expected: str, status: int = 1) -> str:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """A folder with x.csv (120 examples x 8 features) and y.csv (labels 1-10): quick to train on."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    y = np.arange(120) % 10 + 1
    X = rng.integers(0, 17, size=(120, 8)) + y[:, None]  # learnable, a little
    np.savetxt(folder / "x.csv", X, fmt="%d", delimiter=",")
    np.savetxt(folder / "y.csv", y, fmt="%d")
    return folder


@pytest.fixture(scope="module")
def small_run(small_data, tmp_path_factory) -> Path:
    """weights.npz of a short run on small_data (held-out split 0.25, seed 2)."""
    out = tmp_path_factory.mktemp("run") / "run"
    data = ["--data", small_data / "x.csv", "--y-csv", small_data / "y.csv"]
    done = run_cli(
        "train", *data, "--epochs", "2", "--holdout", "0.25", "--seed", "2", "--out", out, cwd=out.parent
    )
    assert done.returncode == 0, done.stderr
    return out / "weights.npz"


def small(folder: Path) -> list:
    return ["--data", folder / "x.csv", "--y-csv", folder / "y.csv"]


# ------------------------------------------------------------------------------ options and version
def test_version_prints_the_package_version(tmp_path):
    done = run_cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"autograd-nn {autograd_nn.__version__}"


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--seed", "-1"], "--seed"),
        (["--batch-size", "-1"], "--batch-size"),
        (["--epochs", "0"], "--epochs"),
        (["--holdout", "1"], "--holdout"),
        (["--lr", "0"], "--lr"),
        (["--lambda", "-0.5"], "--lambda"),
        (["--patience", "0"], "--patience"),
    ],
)
def test_bad_option_values_are_refused_naming_the_option_before_any_data_loads(args, expected, tmp_path):
    # --data names a missing file: the option must be refused first, and nothing created
    done = run_cli("train", "--data", "missing.xlsx", *args, cwd=tmp_path)
    line = assert_one_line_error(done, expected)
    assert "missing.xlsx" not in line
    assert snapshot(tmp_path) == {}


def test_messages_name_the_commands_options_not_python_arguments(small_data, tmp_path):
    csv_without_labels = run_cli("train", "--data", small_data / "x.csv", cwd=tmp_path)
    assert_one_line_error(csv_without_labels, "--y-csv")
    workbook_with_csv_labels = run_cli(
        "evaluate", "--weights", "w.npz", "--y-csv", small_data / "y.csv", cwd=tmp_path
    )
    assert "--y-csv is only for CSV data" in assert_one_line_error(workbook_with_csv_labels)
    for done in (csv_without_labels, workbook_with_csv_labels):
        assert "y_path" not in done.stderr and "=True" not in done.stderr
    assert snapshot(tmp_path) == {}


def test_an_earlier_run_is_kept_and_the_message_names_overwrite(small_run, small_data):
    folder = small_run.parent
    before = snapshot(folder)
    done = run_cli("train", *small(small_data), "--epochs", "1", "--out", folder, cwd=folder.parent)
    line = assert_one_line_error(done, "already holds a run", "--overwrite")
    assert "overwrite=True" not in line
    assert snapshot(folder) == before


# ------------------------------------------------------------------------------ folders that cannot be written
def test_train_checks_the_output_folder_before_loading_data(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    before = snapshot(tmp_path)
    # the data is missing too: the folder is checked first, so that is the fault reported
    done = run_cli("train", "--data", "missing.xlsx", "--out", tmp_path / "afile" / "run", cwd=tmp_path)
    assert_one_line_error(done, "afile", "cannot write files there")
    assert snapshot(tmp_path) == before


def test_train_checks_the_default_runs_folder_too(tmp_path):
    (tmp_path / "runs").write_text("a file where the runs folder would go")
    before = snapshot(tmp_path)
    assert_one_line_error(run_cli("train", "--epochs", "1", cwd=tmp_path), "runs")
    assert snapshot(tmp_path) == before


def test_a_missing_data_file_leaves_no_run_folder_behind(tmp_path):
    done = run_cli("train", "--data", "missing.xlsx", cwd=tmp_path)
    assert_one_line_error(done, "missing.xlsx: file not found")
    assert snapshot(tmp_path) == {}  # the writability probe removed the folders it made


@pytest.mark.parametrize("command", ["predict", "graph"])
def test_predict_and_graph_refuse_an_unwritable_out_before_working(command, small_run, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    before = snapshot(tmp_path)
    args = ["predict", "--weights", small_run] if command == "predict" else ["graph", "--format", "dot"]
    name = "out.csv" if command == "predict" else "out.dot"
    done = run_cli(*args, "--out", tmp_path / "afile" / name, cwd=tmp_path)
    assert_one_line_error(done, "afile", "cannot write files there")
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------ weights files
def damaged_copies(weights: Path, folder: Path) -> dict[str, Path]:
    data = weights.read_bytes()
    with zipfile.ZipFile(weights) as archive:
        entry = archive.getinfo("theta1.npy")
    name_length, extra_length = struct.unpack(
        "<HH", data[entry.header_offset + 26 : entry.header_offset + 30]
    )
    last_byte = entry.header_offset + 30 + name_length + extra_length + entry.compress_size - 1
    flipped = bytearray(data)
    flipped[last_byte] ^= 0x01  # one bit of theta1's last value: np.load alone would not notice
    copies = {"empty.npz": b"", "truncated.npz": data[: len(data) // 2], "flipped.npz": bytes(flipped)}
    for name, content in copies.items():
        (folder / name).write_bytes(content)
    return {name: folder / name for name in copies}


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_damaged_weights_files_are_one_line(command, small_run, small_data, tmp_path):
    for name, path in damaged_copies(small_run, tmp_path).items():
        before = snapshot(tmp_path)
        done = run_cli(command, "--weights", path, *small(small_data), cwd=tmp_path)
        assert_one_line_error(done, f"{name}: not a readable weights file (")
        assert snapshot(tmp_path) == before


def test_weights_holding_nan_are_refused(small_run, small_data, tmp_path):
    with np.load(small_run) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["theta2"][0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    for command in ("evaluate", "predict"):
        done = run_cli(command, "--weights", tmp_path / "nan.npz", *small(small_data), cwd=tmp_path)
        assert_one_line_error(done, "nan.npz: theta2 holds 1 NaN or infinite value")


# ------------------------------------------------------------------------------ memory
@pytest.mark.parametrize("command", ["train", "graph"])
def test_a_network_too_large_for_memory_is_refused_with_its_size(command, tmp_path):
    done = run_cli(command, "--hidden", "100000000", "--out", tmp_path / "out.dot", cwd=tmp_path)
    line = assert_one_line_error(done, "--hidden 100000000", "would need about", "choose smaller --hidden")
    assert " TB" in line or " GB" in line
    assert snapshot(tmp_path) == {}


# ------------------------------------------------------------------------------ runs that go wrong
def start_training(small_data: Path, out: Path, cwd: Path, epochs: int = 1_000_000) -> subprocess.Popen:
    """A long run on small data; returns once its first epoch has finished (its progress line shows)."""
    process = subprocess.Popen(
        [str(CLI), "train", *map(str, small(small_data)), "--epochs", str(epochs), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=ENV,
    )
    for line in process.stdout:
        if line.startswith("epoch 1/"):
            return process
    process.kill()
    raise AssertionError(f"training never finished an epoch: {process.stderr.read()}")


def test_ctrl_c_during_training_saves_the_run_so_far_and_says_where(small_data, tmp_path):
    out = tmp_path / "run"
    process = start_training(small_data, out, tmp_path)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    done = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)
    assert_one_line_error(done, "interrupted", f"saved the run so far to {out}/", status=130)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["stop_reason"] == "interrupted"
    with open(out / "history.csv") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == list(range(1, len(epochs) + 1)) and epochs
    assert 1 <= summary["kept_epoch"] <= epochs[-1] and summary["epochs_run"] == len(epochs)
    assert np.all(np.isfinite(next(Network.from_file(out / "weights.npz").parameters()).data))


def test_a_run_that_cannot_be_written_after_training_is_saved_elsewhere(small_data, tmp_path):
    out = tmp_path / "parent" / "run"
    process = start_training(small_data, out, tmp_path)  # the folder was checked writable, then removed again
    (tmp_path / "parent").write_text("now a file stands where the run folder's parent was")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    done = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)
    line = assert_one_line_error(done, f"could not write the run to {out}", "saved to", status=130)
    fallback = Path(line.split("saved to ")[1].split("/ instead")[0])
    try:
        assert sorted(p.name for p in fallback.iterdir()) == [
            "cost_curve.png",
            "history.csv",
            "summary.json",
            "weights.npz",
        ]
        assert json.loads((fallback / "summary.json").read_text())["interrupted"] is True
    finally:
        shutil.rmtree(fallback)


def test_a_finished_run_that_cannot_be_written_is_saved_elsewhere(small_data, tmp_path):
    out = tmp_path / "parent" / "run"
    process = start_training(small_data, out, tmp_path, epochs=3000)  # runs on for a few seconds
    (tmp_path / "parent").write_text("now a file stands where the run folder's parent was")
    stdout, stderr = process.communicate(timeout=300)
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    line = assert_one_line_error(done, f"could not write the run to {out}", "saved to")
    assert "epoch 3000/3000" in stdout and "held-out accuracy" in stdout  # the results were shown
    fallback = Path(line.split("saved to ")[1].split("/ instead")[0])
    try:
        summary = json.loads((fallback / "summary.json").read_text())
        assert summary["epochs_run"] == 3000 and summary["interrupted"] is False
        Network.from_file(fallback / "weights.npz")
    finally:
        shutil.rmtree(fallback)


def test_divergence_warns_while_it_happens(small_data, tmp_path):
    done = run_cli(
        "train", *small(small_data), "--lr", "1e6", "--epochs", "3", "--out", tmp_path / "r", cwd=tmp_path
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr
    warnings = done.stderr.splitlines()
    assert warnings and all(line.startswith("autograd-nn train: warning: epoch ") for line in warnings)
    assert "diverging" in warnings[0] and "try a smaller --lr (now 1e+06)" in warnings[0]


def test_a_cost_that_turns_nan_stops_the_run_naming_the_epoch(small_data, tmp_path):
    out = tmp_path / "r"
    done = run_cli(
        "train", *small(small_data), "--optimizer", "gd", "--lr", "1e300", "--out", out, cwd=tmp_path
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert all("warning:" in line for line in lines[:-1])  # NumPy's overflow warnings are not shown
    assert "error: the train cost became nan at epoch 1; try a smaller --lr (now 1e+300)" in lines[-1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["diverged"] is True and summary["kept_epoch"] == 0 and summary["epochs_run"] == 1
    Network.from_file(out / "weights.npz")  # the initial weights, finite


# ------------------------------------------------------------------------------ splits and predictions
def test_evaluate_scores_the_held_out_rows_of_the_run_by_default(small_run, small_data, tmp_path, capsys):
    done = run_here(capsys, "evaluate", "--weights", small_run, *small(small_data))
    assert done.returncode == 0, done.stderr
    assert "the 30 held-out rows of the training run (seed 2, holdout 0.25)" in done.stdout
    assert "of 30 correct" in done.stdout
    every = run_here(capsys, "evaluate", "--weights", small_run, *small(small_data), "--split", "all")
    assert "of 120 correct" in every.stdout
    train = run_here(capsys, "evaluate", "--weights", small_run, *small(small_data), "--split", "train")
    assert "of 90 correct" in train.stdout


def test_evaluate_on_other_data_scores_every_row_and_says_why(small_run, small_data, tmp_path, capsys):
    X = np.loadtxt(small_data / "x.csv", delimiter=",")
    X[5, 3] += 1
    np.savetxt(tmp_path / "x.csv", X, fmt="%d", delimiter=",")
    shutil.copy(small_data / "y.csv", tmp_path / "y.csv")
    done = run_here(capsys, "evaluate", "--weights", small_run, *small(tmp_path))
    assert "all 120 rows, since these weights were trained on other data" in done.stdout
    refused = run_cli(
        "evaluate", "--weights", small_run, *small(tmp_path), "--split", "heldout", cwd=tmp_path
    )
    assert_one_line_error(refused, "--split heldout: these weights were trained on other data", "--split all")


def test_weights_from_before_splits_were_recorded_still_load(small_run, small_data, tmp_path, capsys):
    with np.load(small_run) as stored:
        np.savez(tmp_path / "old.npz", **{k: stored[k] for k in stored.files if not k.startswith("split_")})
    done = run_here(capsys, "evaluate", "--weights", tmp_path / "old.npz", *small(small_data))
    assert (
        done.returncode == 0
        and "all 120 rows, since the weights file does not record its training split" in done.stdout
    )


def test_predict_names_its_columns_and_adds_the_truth_when_labels_are_known(
    small_run, small_data, tmp_path, capsys
):
    done = run_here(
        capsys,
        "predict",
        "--weights",
        small_run,
        *small(small_data),
        "--out",
        tmp_path / "p.csv",
    )
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "p.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "row",
        "predicted_label",
        "predicted_digit",
        "score",
        "true_label",
        "true_digit",
        "correct",
    ]
    assert len(rows) == 30  # the held-out rows, in file order
    numbers = [int(r["row"]) for r in rows]
    assert numbers == sorted(numbers)
    y = np.loadtxt(small_data / "y.csv", dtype=int)
    for r in rows:
        assert int(r["true_label"]) == y[int(r["row"]) - 1]
        assert int(r["true_digit"]) == int(r["true_label"]) % 10
        assert r["correct"] == str(r["predicted_label"] == r["true_label"])
    unlabelled = run_here(capsys, "predict", "--weights", small_run, "--data", small_data / "x.csv")
    assert unlabelled.stdout.splitlines()[0] == "row,predicted_label,predicted_digit,score"
    assert len(unlabelled.stdout.splitlines()) == 121 and "all 120 rows" in unlabelled.stderr


def test_holdout_zero_says_there_is_no_held_out_split(small_data, tmp_path, capsys):
    out = tmp_path / "r"
    done = run_here(capsys, "train", *small(small_data), "--holdout", "0", "--epochs", "1", "--out", out)
    assert done.returncode == 0 and "nan" not in done.stdout
    assert "no held-out split (--holdout 0)" in done.stdout
    evaluate = run_here(capsys, "evaluate", "--weights", out / "weights.npz", *small(small_data))
    assert "all 120 rows, since the training run held nothing out (--holdout 0)" in evaluate.stdout
    refused = run_cli(
        "evaluate", "--weights", out / "weights.npz", *small(small_data), "--split", "heldout", cwd=tmp_path
    )
    assert_one_line_error(refused, "--split heldout: the training run held nothing out")


# ------------------------------------------------------------------------------ graph formats
def test_graph_refuses_a_format_that_contradicts_the_suffix(tmp_path):
    done = run_cli("graph", "--out", tmp_path / "g.png", "--format", "svg", cwd=tmp_path)
    assert_one_line_error(done, "g.png ends in .png but --format is svg")
    assert snapshot(tmp_path) == {}
    unknown = run_cli("graph", "--out", tmp_path / "g.jpeg", cwd=tmp_path)
    assert_one_line_error(unknown, "unknown format .jpeg")


def test_graph_takes_the_format_from_the_suffix(tmp_path, capsys):
    done = run_here(capsys, "graph", "--out", tmp_path / "g.dot")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


# ------------------------------------------------------------------------------ the bundled data
def test_the_bundled_workbook_is_found_from_any_folder(tmp_path):
    done = run_cli("train", "--epochs", "1", "--quiet", "--out", "r", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1797 examples x 64 features" in done.stdout
    assert (tmp_path / "r" / "weights.npz").is_file()


def test_running_out_of_memory_anyway_is_one_line(tmp_path):
    """Past the up-front estimate (the machine reports enough memory, but this process may use only
    1.5 GB), an allocation that fails is still one line."""
    import resource

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))

    done = subprocess.run(
        [str(CLI), "train", "--hidden", "200000", "--epochs", "1", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=ENV,
        timeout=300,
        preexec_fn=limit_memory,
    )
    assert_one_line_error(done, "memory", "--hidden")
    assert snapshot(tmp_path) == {}
