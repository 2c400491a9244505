"""The tutorial's forward pass and cost, written in its own NumPy style, differentiated without changing a line.

``forward`` and ``cost_function`` below are plain NumPy, as the tutorial writes them: the bias unit as a
column of ones joined with ``np.hstack``, ``np.dot(a, theta.T)``, ``1 / (1 + np.exp(-z))`` and
``np.sum(np.sum(...)) / m``. Called with ndarrays they give a float. Called with Tensor weights, NumPy
hands every call to the Tensors (``__array_function__``, ``__array_ufunc__``) and the same code records a
graph: its drawing names the NumPy functions the code called (hstack, dot, exp, log, sum).
The tutorial's hand-written backprop is then checked against autodiff with ``ag.compare_gradients``.

Run it from the project root:  python examples/numpy_forward.py [--graph OUT.svg]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

import autograd_nn as ag
from autograd_nn.digits.data import load_dataset, one_hot
from autograd_nn.digits.network import input_scale_for

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- the tutorial's code, unchanged


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(theta1, theta2, X):
    m = X.shape[0]
    a1 = np.hstack((np.ones((m, 1)), X))
    z2 = np.dot(a1, theta1.T)
    a2 = np.hstack((np.ones((m, 1)), sigmoid(z2)))
    z3 = np.dot(a2, theta2.T)
    h = sigmoid(z3)
    return a1, a2, h


def cost_function(theta1, theta2, X, y):
    m = X.shape[0]
    h = forward(theta1, theta2, X)[-1]
    return np.sum(np.sum(-np.log(h) * y - np.log(1 - h) * (1 - y))) / m


def backprop(theta1, theta2, X, y):
    """The tutorial's gradients, derived by hand (plain arrays)."""
    m = X.shape[0]
    a1, a2, h = forward(theta1, theta2, X)
    delta3 = h - y
    delta2 = np.dot(delta3, theta2[:, 1:]) * a2[:, 1:] * (1 - a2[:, 1:])
    return np.dot(delta2.T, a1) / m, np.dot(delta3.T, a2) / m


# ---------------------------------------------------------------- differentiating it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", type=Path, default=None, help="save the drawing here (.svg, .png, .dot)")
    args = parser.parse_args()

    data = load_dataset(ROOT / "data" / "digits.xlsx")
    rng = np.random.default_rng(0)
    rows = rng.choice(data.m, size=32, replace=False)
    X, y = data.X[rows] / input_scale_for(data.X), one_hot(data.y)[rows]
    theta1 = rng.uniform(-0.12, 0.12, (25, data.n + 1))
    theta2 = rng.uniform(-0.12, 0.12, (10, 26))

    J_array = cost_function(theta1, theta2, X, y)  # plain NumPy: a float
    t1 = ag.Tensor(theta1, requires_grad=True, name="theta1")
    t2 = ag.Tensor(theta2, requires_grad=True, name="theta2")
    J = cost_function(t1, t2, X, y)  # the same code on Tensors: a recorded graph
    print(f"cost with ndarrays: {J_array:.12f} ({type(J_array).__name__})")
    print(f"cost with Tensors:  {J.item():.12f} ({type(J).__name__}, op {J.op.label()})")

    graph = ag.draw_graph(J, title="The tutorial's NumPy forward pass, recorded")
    labels = set(re.findall(r"\blabel=\"?(\w+)", graph.source))
    print("NumPy functions named in the drawing:", ", ".join(n for n in NUMPY_NAMES if n in labels))
    if args.graph is not None:
        ag.save_graph(graph, args.graph, overwrite=True)
        print(f"wrote {args.graph}")

    grad_theta1, grad_theta2 = backprop(theta1, theta2, X, y)
    report = ag.compare_gradients(J, {"theta1": grad_theta1, "theta2": grad_theta2})
    print(report)
    report.raise_for_mismatch()  # all "ok": the hand-written backprop agrees with autodiff


NUMPY_NAMES = ["hstack", "dot", "exp", "log", "sum"]  # (operators appear as add, sub, mul, div, neg)


if __name__ == "__main__":
    main()
