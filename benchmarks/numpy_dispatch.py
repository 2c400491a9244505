"""What NumPy's entry points cost on Tensors, next to the Tensor's own operators; and small integer powers.

Run ``python benchmarks/numpy_dispatch.py`` (``--quick`` for a smoke run). Best of ``--repeat`` timings:

1. **Per-op overhead** on shape-(2,) tensors, forward only: ``ndarray * t`` and ``X @ t`` (NumPy hands the
   ufunc to ``Tensor.__array_ufunc__``, which looks the op up in ``numpy_dispatch.UFUNCS``), ``np.exp(t)`` and
   ``np.dot(X, t)`` (``__array_function__``), beside ``t * s``, ``t.exp()`` and ``t @ w``, which call the
   op directly and never pass through the tables. Imported objects are frozen (``gc.freeze``), as in
   ``train_step.py``'s per-op figures.
2. **Small integer powers** on a mixed-sign (32, 32, 256) float64 array: ``x ** 3`` and ``np.power(x, 3)``
   (multiplications, ``ops.arithmetic._integer_power``) against ``x * x * x``, forward and forward + backward.
"""

from __future__ import annotations

import argparse
import gc
import timeit

import numpy as np

from autograd_nn import Tensor


def best_seconds(stmt: str, names: dict, number: int, repeat: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=repeat, globals=names)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="timings per statement (the best is kept)")
    parser.add_argument("--quick", action="store_true", help="few loops: a smoke run, not real numbers")
    args = parser.parse_args()
    loops, big_loops = (200, 2) if args.quick else (20000, 20)
    gc.collect()
    gc.freeze()  # as train_step's per-op figures: the cyclic collector would rescan the imported objects

    a = np.array([0.5, -0.25])
    t = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    s = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    X = np.ones((2, 2))
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    names = {"a": a, "t": t, "s": s, "X": X, "w": w, "np": np}
    print("== per-op overhead, forward only, shape-(2,) tensors (µs per op; best of runs) ==")
    pairs = [("a * t", "t * s"), ("X @ w", "w @ X"), ("np.exp(t)", "t.exp()"), ("np.dot(X, w)", "w @ X")]
    for through_numpy, direct in pairs:
        numpy_us = best_seconds(through_numpy, names, loops, args.repeat) * 1e6
        direct_us = best_seconds(direct, names, loops, args.repeat) * 1e6
        print(f"  {through_numpy:<14} {numpy_us:6.2f} µs   ({direct:<8} {direct_us:6.2f} µs)")

    x = Tensor(np.random.default_rng(0).standard_normal((32, 32, 256)), requires_grad=True)
    ones = np.ones(x.shape)
    names = {"x": x, "np": np, "ones": ones}
    print("\n== x ** 3 on a mixed-sign (32, 32, 256) float64 tensor (ms; best of runs) ==")
    for stmt in (
        "x * x * x",
        "x ** 3",
        "np.power(x, 3)",
        "(x * x * x).backward(ones)",
        "(x ** 3).backward(ones)",
    ):
        print(f"  {stmt:<28} {best_seconds(stmt, names, big_loops, args.repeat) * 1e3:7.3f} ms")


if __name__ == "__main__":
    main()
