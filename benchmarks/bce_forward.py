"""How long do binary_cross_entropy_with_logits and sigmoid take, per op, at the tutorial's sizes?

Run ``python benchmarks/bce_forward.py`` on two checkouts to compare them. For float64 and float32
it prints, as the best of ``--repeat`` timeit runs (µs per call):

- ``BCEWithLogits("mean")`` on logits and targets of shape (rows, 10): ``forward`` (eager),
  ``forward_into`` (what a compiled step replays, with its planned scratch buffers), ``vjp`` and
  ``vjp_into``, beside the hand-written cost of ``digits/reference.py`` (``_cost_from_logits``);
- ``Sigmoid`` on (rows, 25), the hidden layer's shape: ``forward``, ``forward_into``, ``vjp``,
  ``vjp_into``;
- forward + backward of the BCE through the engine (``Tensor`` in, ``backward()``).

Rows are the mini-batch (64) and the course's full batch (5000) unless ``--rows`` says otherwise.
The logits are seeded standard normal, the targets one-hot-like (10% ones), as in the tutorial's cost.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.digits.reference import _cost_from_logits
from autograd_nn.ops import BCEWithLogits, Sigmoid


def best_us(fn, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def needing_gradient(op, *targets):
    """``op`` as backward sees it: ``targets`` says which inputs need a gradient (vjp skips the rest)."""
    op.targets = targets
    return op


def bce_timings(rows: int, cols: int, dtype, number: int, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((rows, cols)).astype(dtype)
    y = (rng.uniform(size=z.shape) < 0.1).astype(dtype)
    op = needing_gradient(BCEWithLogits("mean"), object(), None)
    scratch = tuple(np.empty(shape, dt) for shape, dt in op.forward_scratch(z, y))
    out = np.empty((), dtype)
    g = np.ones((), dtype)
    loss = op.forward(z, y)
    gz = np.empty_like(z)
    zt = Tensor(z, requires_grad=True)

    def engine_step():
        zt.grad = None
        ag.binary_cross_entropy_with_logits(zt, y).backward()

    def hand_written():
        with np.errstate(under="ignore"):
            return _cost_from_logits([], z, y, rows, 0.0)

    return {
        "forward": best_us(lambda: op.forward(z, y), number, repeat),
        "forward_into": best_us(lambda: op.forward_into(out, z, y, scratch), number, repeat),
        "vjp": best_us(lambda: op.vjp(g, loss, z, y), number, repeat),
        "vjp_into": best_us(lambda: op.vjp_into((gz, None), g, out, z, y), number, repeat),
        "hand-written cost": best_us(hand_written, number, repeat),
        "engine forward + backward": best_us(engine_step, number, repeat),
    }


def sigmoid_timings(rows: int, cols: int, dtype, number: int, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((rows, cols)).astype(dtype)
    op = needing_gradient(Sigmoid(), object())
    out = np.empty_like(x)
    s = op.forward(x)
    g = rng.standard_normal(x.shape).astype(dtype)
    gx = np.empty_like(x)
    return {
        "forward": best_us(lambda: op.forward(x), number, repeat),
        "forward_into": best_us(lambda: op.forward_into(out, x), number, repeat),
        "vjp": best_us(lambda: op.vjp(g, s, x), number, repeat),
        "vjp_into": best_us(lambda: op.vjp_into((gx,), g, s, x), number, repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[64, 5000])
    parser.add_argument(
        "--number", type=int, default=0, help="calls per timing (default: about 2 ms of work)"
    )
    parser.add_argument("--repeat", type=int, default=15, help="timings; the best is reported")
    args = parser.parse_args()
    for dtype in (np.float64, np.float32):
        for rows in args.rows:
            number = args.number or max(20, 200_000 // (rows * 10))
            for title, cols, timings in (
                ("bce_with_logits mean", 10, bce_timings),
                ("sigmoid", 25, sigmoid_timings),
            ):
                results = timings(rows, cols, dtype, number, args.repeat)
                line = ", ".join(f"{name} {us:.1f}" for name, us in results.items())
                print(f"{np.dtype(dtype).name} {title} {rows}x{cols} (µs): {line}", flush=True)


if __name__ == "__main__":
    main()
