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
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..files import write_atomically
from .train import History, TrainResult

HISTORY_FILE = "history.csv"
CURVE_FILE = "cost_curve.png"
WEIGHTS_FILE = "weights.npz"
SUMMARY_FILE = "summary.json"
RUN_FILES = (HISTORY_FILE, CURVE_FILE, WEIGHTS_FILE, SUMMARY_FILE)


def check_run_folder(out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """``out`` as a Path, if a new run may be written there: refuse a folder that already holds a
    run unless ``overwrite`` (creates nothing, so it can be called before the work starts)."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder")
    earlier = [name for name in RUN_FILES if (folder / name).exists()]
    if earlier and not overwrite:
        raise FileExistsError(
            f"{folder} already holds a run ({', '.join(earlier)}); choose another --out or pass --overwrite"
        )
    return folder


def history_csv(history: History) -> str:
    buffer = io.StringIO()
    rows = history.rows()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(history)), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def cost_curve_png(history: History, title: str) -> bytes:
    """The train and held-out cost per epoch (and held-out accuracy on a second axis) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    figure, cost_axis = plt.subplots(figsize=(7, 4.2), dpi=120)
    cost_axis.plot(history.epoch, history.train_cost, label="train cost", color="tab:blue")
    if not np.all(np.isnan(history.heldout_cost)):
        cost_axis.plot(history.epoch, history.heldout_cost, label="held-out cost", color="tab:orange")
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
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _sparse_log_label(value: float, _position: int) -> str:
    leading = round(value / 10 ** np.floor(np.log10(value))) if value > 0 else 0
    return f"{value:g}" if leading in (2, 3, 5) else ""


def summary(result: TrainResult) -> dict:
    """What a reader of the run needs: data, sizes, hyperparameters, final costs, accuracy, time."""
    final = result.final
    return {
        "data": {
            "source": result.train_set.source,
            "examples": result.train_set.m + result.heldout_set.m,
            "features": result.train_set.n,
            "classes": result.train_set.num_labels,
            "train_examples": result.train_set.m,
            "heldout_examples": result.heldout_set.m,
        },
        "network": {"sizes": result.network.sizes, "input_scale": result.network.input_scale},
        "config": asdict(result.config),
        "epochs_run": len(result.history.epoch),
        "kept_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "final": {name: _json_number(value) for name, value in final.items() if name != "epoch"},
        "seconds": round(result.seconds, 3),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def _json_number(value: float) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 6)


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
    sizes = "-".join(str(s) for s in result.network.sizes)
    title = f"{sizes} sigmoid network, {result.config.optimizer}, lr={result.config.lr:g}"
    write_atomically(paths["curve"], cost_curve_png(result.history, title), overwrite=True)
    result.network.save(paths["weights"], overwrite=True)
    text = json.dumps(summary(result), indent=2) + "\n"
    write_atomically(paths["summary"], text.encode(), overwrite=True)
    return paths
