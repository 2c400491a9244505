"""A training run's output folder: cost history CSV, cost curve PNG, weights, JSON summary.

Every file is written to a temporary name in the same folder and then renamed, so a reader never
sees half a file; an existing run folder is never written into unless the caller says so.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..files import check_writable_folder, write_atomically
from .loop import History, TrainResult

HISTORY_FILE = "history.csv"
CURVE_FILE = "cost_curve.png"
WEIGHTS_FILE = "weights.npz"
SUMMARY_FILE = "summary.json"
RUN_FILES = (HISTORY_FILE, CURVE_FILE, WEIGHTS_FILE, SUMMARY_FILE)


def check_run_folder(out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """``out`` as a Path, if a new run may be written there: refuse a folder that already holds a
    run unless ``overwrite``, and one where files cannot be created. Leaves nothing behind, so it
    can be called before the work starts."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder")
    earlier = [name for name in RUN_FILES if (folder / name).exists()]
    if earlier and not overwrite:
        raise FileExistsError(
            f"{folder} already holds a run ({', '.join(earlier)}); choose another folder or pass overwrite=True"
        )
    check_writable_folder(folder)
    return folder


def history_csv(history: History) -> str:
    buffer = io.StringIO()
    rows = history.rows()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(history)), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def cost_curve_figure(history: History, title: str, kept_epoch: int | None = None):
    """The train and held-out cost per epoch (and held-out accuracy on a second axis) as a
    matplotlib Figure; ``kept_epoch``, when given, is marked by a vertical line in the legend."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no screen needed
    from matplotlib.ticker import FuncFormatter

    def finite(values):  # a diverged run's NaN or inf costs leave a gap rather than break the log axis
        values = np.asarray(values, dtype=np.float64)
        return np.where(np.isfinite(values), values, np.nan)

    figure = Figure(figsize=(7, 4.2), dpi=120)
    cost_axis = figure.subplots()
    cost_axis.plot(history.epoch, finite(history.train_cost), label="train cost", color="tab:blue")
    if not np.all(np.isnan(history.heldout_cost)):
        cost_axis.plot(history.epoch, finite(history.heldout_cost), label="held-out cost", color="tab:orange")
    if kept_epoch:
        cost_axis.axvline(
            kept_epoch, color="black", linestyle="--", linewidth=1, label=f"kept: epoch {kept_epoch}"
        )
    cost_axis.set_xlabel("epoch")
    cost_axis.set_ylabel("cross-entropy cost (no L2 term)")
    cost_axis.set_yscale("log")
    # Plain numbers (0.3, 1, 2) rather than 3x10^-1, 10^0, 2x10^0; between decades only 2, 3 and 5.
    cost_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    cost_axis.yaxis.set_minor_formatter(FuncFormatter(_sparse_log_label))
    cost_axis.grid(True, alpha=0.3)
    lines, labels = cost_axis.get_legend_handles_labels()
    if not np.all(np.isnan(history.heldout_accuracy)):
        accuracy_axis = cost_axis.twinx()
        accuracy_axis.plot(
            history.epoch,
            np.asarray(history.heldout_accuracy) * 100,
            color="tab:green",
            alpha=0.6,
            label="held-out accuracy (%)",
        )
        accuracy_axis.set_ylabel("held-out accuracy (%)")
        more_lines, more_labels = accuracy_axis.get_legend_handles_labels()
        lines, labels = lines + more_lines, labels + more_labels
    cost_axis.legend(lines, labels, loc="center right")
    cost_axis.set_title(title)
    figure.tight_layout()
    return figure


def cost_curve_png(history: History, title: str, kept_epoch: int | None = None) -> bytes:
    """``cost_curve_figure`` as PNG bytes."""
    buffer = io.BytesIO()
    cost_curve_figure(history, title, kept_epoch).savefig(buffer, format="png")
    return buffer.getvalue()


def kept_epoch_to_mark(result: TrainResult) -> int | None:
    """The epoch whose weights were kept, when it is not simply the last one run (early stopping,
    or the last finished epoch of a run that was interrupted or diverged)."""
    last = result.history.epoch[-1] if result.history.epoch else 0
    return result.best_epoch if result.best_epoch and result.best_epoch != last else None


def _sparse_log_label(value: float, _position: int) -> str:
    leading = round(value / 10 ** np.floor(np.log10(value))) if value > 0 else 0
    return f"{value:g}" if leading in (2, 3, 5) else ""


def summary(result: TrainResult) -> dict:
    """What a reader of the run needs: data, split, sizes, hyperparameters, how the run ended, the
    kept epoch's costs and accuracy, time."""
    final = result.final
    split = result.split or getattr(result.network, "split", None)
    return {
        "data": {
            "source": result.train_set.source,
            "examples": result.train_set.m + result.heldout_set.m,
            "features": result.train_set.n,
            "classes": result.train_set.num_labels,
            "train_examples": result.train_set.m,
            "heldout_examples": result.heldout_set.m,
            "sha256": None if split is None else split.data_sha256,
        },
        "network": _model_facts(result.network),
        "config": asdict(result.config),
        "epochs_run": len(result.history.epoch),
        "kept_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "interrupted": result.interrupted,
        "diverged": result.diverged,
        "stop_reason": result.stop_reason,
        "final": None
        if final is None
        else {name: _json_number(value) for name, value in final.items() if name != "epoch"},
        "seconds": round(result.seconds, 3),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def _model_facts(model) -> dict:
    """The model's own ``run_facts()`` if it has one (the tutorial Network: its sizes and input scale),
    else its class and parameter count."""
    if hasattr(model, "run_facts"):
        return model.run_facts()
    return {"model": type(model).__name__, "parameters": model.num_parameters()}


def _model_title(model) -> str:
    """The model's own ``run_title()`` if it has one (the tutorial Network: "64-25-10 sigmoid network"),
    else its class and parameter count."""
    if hasattr(model, "run_title"):
        return model.run_title()
    return f"{type(model).__name__} ({model.num_parameters():,} parameters)"


def _json_number(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def write_run(result: TrainResult, out: str | os.PathLike, *, overwrite: bool = False) -> dict[str, Path]:
    """Write the four files of a run into ``out`` and return their paths by kind."""
    folder = check_run_folder(out, overwrite=overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "history": folder / HISTORY_FILE,
        "curve": folder / CURVE_FILE,
        "weights": folder / WEIGHTS_FILE,
        "summary": folder / SUMMARY_FILE,
    }
    write_atomically(paths["history"], history_csv(result.history).encode(), overwrite=True)
    title = f"{_model_title(result.network)}, {result.config.optimizer}, lr={result.config.lr:g}"
    curve = cost_curve_png(result.history, title, kept_epoch_to_mark(result))
    write_atomically(paths["curve"], curve, overwrite=True)
    result.network.save(paths["weights"], overwrite=True)
    text = json.dumps(summary(result), indent=2) + "\n"
    write_atomically(paths["summary"], text.encode(), overwrite=True)
    return paths


def write_run_elsewhere(result: TrainResult) -> dict[str, Path]:
    """Write the run into a new folder under the system's temporary folder (for when the chosen
    folder could not be written after training: the run is kept, and the caller says where)."""
    return write_run(result, tempfile.mkdtemp(prefix="autograd-nn-run-"), overwrite=True)
