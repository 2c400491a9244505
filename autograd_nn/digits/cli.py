"""The ``autograd-nn`` command line: train, evaluate, predict, graph, export. Thin: parses, calls, prints.

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

    export = commands.add_parser(
        "export", help="write trained weights as an ONNX model (needs the onnx extra)"
    )
    export.add_argument("--weights", type=Path, required=True, help="weights.npz from a training run")
    export.add_argument("--out", type=Path, required=True, help="ONNX file to write, e.g. model.onnx")
    export.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
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


def run_export(args: argparse.Namespace) -> int:
    """The trained network's forward pass (raw pixels in, class scores out) as an ONNX file."""
    from .network import Network

    taken = f"{args.out} already exists; pass --overwrite to replace it"
    if args.out.exists() and not args.overwrite:
        raise FileExistsError(taken)
    network = Network.load(args.weights)
    try:
        from ..export import export_onnx

        example = np.zeros((1, network.sizes[0]), dtype=network.dtype)
        export_onnx(
            network.forward,
            example,
            args.out,
            input_names=["X"],
            output_names=["scores"],
            overwrite=args.overwrite,
        )
    except ImportError as error:
        raise AutogradError(str(error)) from None
    except FileExistsError:  # the file appeared while exporting
        raise FileExistsError(taken) from None
    sizes = "-".join(str(s) for s in network.sizes)
    print(
        f"wrote {args.out}: the {sizes} sigmoid network ({network.dtype}); input X (examples x "
        f"{network.sizes[0]}, raw values as in the data), output scores (examples x {network.sizes[-1]}); "
        "label = argmax + 1"
    )
    return 0


COMMANDS = {
    "train": run_train,
    "evaluate": run_evaluate,
    "predict": run_predict,
    "graph": run_graph,
    "export": run_export,
}


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
