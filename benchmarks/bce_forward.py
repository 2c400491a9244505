"""How long does binary_cross_entropy_with_logits take at the tutorial's size (5000 x 10)?

Run ``python benchmarks/bce_forward.py`` on two checkouts to compare them: it prints the op's
forward alone (``BCEWithLogits.forward`` on arrays) and forward + backward through the engine, for
float64 and float32, as the best of ``--repeat`` timeit runs (µs per call). The logits are seeded
standard normal, the targets one-hot-like (10% ones), as in the tutorial's cost.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.ops import BCEWithLogits


def best_us(fn, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--number", type=int, default=50, help="calls per timing")
    parser.add_argument("--repeat", type=int, default=15, help="timings; the best is reported")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.rows, args.cols)
    for dtype in (np.float64, np.float32):
        z = rng.standard_normal(shape).astype(dtype)
        y = (rng.uniform(size=shape) < 0.1).astype(dtype)
        forward = BCEWithLogits("mean").forward
        zt = Tensor(z, requires_grad=True)

        def step(zt=zt, y=y):
            zt.grad = None
            ag.binary_cross_entropy_with_logits(zt, y).backward()

        print(
            f"{np.dtype(dtype).name} {shape[0]}x{shape[1]}: "
            f"forward {best_us(lambda z=z, y=y, forward=forward: forward(z, y), args.number, args.repeat):.0f} µs, "
            f"forward + backward {best_us(step, args.number, args.repeat):.0f} µs"
        )


if __name__ == "__main__":
    main()
