"""What checking gradients costs: hooks in backward, compare_gradients, and its central differences.

Run ``python benchmarks/check_overhead.py`` (``--quick`` for a smoke run). It measures, median of
``--repeat`` runs:

1. **Hooks for programs that never use them**: backward through a 20,001-op chain of shape-(2,)
   tensors with no hook registered anywhere, and with a hook registered on an unrelated graph (so
   the engine's hook table is not empty and every value is looked up), taking turns. The difference, per op, is
   what ``register_hook``/``retain_grad`` cost a program that does not use them on that value.
2. **compare_gradients** on the tutorial's size (X 5000x400 -> 25 -> 10, float64) with all six
   quantities (theta1, b1, theta2, b2, z2, z3), against one plain ``backward()`` of the same cost.
3. **What ``autograd-nn check`` does**: compare_gradients with ``numeric=True`` (central differences
   by replaying the graph) on 16 examples of a 64-25-10 network.

Before timing, the comparison must find the hand-derived gradients right (the script stops with exit
status 1 otherwise), so the timed work is the real one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.digits.network import Network
from autograd_nn.digits.reference import sigmoid


def median_seconds(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chain(length: int) -> Tensor:
    x = Tensor(np.array([0.5, -0.25]), requires_grad=True)
    y = x
    for _ in range(length):
        y = y * 1.0001 + 0.001
    return y.sum()


def hand_backprop(net: Network, X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    (theta1, b1), (theta2, b2) = net.arrays()
    m = X.shape[0]
    a2 = sigmoid(X @ theta1.T + b1)
    delta3 = sigmoid(a2 @ theta2.T + b2) - Y
    delta2 = delta3 @ theta2 * a2 * (1 - a2)
    return {
        "z3": delta3 / m,
        "theta2": delta3.T @ a2 / m,
        "b2": delta3.sum(axis=0) / m,
        "z2": delta2 / m,
        "theta1": delta2.T @ X / m,
        "b1": delta2.sum(axis=0) / m,
    }


def problem(sizes: list[int], m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    net = Network(sizes, seed=seed)
    X = rng.random((m, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)]
    return net, X, Y


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per measurement (default 15)")
    parser.add_argument("--quick", action="store_true", help="small sizes and 3 runs: a smoke test")
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    length = 1_000 if args.quick else 10_000
    m = 500 if args.quick else 5000

    # 1. The hook table's cost to backward when no value has a hook: the two cases take turns on
    #    one recorded chain, so a slow spell of a busy machine hits both alike.
    loss = chain(length)
    other = Tensor([1.0], requires_grad=True) * 2
    times: dict[bool, list[float]] = {False: [], True: []}
    loss.backward()  # warm-up
    for _ in range(repeat):
        for table in (False, True):
            handle = other.register_hook(lambda g: None) if table else None
            start = time.perf_counter()
            loss.backward()
            times[table].append(time.perf_counter() - start)
            if handle is not None:
                handle.remove()
    ops = 2 * length + 1
    plain, with_table = (statistics.median(times[k]) * 1e6 / ops for k in (False, True))
    print(
        f"1. backward through {ops:,} ops: {plain:.2f} µs/op with no hooks anywhere, "
        f"{with_table:.2f} µs/op with a hook registered on another graph"
    )

    # 2. compare_gradients against a plain backward, tutorial size.
    net, X, Y = problem([400, 25, 10], m)
    mine = hand_backprop(net, X, Y)
    report = ag.compare_gradients(net.cost(X, Y), mine)
    if not report.ok:
        print(report, file=sys.stderr)
        return 1

    def backward_only() -> None:
        for p in net.parameters():
            p.grad = None
        net.cost(X, Y).backward()

    def compare() -> None:
        ag.compare_gradients(net.cost(X, Y), mine)

    step = median_seconds(backward_only, repeat)
    compared = median_seconds(compare, repeat)
    print(
        f"2. {m}x400 -> 25 -> 10: cost + backward {step * 1e3:.1f} ms; "
        f"cost + compare_gradients of 6 tensors {compared * 1e3:.1f} ms ({compared / step:.2f}x)"
    )

    # 3. What autograd-nn check does: 16 examples, 64-25-10, with central differences.
    net, X, Y = problem([64, 25, 10], 16)
    mine = hand_backprop(net, X, Y)
    report = ag.compare_gradients(net.cost(X, Y), mine, numeric=True)
    if not report.ok:
        print(report, file=sys.stderr)
        return 1
    numeric = median_seconds(
        lambda: ag.compare_gradients(net.cost(X, Y), mine, numeric=True), max(1, repeat // 3)
    )
    print(f"3. 16 examples, 64-25-10, numeric=True (central differences by replay): {numeric * 1e3:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
