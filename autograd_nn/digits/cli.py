"""The ``autograd-nn`` command line: train, evaluate, predict, graph, export, check. Thin: parses, calls, prints.

Every subcommand serves the tutorial's sigmoid network by default and any ``nn.Module`` given with
``--model FILE.py:NAME`` (a function or class returning the model; its weights from ``--weights``).
Every user error (a bad option, bad data, an unreadable weights file, a folder that cannot be
written, a network too large for memory) ends with one line on stderr naming the command's options
and exit status 1, never a traceback. Ctrl-C ends with exit status 130, from the first moment (see
``autograd_nn/_startup.py``); during ``train`` it first saves the run so far.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from .._startup import INTERRUPTED, settle  # 130: the shell's status for a process ended by Ctrl-C
from ..errors import AutogradError


class CommandError(Exception):
    """A fault the command reports as one line (already worded with the command's option names)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 1, like every other error, and
    names the subcommand whose options were wrong (``autograd-nn train: error: ...``)."""

    def error(self, message: str):
        self.exit(1, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:  # argparse would blame the top-level parser; blame the subcommand they followed
            owner = getattr(self, "commands", {}).get(getattr(parsed, "command", None), self)
            owner.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed


def _version() -> str:
    from .. import __version__  # the one place the version is written (pyproject reads it too)

    return __version__


def _whole_number(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value

    parse.__name__ = "whole number"
    return parse


def _number(text: str, *, positive: bool = False, below_one: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value < 0 or (positive and value == 0) or (below_one and value >= 1):
        wanted = "a number > 0" if positive else "a fraction in [0, 1)" if below_one else "a number >= 0"
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def _positive_number(text: str) -> float:
    return _number(text, positive=True)


def _non_negative_number(text: str) -> float:
    return _number(text)


def _fraction(text: str) -> float:
    return _number(text, below_one=True)


def _hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer sizes like '25' or '32,16', got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive layer sizes, got {text!r}")
    return sizes


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="workbook (.xlsx) or X CSV (default: the digits workbook bundled with the package)",
    )
    parser.add_argument(
        "--x-sheet", default="X", help="sheet with one row of features per example (default: X)"
    )
    parser.add_argument("--y-sheet", default="y", help="sheet with one label 1-10 per row (default: y)")
    parser.add_argument(
        "--y-csv", type=Path, default=None, help="labels CSV, when --data is a CSV of features"
    )
    _add_no_cache_argument(parser)


def _add_no_cache_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="read the file itself; neither use nor write the cache of data read before",
    )


def _read_how(dataset) -> str:
    """' (cached read)' when the data came from the cache of parsed files rather than the file itself."""
    return " (cached read)" if dataset.from_cache else ""


MODEL_HELP = (
    "a model of your own instead of the tutorial network: NAME is a function or class in FILE.py that "
    "returns an nn.Module mapping rows of inputs to one score (logit) per class; class k is label k and "
    "class 0 the last label (for the digits, class k is the digit k, as load_digits().y_train gives it)"
)


def _add_model_argument(parser: argparse.ArgumentParser, extra: str = "") -> None:
    parser.add_argument("--model", default=None, metavar="FILE.py:NAME", help=MODEL_HELP + extra)


def _add_dtype_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--dtype", choices=("float64", "float32"), default=None, help=help)


def _add_split_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split",
        choices=("heldout", "train", "all"),
        default=None,
        help="which rows: the training run's held-out or train rows, or all (default: heldout when "
        "the weights were trained on this data, else all)",
    )


GRAPH_FORMATS = ("svg", "png", "pdf", "dot", "html")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="autograd-nn",
        description="Train, evaluate, draw, export and check the tutorial's digits network, or any nn.Module "
        "given with --model, with a NumPy autodiff engine.",
        epilog="Errors are one line on stderr with exit status 1; Ctrl-C exits with 130. "
        "'autograd-nn COMMAND --help' describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"autograd-nn {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str, epilog: str | None = None) -> _Parser:
        sub = commands.add_parser(name, help=summary, description=description, epilog=epilog)
        parser.commands[name] = sub
        return sub

    parser.commands = {}
    train = command(
        "train",
        "train the network and write a run folder",
        "Split the data (stratified), train the tutorial's sigmoid network (or --model) on the training part, "
        "and write a run folder: history.csv, cost_curve.png, weights.npz, summary.json.",
    )
    _add_data_arguments(train)
    _add_model_argument(
        train,
        "; trained with the cross-entropy of a softmax over its scores; --hidden and --no-scale do not apply",
    )
    train.add_argument(
        "--hidden",
        type=_hidden_sizes,
        default=None,
        help="hidden layer sizes, e.g. 25 or 32,16 (default: 25)",
    )
    train.add_argument(
        "--epochs", type=_whole_number(1), default=300, help="passes over the training set (default: 300)"
    )
    train.add_argument(
        "--lr",
        type=_positive_number,
        default=None,
        help="learning rate (default: 0.003 for adam, 0.5 for momentum, 2.0 for gd)",
    )
    train.add_argument(
        "--lambda",
        dest="lam",
        type=_non_negative_number,
        default=0.3,
        help="L2 regularization strength (default: 0.3)",
    )
    train.add_argument(
        "--batch-size",
        type=_whole_number(0),
        default=64,
        help="examples per step; 0 means full batch (default: 64)",
    )
    train.add_argument(
        "--optimizer",
        choices=("adam", "momentum", "gd"),
        default="adam",
        help="adam, momentum (gradient descent with momentum 0.9) or gd (plain gradient descent, the "
        "tutorial's rule) (default: adam)",
    )
    train.add_argument(
        "--seed",
        type=_whole_number(0),
        default=0,
        help="seed for the split, initialisation and shuffling (default: 0)",
    )
    train.add_argument(
        "--holdout", type=_fraction, default=0.2, help="fraction held out, stratified (default: 0.2)"
    )
    train.add_argument(
        "--patience",
        type=_whole_number(1),
        default=None,
        help="stop after this many epochs without a better held-out cost",
    )
    _add_dtype_argument(
        train,
        "float64 or float32: the type of the parameters and every computation (default: float64; "
        "with --model, the model's own)",
    )
    train.add_argument(
        "--no-scale", action="store_true", help="do not divide inputs by the training set's largest value"
    )
    train.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<date-time>)")
    train.add_argument(
        "--overwrite", action="store_true", help="replace the files of an earlier run in --out"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--no-compile", action="store_true", help="run every step eagerly (same results, slower; to compare)"
    )

    evaluate = command(
        "evaluate",
        "accuracy and confusion matrix of trained weights on a dataset",
        "Print the accuracy of trained weights on a dataset, and the confusion matrix of the digits.",
    )
    evaluate.add_argument("--weights", type=Path, required=True, help="weights.npz from a training run")
    _add_model_argument(evaluate, "; --weights holds its parameters")
    _add_data_arguments(evaluate)
    _add_split_argument(evaluate)

    predict = command(
        "predict",
        "write predicted digits as CSV",
        "Write one CSV row per example: the predicted label and digit, its score, and the truth when the "
        "data has labels.",
    )
    predict.add_argument("--weights", type=Path, required=True, help="weights.npz from a training run")
    _add_model_argument(predict, "; --weights holds its parameters")
    _add_data_arguments(predict)
    _add_split_argument(predict)
    predict.add_argument(
        "--out", type=Path, default=None, help="CSV file to write (default: standard output)"
    )
    predict.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    graph = command(
        "graph",
        "draw the network's cost graph with Graphviz",
        "Draw the graph of the network's cost (or --model's) on a batch of the data, with the gradients of "
        "one backward pass, as SVG, PNG, PDF, DOT source or an interactive HTML page.",
        epilog="Every format but dot needs Graphviz's dot program (apt-get install graphviz).",
    )
    _add_model_argument(graph, "; its cost is the cross-entropy of a softmax over its scores")
    graph.add_argument(
        "--hidden", type=_hidden_sizes, default=None, help="hidden layer sizes of a new network (default: 25)"
    )
    graph.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="draw this trained network (weights.npz from a training run)",
    )
    graph.add_argument(
        "--data", type=Path, default=None, help="workbook for the backward pass (default: bundled digits)"
    )
    _add_no_cache_argument(graph)
    graph.add_argument(
        "--batch",
        type=_whole_number(1),
        default=None,
        help="examples of --data in the batch (default: all of them)",
    )
    graph.add_argument(
        "--format",
        choices=GRAPH_FORMATS,
        default=None,
        help="html: an interactive page (default: the suffix of --out, else svg; a different suffix is refused)",
    )
    graph.add_argument("--out", type=Path, default=None, help="output file (default: network_graph.<format>)")
    graph.add_argument(
        "--backward", action="store_true", help="draw the backward view (gradients flowing to the parameters)"
    )
    graph.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    export = command(
        "export",
        "write trained weights as an ONNX model (needs the onnx extra)",
        "Write the trained network's forward pass (raw inputs in, class scores out) as an ONNX model.",
    )
    export.add_argument("--weights", type=Path, required=True, help="weights.npz from a training run")
    _add_model_argument(export, "; --weights holds its parameters")
    export.add_argument(
        "--features",
        type=_whole_number(1),
        default=None,
        help="with --model: the number of input columns (default: the 'features' of the run's summary.json "
        "beside --weights)",
    )
    export.add_argument("--out", type=Path, required=True, help="ONNX file to write, e.g. model.onnx")
    _add_dtype_argument(
        export,
        "float64 or float32: the type of the ONNX model's input, weights and output (default: the weights' own)",
    )
    export.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    _add_check_parser(command)
    return parser


@contextlib.contextmanager
def _data_path(args: argparse.Namespace) -> Iterator[Path]:
    """--data, or the bundled workbook; --y-csv checked against the kind of file first."""
    from .data import WORKBOOK_SUFFIXES, bundled_digits

    y_csv = getattr(args, "y_csv", None)  # graph has no --y-csv
    if args.data is None:
        if y_csv is not None:
            raise CommandError("--y-csv is only for CSV data given with --data")
        with bundled_digits() as path:
            yield path
        return
    suffix = args.data.suffix.lower()
    if args.command == "graph" and suffix not in WORKBOOK_SUFFIXES:
        raise CommandError(f"--data {args.data}: graph reads a workbook (.xlsx or .xlsm)")
    if suffix in WORKBOOK_SUFFIXES and y_csv is not None:
        raise CommandError(f"--y-csv is only for CSV data; {args.data} keeps its labels in sheet --y-sheet")
    if suffix == ".csv" and y_csv is None and args.command in ("train", "evaluate"):
        raise CommandError(f"--data {args.data}: CSV data needs its labels in a second CSV file; add --y-csv")
    yield args.data


def _load(args: argparse.Namespace):
    from .data import load_dataset

    with _data_path(args) as path:
        return load_dataset(
            path, x_sheet=args.x_sheet, y_sheet=args.y_sheet, y_path=args.y_csv, cache=not args.no_cache
        )


def _fresh_run_folder() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path("runs") / stamp
    suffix = 2
    while folder.exists():
        folder = Path("runs") / f"{stamp}-{suffix}"
        suffix += 1
    return folder


DEFAULT_LR = {"adam": 0.003, "momentum": 0.5, "gd": 2.0}
PROGRESS_EVERY = 10.0  # seconds between progress lines when the progress bar is off (not a terminal)


def _cost(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"


def _progress_lines(epochs: int):
    """Plain progress lines on stdout for logs and pipes, where the progress bar stays off: the
    first epoch, then one every PROGRESS_EVERY seconds, then the last."""
    last = [0.0]

    def show(row: dict) -> None:
        now = time.monotonic()
        if row["epoch"] in (1, epochs) or now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            heldout = "" if np.isnan(row["heldout_cost"]) else f", held-out cost {_cost(row['heldout_cost'])}"
            print(
                f"epoch {row['epoch']}/{epochs}: train cost {_cost(row['train_cost'])}{heldout}", flush=True
            )

    return show


def run_train(args: argparse.Namespace) -> int:
    from ..training import TrainConfig, check_run_folder, write_run, write_run_elsewhere
    from .train import TooLargeError, train_network

    if args.model is not None:
        for given, option in ((args.hidden, "--hidden"), (args.no_scale or None, "--no-scale")):
            if given is not None:
                raise CommandError(
                    f"{option} is for the tutorial network; --model {args.model} builds its own layers "
                    "and gets the rows as they are (scale them in its forward)"
                )
    out = args.out or _fresh_run_folder()
    check_run_folder(out, overwrite=args.overwrite)  # fail before loading data or training, not after
    model = _user_model(args) if args.model is not None else None
    if model is not None and args.dtype is not None:
        model.module.to(args.dtype)
    config = TrainConfig(
        hidden=args.hidden or (25,),
        epochs=args.epochs,
        lr=DEFAULT_LR[args.optimizer] if args.lr is None else args.lr,
        lam=args.lam,
        batch_size=None if args.batch_size == 0 else args.batch_size,
        optimizer=args.optimizer,
        seed=args.seed,
        holdout=args.holdout,
        patience=args.patience,
        scale_inputs=not args.no_scale,
        compile=not args.no_compile,
        dtype=str(model.dtype) if model is not None else args.dtype or "float64",
    )
    dataset = _load(args)
    print(
        f"data: {dataset.source}: {dataset.m} examples x {dataset.n} features, "
        f"labels 1-{dataset.num_labels}{_read_how(dataset)}"
    )
    batch = "full batch" if config.batch_size is None else f"batches of {config.batch_size}"
    how = f"{config.optimizer}, lr={config.lr:g}, lambda={config.lam:g}, {batch}, {config.epochs} epochs"
    if model is not None:
        from . import user_model

        classes = user_model.scores(model, dataset.X[:2]).shape[1]  # a model that does not fit fails here
        user_model.check_classes(model, classes, dataset.num_labels, _data_name(args))
        print(f"model: {model.title} from {args.model}; cross-entropy of a softmax over its scores; {how}")
    else:
        sizes = "-".join(str(s) for s in (dataset.n, *config.hidden, dataset.num_labels))
        raw = ", raw inputs (--no-scale)" if args.no_scale else ""
        print(f"network: {sizes} sigmoid, {config.dtype}{raw}; {how}", flush=True)

    def warn(message: str) -> None:
        from tqdm import tqdm  # its write() keeps a live progress bar intact

        tqdm.write(
            f"autograd-nn train: warning: {message}; try a smaller --lr (now {config.lr:g})", file=sys.stderr
        )

    show_lines = not args.quiet and not sys.stderr.isatty()
    try:
        result = train_network(
            dataset,
            config,
            model=None if model is None else model.module,
            loss=None if model is None else _softmax_cross_entropy,
            progress=not args.quiet,
            on_epoch=_progress_lines(config.epochs) if show_lines else None,
            on_warning=warn,
        )
    except TooLargeError as error:
        raise CommandError(
            f"--hidden {','.join(map(str, config.hidden))}: {error}; choose smaller --hidden"
        ) from None
    if result.interrupted and not result.history.epoch:
        print(
            "autograd-nn train: interrupted before the first epoch finished; nothing to save", file=sys.stderr
        )
        return INTERRUPTED

    try:
        paths = write_run(result, out, overwrite=True)
        problem = None
    except OSError as error:  # the folder was writable before training; keep the run somewhere else
        try:
            paths = write_run_elsewhere(result)
        except OSError as also:
            raise CommandError(
                f"could not write the run to {out} ({error}), nor to a temporary folder ({also})"
            ) from None
        problem = (
            f"could not write the run to {out} ({error}); it was saved to {paths['history'].parent}/ instead"
        )
    folder = paths["history"].parent
    last = result.history.epoch[-1]
    if result.interrupted:
        saved = problem or f"saved the run so far to {folder}/"
        print(
            f"autograd-nn train: interrupted during epoch {last + 1}; {saved} "
            f"(weights of epoch {result.best_epoch}, summary.json marked interrupted)",
            file=sys.stderr,
        )
        return INTERRUPTED
    if result.diverged:
        kept = f"epoch {result.best_epoch}" if result.best_epoch else "the initial weights"
        where = problem or f"the run up to there ({kept}) is in {folder}/"
        raise CommandError(
            f"the train cost became {result.history.train_cost[-1]} at epoch {last}; "
            f"try a smaller --lr (now {config.lr:g}); {where}"
        )

    final = result.final
    print(f"trained in {result.seconds:.1f} s")
    if result.stopped_early:
        print(
            f"stopped early at epoch {last} of {config.epochs}: no better held-out cost for {config.patience} "
            f"epoch{'s' if config.patience > 1 else ''} (--patience {config.patience}); "
            f"kept epoch {result.best_epoch}, the best"
        )
    if result.heldout_set.m == 0:
        print(f"train cost {_cost(final['train_cost'])}")
        print(f"no held-out split (--holdout 0); train accuracy {final['train_accuracy']:.2%}")
    else:
        print(f"train cost {_cost(final['train_cost'])}, held-out cost {_cost(final['heldout_cost'])}")
        print(
            f"held-out accuracy: {final['heldout_accuracy']:.2%} on {result.heldout_set.m} examples "
            f"(train accuracy {final['train_accuracy']:.2%})"
        )
    if problem:
        raise CommandError(problem)
    print(f"wrote {folder}/: " + ", ".join(p.name for p in paths.values()))
    return 0


def _softmax_cross_entropy(logits, classes):
    """The cost ``train --model`` minimises: cross-entropy of a softmax over the scores (classes 0..K-1)."""
    from ..ops import cross_entropy

    return cross_entropy(logits, classes)


def _user_model(args: argparse.Namespace):
    """The model of --model, built (seeded with --seed when the command has one), with --weights loaded
    when the command reads weights."""
    from . import user_model

    model = user_model.build_model(args.model, seed=getattr(args, "seed", 0))
    weights = getattr(args, "weights", None)
    if weights is not None and args.command != "train":
        user_model.load_weights(model, weights)
    return model


def _data_name(args: argparse.Namespace) -> str:
    return f"--data {args.data}" if getattr(args, "data", None) else "the bundled digits"


def confusion_matrix(true_digits: np.ndarray, predicted_digits: np.ndarray, classes: int = 10) -> np.ndarray:
    """counts[t, p]: how many examples of digit t were predicted as digit p."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (true_digits, predicted_digits), 1)
    return counts


def format_confusion(counts: np.ndarray) -> str:
    width = max(4, len(str(counts.max())) + 1)
    header = "true\\pred" + "".join(f"{d:>{width}}" for d in range(counts.shape[1]))
    lines = [header]
    for digit, row in enumerate(counts):
        lines.append(f"{digit:>9}" + "".join(f"{c:>{width}}" for c in row))
    return "\n".join(lines)


def _network_file(weights: Path):
    """The tutorial network saved in ``weights``; a file of another model's weights says to add --model."""
    from .network import Network, WeightsFileError

    try:
        return Network.from_file(weights)
    except WeightsFileError as error:
        if "no 'sizes' entry" in str(error):  # e.g. what Module.save wrote for a model of one's own
            raise WeightsFileError(
                f"{error}; for the weights of a model of your own, add --model FILE.py:NAME"
            ) from None
        raise


class _Trained:
    """Trained weights to score rows with: the tutorial network's file, or --model filled from --weights."""

    def __init__(self, args: argparse.Namespace, features: int) -> None:
        self.model = None
        if args.model is not None:
            from . import user_model

            self.model = _user_model(args)
            self.split = user_model.split_beside(args.weights)
            return
        self.network = _network_file(args.weights)
        if self.network.sizes[0] != features:
            raise CommandError(
                f"--weights {args.weights}: the network takes {self.network.sizes[0]} inputs but the data has "
                f"{features} features per row"
            )
        self.split = self.network.split

    def scores(self, X: np.ndarray, num_labels: int | None, where: str) -> np.ndarray:
        """One row of class scores per row of X: the network's sigmoid outputs, or the softmax of the
        model's scores (a model that gives another number of classes than the data's labels is refused)."""
        from ..grad_mode import no_grad

        if self.model is None:
            with no_grad():
                return self.network.forward(X).data
        from . import user_model

        logits = user_model.scores(self.model, X).data.astype(np.float64)
        if num_labels is not None:
            user_model.check_classes(self.model, logits.shape[1], num_labels, where)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def labels(self, scores: np.ndarray) -> np.ndarray:
        """The label 1..K each row of ``scores`` predicts, by the model's numbering of classes: the tutorial
        network's output j is label j+1, a --model's class k is label k (and class 0 the last label)."""
        from .classes import predicted_labels

        return predicted_labels(scores, tutorial=self.model is None)


def _chosen_rows(args: argparse.Namespace, split, dataset, m: int) -> tuple[np.ndarray, str]:
    """The rows --split selects (0-based, file order) and a line saying which they are and why."""
    everything = np.arange(m)
    if args.split == "all":
        return everything, f"all {m} rows (--split all)"
    why_not = (
        (
            "the weights file does not record its training split"
            if args.model is None
            else "no summary.json of its training run is beside the weights file"
        )
        if split is None
        else "the data has no labels to recompute the split from"
        if dataset is None
        else f"these weights were trained on other data ({split.data_source})"
        if not split.matches(dataset)
        else "the training run held nothing out (--holdout 0)"
        if split.holdout == 0 and args.split != "train"
        else None
    )
    if why_not is not None:
        if args.split is not None:
            raise CommandError(f"--split {args.split}: {why_not}; use --split all")
        return everything, f"all {m} rows, since {why_not}"
    train, held = split.rows(dataset)
    part = args.split or "heldout"
    rows = held if part == "heldout" else train
    where = f"seed {split.seed}, holdout {split.holdout:g}"
    default = "" if args.split else "; --split all for every row"
    return (
        rows,
        f"the {len(rows)} {'held-out' if part == 'heldout' else 'train'} rows of the training run ({where}){default}",
    )


def run_evaluate(args: argparse.Namespace) -> int:
    from .data import labels_to_digits

    dataset = _load(args)
    trained = _Trained(args, dataset.n)
    rows, which = _chosen_rows(args, trained.split, dataset, dataset.m)
    scores = trained.scores(dataset.X[rows], dataset.num_labels, _data_name(args))
    predicted = trained.labels(scores)
    truth = dataset.y[rows]
    correct = int(np.sum(predicted == truth))
    print(f"{dataset.source}: {which}")
    print(f"accuracy {correct / len(rows):.2%} ({correct} of {len(rows)} correct)")
    if scores.shape[1] == 10:
        counts = confusion_matrix(labels_to_digits(truth), labels_to_digits(predicted))
        print("confusion matrix (rows: true digit, columns: predicted digit)")
        print(format_confusion(counts))
    return 0


PREDICTION_COLUMNS = ["row", "predicted_label", "predicted_digit", "score"]
LABEL_COLUMNS = ["true_label", "true_digit", "correct"]


def run_predict(args: argparse.Namespace) -> int:
    from ..files import check_writable_file, write_atomically
    from .data import labels_to_digits, load_labelled_if_possible

    if args.out is not None:
        check_writable_file(args.out, overwrite=args.overwrite)  # before any work
    with _data_path(args) as path:
        features, dataset = load_labelled_if_possible(
            path, x_sheet=args.x_sheet, y_sheet=args.y_sheet, y_path=args.y_csv, cache=not args.no_cache
        )
    trained = _Trained(args, features.shape[1])
    rows, which = _chosen_rows(args, trained.split, dataset, features.shape[0])
    labelled = None if dataset is None else dataset.num_labels
    scores = trained.scores(features[rows], labelled, _data_name(args))
    labels = trained.labels(scores)
    as_digits = labels_to_digits if scores.shape[1] == 10 else np.asarray
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PREDICTION_COLUMNS + (LABEL_COLUMNS if dataset is not None else []))
    columns = [rows + 1, labels, as_digits(labels), [f"{score:.6f}" for score in scores.max(axis=1)]]
    if dataset is not None:
        truth = dataset.y[rows]
        columns += [truth, as_digits(truth), labels == truth]
    for values in zip(*columns, strict=True):
        writer.writerow([v.item() if isinstance(v, np.generic) else v for v in values])
    print(f"predicting {which}", file=sys.stderr)
    if args.out is None:
        sys.stdout.write(buffer.getvalue())
        return 0
    write_atomically(args.out, buffer.getvalue().encode(), overwrite=args.overwrite)
    print(f"wrote {len(labels)} predictions to {args.out}", file=sys.stderr)
    return 0


def _graph_format(args: argparse.Namespace) -> tuple[str, Path]:
    """The format and output path: from --format and --out's suffix, which must agree when both given."""
    suffix = args.out.suffix.lower().lstrip(".") if args.out is not None else ""
    if args.format and suffix and suffix != args.format:
        raise CommandError(
            f"--out {args.out} ends in .{suffix} but --format is {args.format}; make them agree (or drop --format)"
        )
    if args.out is not None and suffix and suffix not in GRAPH_FORMATS:
        raise CommandError(
            f"--out {args.out}: unknown format .{suffix}; use .svg, .png, .pdf, .dot or .html (or give --format)"
        )
    fmt = args.format or suffix or "svg"
    return fmt, args.out or Path(f"network_graph.{fmt}")


def run_graph(args: argparse.Namespace) -> int:
    from ..files import check_writable_file
    from ..grad_mode import keep_values
    from ..viz import draw_graph, save_graph
    from .data import load_dataset, one_hot

    fmt, out = _graph_format(args)
    check_writable_file(out, overwrite=args.overwrite)  # before any work
    if args.model is not None and args.hidden is not None:
        raise CommandError(
            f"--hidden is for the tutorial network; --model {args.model} builds its own layers"
        )
    model = _user_model(args) if args.model is not None else None
    with _data_path(args) as path:
        dataset = load_dataset(path, cache=not args.no_cache)
    m = dataset.m if args.batch is None else min(args.batch, dataset.m)
    if model is not None:
        from . import user_model

        classes = user_model.scores(model, dataset.X[:1]).shape[1]
        user_model.check_classes(model, classes, dataset.num_labels, _data_name(args))
        with keep_values():  # the drawing's hover details show every intermediate's values
            cost = user_model.cost(model, dataset.X[:m], dataset.y[:m], dataset.num_labels)
        trained = args.weights.name if args.weights is not None else "untrained"
        what = f"cross-entropy cost of the {type(model.module).__name__} model ({args.model}, {trained})"
    else:
        network, name = _network_to_draw(args, dataset)
        with keep_values():
            cost = network.cost(dataset.X[:m], one_hot(dataset.y[:m], dataset.num_labels))
        what = f"cost of the {name}"
    cost.backward()
    graph = draw_graph(cost, backward=args.backward, title=f"{what} on {m} digits")
    print(f"wrote {save_graph(graph, out, format=fmt, overwrite=args.overwrite)}")
    return 0


def _network_to_draw(args: argparse.Namespace, dataset):
    """The tutorial network graph draws: --weights checked against --hidden and the data, or a new one."""
    from .network import Network, input_scale_for
    from .train import TooLargeError, check_memory

    if args.weights is not None:
        network = _network_file(args.weights)
        hidden = tuple(network.sizes[1:-1])
        if args.hidden is not None and args.hidden != hidden:
            raise CommandError(
                f"--hidden {args.hidden} does not match --weights {args.weights} (hidden {hidden})"
            )
        if network.sizes[0] != dataset.n or network.sizes[-1] != dataset.num_labels:
            raise CommandError(
                f"--weights {args.weights} maps {network.sizes[0]} inputs to {network.sizes[-1]} labels, "
                f"but {f'--data {args.data} has' if args.data else 'the bundled digits have'} "
                f"{dataset.n} columns and {dataset.num_labels} labels"
            )
        return network, f"trained {'-'.join(map(str, network.sizes))} network ({args.weights.name})"
    hidden = args.hidden or (25,)
    sizes = [dataset.n, *hidden, dataset.num_labels]
    try:
        check_memory(sizes, dataset.m, "float64", optimizer_slots=0)
    except TooLargeError as error:
        raise CommandError(
            f"--hidden {','.join(map(str, hidden))}: {error}; choose smaller --hidden"
        ) from None
    return Network(
        sizes, input_scale=input_scale_for(dataset.X)
    ), f"{'-'.join(map(str, sizes))} sigmoid network"


def _add_check_parser(command) -> None:
    check = command(
        "check",
        "compare a hand-derived backprop with autodiff and central differences",
        "Compare a hand-derived backprop of the tutorial network (--backprop, default: the project's "
        "reference.py) with autodiff, and autodiff with central differences, on a random batch. With "
        "--model there is no hand-derived backprop: autodiff's gradient of the model's cost is checked "
        "against central differences.",
        epilog="Exit status: 0 when every gradient agrees (and every parameter has one); 1 when a gradient "
        "disagrees or is missing, or on an error (one line on stderr); 130 on Ctrl-C. When --graph cannot "
        "be drawn (no Graphviz), the check still decides the status: the drawing is skipped with a note.",
    )
    _add_data_arguments(check)
    _add_model_argument(
        check, "; autodiff is checked against central differences (--backprop does not apply)"
    )
    check.add_argument("--hidden", type=_hidden_sizes, default=None, help="hidden layer sizes (default: 25)")
    check.add_argument(
        "--backprop",
        default=None,
        metavar="FILE.py:FUNCTION",
        help="your backprop: FUNCTION(params, X, Y) returns a dict of gradients by the tutorial's names "
        "(theta1, b1, ..., and deltas as z3, z2 with a 'scale' entry); default: the project's reference.py",
    )
    check.add_argument(
        "--graph", type=Path, default=None, help="also draw the compared graph (e.g. check.svg)"
    )
    check.add_argument("--overwrite", action="store_true", help="replace --graph if it exists")
    check.add_argument(
        "--examples", type=_whole_number(1), default=16, help="size of the random batch (default: 16)"
    )
    check.add_argument(
        "--seed", type=_whole_number(0), default=0, help="seed for the batch and the weights (default: 0)"
    )


CENTRAL_DIFF_LEGEND = (
    "Column 'vs central diff.': autodiff's gradient against central differences (relative error). Small "
    "means autodiff is right, so a mismatch is in the hand-derived gradient."
)


def run_check(args: argparse.Namespace) -> int:
    """Compare a hand-derived backprop with autodiff on a random batch (or, with --model, autodiff with
    central differences); exit 0 when all agree, 1 if not."""
    from ..checking import compare_gradients
    from ..viz import draw_graph
    from .data import one_hot
    from .network import Network, input_scale_for

    if args.graph is not None and args.graph.exists() and not args.overwrite:
        raise FileExistsError(f"--graph: {args.graph} already exists; pass --overwrite to replace it")
    if args.model is not None:
        for given, option in ((args.hidden, "--hidden"), (args.backprop, "--backprop")):
            if given is not None:
                raise CommandError(
                    f"{option} is for the tutorial network; with --model {args.model}, check compares "
                    "autodiff with central differences (there is no hand-derived backprop to compare)"
                )
        return _check_model(args)
    backprop, label = _load_backprop(args.backprop) if args.backprop else (_reference_backprop, None)
    dataset = _load(args)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(dataset.m, size=min(args.examples, dataset.m), replace=False))
    X = dataset.X[rows] / input_scale_for(dataset.X)  # what the network sees, and what your backprop gets
    Y = one_hot(dataset.y, dataset.num_labels)[rows]
    network = Network([dataset.n, *(args.hidden or (25,)), dataset.num_labels], seed=args.seed)
    sizes = "-".join(str(s) for s in network.sizes)
    print(
        f"data: {dataset.source}{_read_how(dataset)}: {len(rows)} random examples of {dataset.m}; network {sizes}"
    )
    cost = network.cost(X, Y)
    params = {p.name: p.data.copy() for pair in network.params for p in pair}
    if label is None:
        print("checking: the hand-derived backprop in reference.py, against autodiff and central differences")
        grads = backprop(params, X, Y)
    else:
        print(f"checking: {label}, against autodiff and central differences")
        grads = _call_backprop(backprop, label, params, X.copy(), Y.copy())
    manual = {key: value for key, value in grads.items() if key != "scale"}
    scale = grads.get("scale")
    if scale is not None and not isinstance(scale, dict):
        raise AutogradError(f"--backprop: {label}: 'scale' must be a dict such as {{'z3': 1 / m}}")
    try:
        report = compare_gradients(cost, manual, scale=scale, numeric=True)
    except (AutogradError, TypeError) as error:
        raise AutogradError(f"--backprop: {label}: {error}") from None
    print(report)
    print(CENTRAL_DIFF_LEGEND)
    if report.not_compared:  # a parameter without a gradient would never be updated
        print(
            f"Missing: no gradient for {', '.join(report.not_compared)}, so training would never update them."
        )
    if args.graph is not None:
        _draw_check(args, draw_graph(cost, compare=report, title=f"gradient check of the {sizes} network"))
    return 0 if report.ok and not report.not_compared else 1


def _draw_check(args: argparse.Namespace, graph) -> None:
    """Save check's drawing; without Graphviz the drawing is skipped with a note, and the check's own
    verdict still decides the exit status."""
    from ..viz import GraphvizNotFoundError, save_graph

    try:
        print(f"wrote {save_graph(graph, args.graph, overwrite=args.overwrite)}")
    except GraphvizNotFoundError as error:
        saved = (
            f"; its DOT source is in {error.dot_path}" if error.dot_path and error.dot_path.exists() else ""
        )
        print(
            f"autograd-nn check: note: --graph {args.graph} was not drawn: Graphviz's dot program was not "
            f"found (apt-get install graphviz, or brew install graphviz){saved}",
            file=sys.stderr,
        )


def _check_model(args: argparse.Namespace) -> int:
    """check --model: autodiff's gradient of each parameter against central differences in float64."""
    from ..checking.compare import NUMERIC_TOLERANCE
    from ..viz import draw_graph
    from . import user_model

    model = _user_model(args)
    model.module.to(np.float64).eval()  # float64 for the differences; eval: dropout off, a fixed function
    dataset = _load(args)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(dataset.m, size=min(args.examples, dataset.m), replace=False))
    X, labels = dataset.X[rows], dataset.y[rows]
    classes = user_model.scores(model, X[:1]).shape[1]
    user_model.check_classes(model, classes, dataset.num_labels, _data_name(args))
    print(
        f"data: {dataset.source}{_read_how(dataset)}: {len(rows)} random examples of {dataset.m}; "
        f"model {model.title} from {args.model}"
    )
    print(
        "checking: autodiff's gradient of the cross-entropy cost against central differences in float64 "
        "(a model of your own has no hand-derived backprop to compare)"
    )
    cost = user_model.cost(model, X, labels, dataset.num_labels)
    cost.backward()
    table = [["parameter", "shape", "verdict", "rel. error", "checked along"]]
    wrong = []
    for name, parameter in model.module.named_parameters():
        error, along = _central_difference_error(model, X, labels, dataset.num_labels, parameter, rng)
        verdict = "ok" if error <= NUMERIC_TOLERANCE else "mismatch"
        if verdict != "ok":
            wrong.append(name)
        table.append([name, str(tuple(parameter.shape)), verdict, f"{error:.2g}", along])
    widths = [max(len(line[k]) for line in table) for k in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    print(
        "rel. error: ||autodiff - central|| / (||autodiff|| + ||central||); a gradient agrees when it is at "
        f"most {NUMERIC_TOLERANCE:g}."
    )
    if wrong:
        print(
            f"Mismatch: autodiff disagrees with central differences for {', '.join(wrong)}: an op's gradient "
            "may be wrong, or the cost is not smooth at these values (a ReLU or max exactly at its kink)."
        )
    else:
        print(f"All {len(table) - 1} parameters' gradients agree with central differences.")
    if args.graph is not None:
        title = f"gradient check of the {type(model.module).__name__} model ({args.model})"
        _draw_check(args, draw_graph(cost, title=title))
    return 1 if wrong else 0


def _central_difference_error(model, X, labels, num_labels, parameter, rng) -> tuple[float, str]:
    """Relative error of autodiff's gradient of ``parameter`` against central differences of the cost:
    entry by entry up to 1,000 entries, else along 3 random directions (as compare_gradients does)."""
    from ..checking.compare import NUMERIC_DIRECTIONS, NUMERIC_FULL_SIZE
    from ..checking.numeric import directional_derivative, numerical_gradient, random_directions
    from ..grad_mode import no_grad
    from . import user_model

    def cost() -> float:
        with no_grad():
            return user_model.cost(model, X, labels, num_labels).item()

    autodiff = np.zeros(parameter.shape) if parameter.grad is None else np.asarray(parameter.grad, np.float64)
    work = parameter.data  # perturbed in place and restored by the differences
    if parameter.size <= NUMERIC_FULL_SIZE:
        numeric, analytic, along = numerical_gradient(cost, work), autodiff, "every entry"
    else:
        directions = random_directions(parameter.shape, NUMERIC_DIRECTIONS, rng)
        numeric = np.array([directional_derivative(cost, work, d) for d in directions])
        analytic = np.array([float(np.vdot(autodiff, d)) for d in directions])
        along = f"{NUMERIC_DIRECTIONS} random directions"
    denominator = float(np.linalg.norm(analytic) + np.linalg.norm(numeric))
    return (float(np.linalg.norm(analytic - numeric)) / denominator if denominator else 0.0), along


def _reference_backprop(params: dict, X: np.ndarray, Y: np.ndarray) -> dict:
    """The project's own hand-derived backprop (reference.py) in the form --backprop functions take."""
    from .reference import cost_and_gradients

    layers = len(params) // 2
    arrays = [(params[f"theta{k}"], params[f"b{k}"]) for k in range(1, layers + 1)]
    _, grads = cost_and_gradients(arrays, X, Y)
    result = {}
    for k, (theta_grad, bias_grad) in enumerate(grads, start=1):
        result[f"theta{k}"], result[f"b{k}"] = theta_grad, bias_grad
    return result


def _load_backprop(spec: str):
    """The function FUNCTION of FILE.py, loaded from its path, and how messages name it."""
    from .user_model import load_callable

    path, name, function = load_callable(spec, "--backprop", "FUNCTION", "function")
    return function, f"{name}(params, X, Y) in {path}"


def _call_backprop(function, label: str, params: dict, X: np.ndarray, Y: np.ndarray) -> dict:
    from .user_model import where_raised

    path = Path(label.rsplit(" in ", 1)[1])
    try:
        result = function(params, X, Y)
    except Exception as error:
        raise AutogradError(f"--backprop: {label} raised {where_raised(error, path)}") from None
    if not isinstance(result, dict):
        raise AutogradError(
            f"--backprop: {label} returned {type(result).__name__}; it must return a dict of gradients "
            "by name, such as {'theta1': ..., 'b1': ..., 'theta2': ..., 'b2': ...}"
        )
    return result


def run_export(args: argparse.Namespace) -> int:
    """The trained network's (or --model's) forward pass, raw inputs in and class scores out, as an ONNX
    file; ``--dtype float32`` converts float64 weights first, so the whole file is float32. How the output
    columns map to labels (classes.py) is in the file's doc_string and its metadata entry "classes"."""
    from ..files import check_writable_file, write_atomically
    from .classes import describe

    check_writable_file(args.out, overwrite=args.overwrite)  # before any work
    if args.model is not None:
        from . import user_model

        model = _user_model(args)
        features = args.features or user_model.read_summary(args.weights).get("data", {}).get("features")
        if not isinstance(features, int):
            raise CommandError(
                f"--model {args.model}: give the number of input columns with --features (there is no "
                f"summary.json of a training run beside --weights {args.weights} to read it from)"
            )
        module, forward = model.module.eval(), model.module
        what = f"the {type(module).__name__} model of {args.model}"
    else:
        if args.features is not None:
            raise CommandError(
                "--features is for --model; the tutorial network's weights record their inputs"
            )
        module = _network_file(args.weights)
        forward, features = module.forward, module.sizes[0]
        what = f"the {'-'.join(str(s) for s in module.sizes)} sigmoid network"
    if args.dtype is not None:
        module.to(args.dtype)  # e.g. float64 weights exported as a float32 model
    dtype = next(module.parameters()).dtype
    example = np.zeros((1, features), dtype=dtype)
    # (a model that does not take these inputs fails here, in one line)
    outputs = user_model.scores(model, example).shape[1] if args.model is not None else module.sizes[-1]
    classes = describe(outputs, tutorial=args.model is None)
    try:
        from ..export import export_onnx

        proto = export_onnx(
            forward,
            example,
            args.out,
            input_names=["X"],
            output_names=["scores"],
            overwrite=args.overwrite,
        )
    except ImportError as error:  # the onnx extra is not installed
        raise CommandError(str(error)) from None
    # The file says how to read its output too, for whoever loads it without this command's line
    proto.doc_string = (
        f"{what}: input X (examples x {features}), output scores (examples x {outputs}); {classes}"
    )
    proto.metadata_props.add(key="classes", value=classes)
    write_atomically(args.out, proto.SerializeToString(), overwrite=True)
    print(
        f"wrote {args.out}: {what} ({dtype}); input X (examples x {features}, raw values as in the data), "
        f"output scores (examples x {outputs}); {classes}"
    )
    return 0


COMMANDS = {
    "train": run_train,
    "evaluate": run_evaluate,
    "predict": run_predict,
    "graph": run_graph,
    "check": run_check,
    "export": run_export,
}


# Library messages name Python arguments; the command names its options instead.
CLI_WORDING = {
    "pass overwrite=True": "pass --overwrite",
    "pass y_path (--y-csv on the command line)": "add --y-csv",
    "y_path is only for CSV data": "--y-csv is only for CSV data",
    "call save_graph again": "run this command again",
}


def _worded(error: BaseException) -> str:
    message = str(error) or type(error).__name__
    for python, cli in CLI_WORDING.items():
        message = message.replace(python, cli)
    return message


def main(argv: Sequence[str] | None = None) -> int:
    settle()  # from here on, Ctrl-C is a KeyboardInterrupt this function turns into one line
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already printed as one line
        return done.code if isinstance(done.code, int) else 1
    except KeyboardInterrupt:
        print("autograd-nn: interrupted", file=sys.stderr)
        return INTERRUPTED
    command = f"autograd-nn {args.command}"
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # the reader went away (`autograd-nn predict | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (CommandError, AutogradError, OSError, ValueError) as error:
        print(f"{command}: error: {_worded(error)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{command}: error: out of memory; try smaller --hidden or --batch-size", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
