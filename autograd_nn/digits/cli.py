"""The ``autograd-nn`` command line: train, evaluate, predict, graph. Thin: parses, calls, prints.

User errors (bad data, missing files, an existing run folder) end with one line on stderr and a
non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import AutogradError

BUNDLED_DATA = Path(__file__).resolve().parents[2] / "data" / "digits.xlsx"


def _default_data() -> Path:
    return BUNDLED_DATA if BUNDLED_DATA.exists() else Path("data/digits.xlsx")


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
        help="workbook (.xlsx) or X CSV (default: the bundled data/digits.xlsx)",
    )
    parser.add_argument(
        "--x-sheet", default="X", help="sheet with one row of features per example (default: X)"
    )
    parser.add_argument("--y-sheet", default="y", help="sheet with one label 1-10 per row (default: y)")
    parser.add_argument(
        "--y-csv", type=Path, default=None, help="labels CSV, when --data is a CSV of features"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autograd-nn",
        description="Train, evaluate and draw the tutorial's digits network with a NumPy autodiff engine.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the network and write a run folder")
    _add_data_arguments(train)
    train.add_argument(
        "--hidden",
        type=_hidden_sizes,
        default=(25,),
        help="hidden layer sizes, e.g. 25 or 32,16 (default: 25)",
    )
    train.add_argument("--epochs", type=int, default=300, help="passes over the training set (default: 300)")
    train.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: 0.003 for adam, 0.5 for momentum, 2.0 for gd)",
    )
    train.add_argument(
        "--lambda", dest="lam", type=float, default=0.3, help="L2 regularization strength (default: 0.3)"
    )
    train.add_argument(
        "--batch-size", type=int, default=64, help="examples per step; 0 means full batch (default: 64)"
    )
    train.add_argument(
        "--optimizer", choices=("adam", "momentum", "gd"), default="adam", help="(default: adam)"
    )
    train.add_argument(
        "--seed", type=int, default=0, help="seed for the split, initialisation and shuffling (default: 0)"
    )
    train.add_argument(
        "--holdout", type=float, default=0.2, help="fraction held out, stratified (default: 0.2)"
    )
    train.add_argument(
        "--patience",
        type=int,
        default=None,
        help="stop after this many epochs without a better held-out cost",
    )
    train.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    train.add_argument(
        "--no-scale", action="store_true", help="do not divide inputs by the training set's largest value"
    )
    train.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<date-time>)")
    train.add_argument(
        "--overwrite", action="store_true", help="replace the files of an earlier run in --out"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = commands.add_parser(
        "evaluate", help="accuracy and confusion matrix of trained weights on a dataset"
    )
    evaluate.add_argument("--weights", type=Path, required=True, help="weights.npz from a training run")
    _add_data_arguments(evaluate)

    predict = commands.add_parser("predict", help="write predicted digits as CSV")
    predict.add_argument("--weights", type=Path, required=True, help="weights.npz from a training run")
    _add_data_arguments(predict)
    predict.add_argument(
        "--out", type=Path, default=None, help="CSV file to write (default: standard output)"
    )
    predict.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    graph = commands.add_parser("graph", help="draw the network's cost graph with Graphviz")
    graph.add_argument("--hidden", type=_hidden_sizes, default=(25,), help="hidden layer sizes (default: 25)")
    graph.add_argument(
        "--data", type=Path, default=None, help="workbook for the backward pass (default: bundled digits)"
    )
    graph.add_argument(
        "--format", choices=("svg", "png", "pdf", "dot"), default=None, help="(default: from --out, else svg)"
    )
    graph.add_argument("--out", type=Path, default=None, help="output file (default: network_graph.<format>)")
    graph.add_argument(
        "--backward", action="store_true", help="draw the backward view (gradients flowing to the parameters)"
    )
    graph.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    _add_check_parser(commands)
    return parser


def _load(args: argparse.Namespace):
    from .data import load_dataset

    return load_dataset(
        args.data or _default_data(), x_sheet=args.x_sheet, y_sheet=args.y_sheet, y_path=args.y_csv
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


def run_train(args: argparse.Namespace) -> int:
    from .runs import check_run_folder, write_run
    from .train import TrainConfig, train_network

    config = TrainConfig(
        hidden=args.hidden,
        epochs=args.epochs,
        lr=DEFAULT_LR[args.optimizer] if args.lr is None else args.lr,
        lam=args.lam,
        batch_size=None if args.batch_size == 0 else args.batch_size,
        optimizer=args.optimizer,
        seed=args.seed,
        holdout=args.holdout,
        patience=args.patience,
        scale_inputs=not args.no_scale,
        dtype=args.dtype,
    )
    out = args.out or _fresh_run_folder()
    check_run_folder(out, overwrite=args.overwrite)  # fail before training, not after
    dataset = _load(args)
    print(
        f"data: {dataset.source}: {dataset.m} examples x {dataset.n} features, labels 1-{dataset.num_labels}"
    )
    sizes = "-".join(str(s) for s in (dataset.n, *config.hidden, dataset.num_labels))
    batch = "full batch" if config.batch_size is None else f"batches of {config.batch_size}"
    print(
        f"network: {sizes} sigmoid; {config.optimizer}, lr={config.lr:g}, lambda={config.lam:g}, {batch}, {config.epochs} epochs"
    )
    result = train_network(dataset, config, progress=not args.quiet)
    paths = write_run(result, out, overwrite=True)
    final = result.final
    stop = f" (stopped early; kept epoch {result.best_epoch})" if result.stopped_early else ""
    print(f"trained in {result.seconds:.1f} s{stop}")
    print(f"train cost {final['train_cost']:.4f}, held-out cost {final['heldout_cost']:.4f}")
    print(
        f"held-out accuracy: {final['heldout_accuracy']:.2%} on {result.heldout_set.m} examples "
        f"(train accuracy {final['train_accuracy']:.2%})"
    )
    print(f"wrote {paths['history'].parent}/: " + ", ".join(p.name for p in paths.values()))
    return 0


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


def _network_for(args: argparse.Namespace, features: int):
    from .network import Network

    network = Network.load(args.weights)
    if network.sizes[0] != features:
        raise AutogradError(
            f"{args.weights}: the network takes {network.sizes[0]} inputs but the data has {features} features per row"
        )
    return network


def run_evaluate(args: argparse.Namespace) -> int:
    from .data import labels_to_digits

    dataset = _load(args)
    network = _network_for(args, dataset.n)
    predicted = network.predict(dataset.X)
    accuracy = float(np.mean(predicted == dataset.y))
    print(
        f"{dataset.source}: {dataset.m} examples; accuracy {accuracy:.2%} ({int(np.sum(predicted == dataset.y))} correct)"
    )
    if network.sizes[-1] == 10:
        counts = confusion_matrix(labels_to_digits(dataset.y), labels_to_digits(predicted))
        print("confusion matrix (rows: true digit, columns: predicted digit)")
        print(format_confusion(counts))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from ..files import write_atomically
    from ..grad_mode import no_grad
    from .data import labels_to_digits, load_features
    from .network import labels_from_scores

    features = load_features(args.data or _default_data(), x_sheet=args.x_sheet)
    network = _network_for(args, features.shape[1])
    with no_grad():
        scores = network.forward(features).data
    labels = labels_from_scores(scores)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "label", "digit", "score"])
    digits = labels_to_digits(labels) if network.sizes[-1] == 10 else labels
    for row, (label, digit, score) in enumerate(
        zip(labels, digits, scores.max(axis=1), strict=True), start=1
    ):
        writer.writerow([row, int(label), int(digit), f"{score:.6f}"])
    if args.out is None:
        sys.stdout.write(buffer.getvalue())
        return 0
    write_atomically(args.out, buffer.getvalue().encode(), overwrite=args.overwrite)
    print(f"wrote {len(labels)} predictions to {args.out}", file=sys.stderr)
    return 0


def run_graph(args: argparse.Namespace) -> int:
    from ..viz import draw_graph, save_graph
    from .data import load_dataset, one_hot
    from .network import Network, input_scale_for

    fmt = args.format or (args.out.suffix.lstrip(".") if args.out and args.out.suffix else "svg")
    out = args.out or Path(f"network_graph.{fmt}")
    dataset = load_dataset(args.data or _default_data())
    network = Network([dataset.n, *args.hidden, dataset.num_labels], input_scale=input_scale_for(dataset.X))
    cost = network.cost(dataset.X, one_hot(dataset.y, dataset.num_labels))
    cost.backward()
    sizes = "-".join(str(s) for s in network.sizes)
    graph = draw_graph(
        cost, backward=args.backward, title=f"cost of the {sizes} sigmoid network on {dataset.m} digits"
    )
    written = save_graph(graph, out, format=fmt, overwrite=args.overwrite)
    print(f"wrote {written}")
    return 0


def _add_check_parser(commands) -> None:
    check = commands.add_parser(
        "check", help="compare a hand-derived backprop with autodiff and central differences"
    )
    _add_data_arguments(check)
    check.add_argument("--hidden", type=_hidden_sizes, default=(25,), help="hidden layer sizes (default: 25)")
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
    check.add_argument("--examples", type=int, default=16, help="size of the random batch (default: 16)")
    check.add_argument("--seed", type=int, default=0, help="seed for the batch and the weights (default: 0)")


def run_check(args: argparse.Namespace) -> int:
    """Compare a hand-derived backprop with autodiff on a random batch; exit 0 when all agree, 1 if not."""
    from ..checking import compare_gradients
    from ..viz import draw_graph, save_graph
    from .data import one_hot
    from .network import Network, input_scale_for

    if args.examples < 1:
        raise ValueError(f"--examples must be at least 1, got {args.examples}")
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.graph is not None and args.graph.exists() and not args.overwrite:
        raise FileExistsError(f"--graph: {args.graph} already exists; pass --overwrite to replace it")
    backprop, label = _load_backprop(args.backprop) if args.backprop else (_reference_backprop, None)
    dataset = _load(args)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(dataset.m, size=min(args.examples, dataset.m), replace=False))
    X = dataset.X[rows] / input_scale_for(dataset.X)  # what the network sees, and what your backprop gets
    Y = one_hot(dataset.y, dataset.num_labels)[rows]
    network = Network([dataset.n, *args.hidden, dataset.num_labels], seed=args.seed)
    sizes = "-".join(str(s) for s in network.sizes)
    print(f"data: {dataset.source}: {len(rows)} random examples of {dataset.m}; network {sizes}")
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
    if report.not_compared:  # a parameter without a gradient would never be updated
        print(
            f"Missing: no gradient for {', '.join(report.not_compared)}, so training would never update them."
        )
    if args.graph is not None:
        graph = draw_graph(cost, compare=report, title=f"gradient check of the {sizes} network")
        print(f"wrote {save_graph(graph, args.graph, overwrite=args.overwrite)}")
    return 0 if report.ok and not report.not_compared else 1


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
    import importlib.util

    path_text, colon, name = spec.rpartition(":")
    if not colon or not path_text or not name.isidentifier():
        raise AutogradError(f"--backprop: expected FILE.py:FUNCTION, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise AutogradError(f"--backprop: {path}: no such file")
    module_spec = importlib.util.spec_from_file_location(f"_autograd_nn_backprop_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise AutogradError(f"--backprop: {path}: not a Python file (.py)")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        raise AutogradError(f"--backprop: {path}: loading it raised {_where_raised(error, path)}") from None
    function = getattr(module, name, None)
    if not callable(function):
        defined = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        also = f"; it defines {', '.join(defined)}" if defined else ""
        raise AutogradError(f"--backprop: {path} has no function {name!r}{also}")
    return function, f"{name}(params, X, Y) in {path}"


def _call_backprop(function, label: str, params: dict, X: np.ndarray, Y: np.ndarray) -> dict:
    path = Path(label.rsplit(" in ", 1)[1])
    try:
        result = function(params, X, Y)
    except Exception as error:
        raise AutogradError(f"--backprop: {label} raised {_where_raised(error, path)}") from None
    if not isinstance(result, dict):
        raise AutogradError(
            f"--backprop: {label} returned {type(result).__name__}; it must return a dict of gradients "
            "by name, such as {'theta1': ..., 'b1': ..., 'theta2': ..., 'b2': ...}"
        )
    return result


def _where_raised(error: BaseException, path: Path) -> str:
    """'ValueError: ... (line 12)': the error and the line of the user's file it came from."""
    import traceback

    line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    text = " ".join(str(error).split())
    return f"{type(error).__name__}{': ' + text if text else ''}" + (f" (line {line})" if line else "")


COMMANDS = {"train": run_train, "evaluate": run_evaluate, "predict": run_predict, "graph": run_graph}
COMMANDS["check"] = run_check


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (AutogradError, FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"autograd-nn {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"autograd-nn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
