"""Check the tutorial's hand-written backprop against autodiff, and fix its mistakes one at a time.

The tutorial derives the gradients of its 2-layer sigmoid network by hand:

    delta3 = h - y                                   (m times dJ/dz3)
    delta2 = delta3 @ theta2 * a2 * (1 - a2)         (m times dJ/dz2; a2 * (1 - a2) is sigmoid'(z2))
    dJ/dtheta2 = delta3.T @ a2 / m     dJ/db2 = sum of delta3 over the examples / m
    dJ/dtheta1 = delta2.T @ X / m      dJ/db1 = sum of delta2 over the examples / m

Below, that backprop is written the way it is easy to get wrong, with three mistakes: the sign of
delta3 (y - h), bias gradients that are never computed (so the biases never move), and delta2 without
the sigmoid's derivative. ``compare_gradients`` checks every quantity (the deltas too, by the names
of the tensors they belong to, z3 and z2) against autodiff, says which one is wrong first and what
kind of mistake it is; the script fixes that one and checks again, until all are "ok".

Run it from the project root:  python examples/check_backprop.py [--graph OUT.svg]
(``--graph`` draws the last check that still had a mistake: green tensors agree, red ones do not.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import autograd_nn as ag
from autograd_nn.digits.data import load_dataset, one_hot
from autograd_nn.digits.network import Network, input_scale_for

ROOT = Path(__file__).resolve().parent.parent


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def tutorial_backprop(theta1, b1, theta2, b2, X, Y, fixed: list[str]) -> dict[str, np.ndarray]:
    """The tutorial's backprop by hand, with the mistakes not yet in ``fixed``."""
    m = X.shape[0]
    a2 = sigmoid(X @ theta1.T + b1)  # forward pass
    h = sigmoid(a2 @ theta2.T + b2)

    delta3 = h - Y if "the sign of delta3" in fixed else Y - h  # mistake: Y - h, the wrong sign
    if "the sigmoid's derivative in delta2" in fixed:
        delta2 = delta3 @ theta2 * a2 * (1 - a2)
    else:
        delta2 = delta3 @ theta2  # mistake: sigmoid'(z2) = a2 * (1 - a2) is missing
    if "the bias gradients" in fixed:
        grad_b2, grad_b1 = delta3.sum(axis=0) / m, delta2.sum(axis=0) / m
    else:
        grad_b2, grad_b1 = np.zeros_like(b2), np.zeros_like(b1)  # mistake: never computed

    return {
        "z3": delta3,
        "theta2": delta3.T @ a2 / m,
        "b2": grad_b2,
        "z2": delta2,
        "theta1": delta2.T @ X / m,
        "b1": grad_b1,
    }


# Which fix the first mismatch points at: the row nearest the loss is where to look first.
FIX_FOR = {
    "z3": "the sign of delta3",
    "b2": "the bias gradients",
    "b1": "the bias gradients",
    "z2": "the sigmoid's derivative in delta2",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", type=Path, default=None, help="draw the last check with a mistake here")
    args = parser.parse_args()

    data = load_dataset(ROOT / "data" / "digits.xlsx")
    rng = np.random.default_rng(0)
    rows = rng.choice(data.m, size=16, replace=False)  # a small random batch is enough to check gradients
    X, Y = data.X[rows] / input_scale_for(data.X), one_hot(data.y)[rows]
    m = X.shape[0]

    net = Network([data.n, 25, 10], seed=0)
    (theta1, b1), (theta2, b2) = net.params
    J = net.cost(X, Y)  # autodiff's side: the recorded graph, with z2 and z3 named by the network

    fixed: list[str] = []
    for attempt in range(1, len(set(FIX_FOR.values())) + 2):
        mine = tutorial_backprop(theta1.data, b1.data, theta2.data, b2.data, X, Y, fixed)
        # delta3 and delta2 are m times dJ/dz3 and dJ/dz2: say so, and they are compared as gradients
        report = ag.compare_gradients(J, mine, scale={"z3": 1 / m, "z2": 1 / m})
        print(f"--- check {attempt}" + (f", after fixing {', '.join(fixed)}" if fixed else ""))
        print(report)
        if report.ok:
            break
        if args.graph is not None:
            graph = ag.draw_graph(J, compare=report, title="The tutorial's backprop against autodiff")
            ag.save_graph(graph, args.graph, overwrite=True)
        fix = FIX_FOR[report.first_mismatch.name]
        print(f"=> fixing {fix}\n")
        fixed.append(fix)

    report.raise_for_mismatch()  # all "ok" now; this would fail loudly otherwise
    if args.graph is not None:
        print(f"\nwrote {args.graph}")


if __name__ == "__main__":
    main()
