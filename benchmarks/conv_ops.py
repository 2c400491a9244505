"""How long do conv2d and max_pool2d take at the sizes of the digits CNN?

Run ``python benchmarks/conv_ops.py`` (``--help`` for options). The CNN of issue 9 is
Conv2d(1, 16, 3, padding=1) -> ReLU -> MaxPool2d(2) -> Conv2d(16, 32, 3, padding=1) -> ReLU -> MaxPool2d(2)
on batches of 256 images of 1x8x8. For each dtype this times, on seeded random data:

- conv1: x (256, 1, 8, 8), w (16, 1, 3, 3), b (16,), padding 1; the input is data, so backward computes
  the weight and bias gradients only (as in training);
- conv2: x (256, 16, 4, 4), w (32, 16, 3, 3), b (32,), padding 1; backward also computes the input's
  gradient (it is an intermediate in the network);
- pool1 and pool2: max_pool2d(2) of (256, 16, 8, 8) and (256, 32, 4, 4), backward to the input.

- cnn: the whole network's loss and gradients, written with these functions alone (conv, relu, pool,
  conv, relu, pool, reshape, a 128 -> 10 matmul, cross_entropy on integer labels): what one training step
  costs before any optimizer or module bookkeeping.

"forward" runs the op under ``no_grad``; "forward + backward" records it and calls
``(out * g).sum().backward()`` with a fixed random g (the sum and product are included: two cheap ops).
Before timing, results are checked: conv forward against an einsum over the padded windows, and
the gradients through the bilinear identities <g, conv(x, w)> = <gx, x> = <gw, w>; pooling's gradient
must sum to the incoming one. A mismatch stops the script with exit status 1. PyTorch eager is timed
beside when it is installed (never required). Each figure is the median of ``--repeat`` runs after two
warm-ups; the machine's load shows in the spread, so the minimum is printed too.

BLAS threads: on a small busy machine a multi-threaded BLAS can make these small products many times
slower; the script prints the thread-related environment it ran with. Compare runs with
``OPENBLAS_NUM_THREADS=1`` (or ``OMP_NUM_THREADS=1``) and without. Memory: glibc hands large freed
buffers back to the system, and touching fresh pages again costs page faults on every step; running with
``MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000`` shows how much of a figure that is
(about a quarter of the CPU time of a float64 CNN step on the machine this was written on).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor

CASES = {
    # name: (x shape, weight shape or None for pooling, whether x needs a gradient)
    "conv1": ((256, 1, 8, 8), (16, 1, 3, 3), False),
    "conv2": ((256, 16, 4, 4), (32, 16, 3, 3), True),
    "pool1": ((256, 16, 8, 8), None, True),
    "pool2": ((256, 32, 4, 4), None, True),
}


def shrink(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (4, *shape[1:])  # --quick: a batch of 4


def timed(fn, repeat: int) -> tuple[float, float]:
    """(median, min) wall time of fn() in milliseconds, after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def conv_by_einsum(x: np.ndarray, w: np.ndarray, padding: int) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, w.shape[2:], axis=(2, 3))
    return np.einsum("ncijab,ocab->noij", windows, w)


def check(name: str, x: np.ndarray, w: np.ndarray | None, g: np.ndarray) -> None:
    """Stop with exit status 1 when the op's forward or gradients are wrong at this size."""
    tol = 1e-10 if x.dtype == np.float64 else 1e-3
    xt = Tensor(x, requires_grad=True)
    if w is None:
        out = ag.max_pool2d(xt, 2)
        (out * g).sum().backward()
        problems = (
            [] if np.allclose(xt.grad.sum(), g.sum(), rtol=tol) else ["the input gradient does not sum to g"]
        )
    else:
        wt, bt = (
            Tensor(w, requires_grad=True),
            Tensor(np.zeros(w.shape[0], dtype=x.dtype), requires_grad=True),
        )
        out = ag.conv2d(xt, wt, bt, padding=1)
        (out * g).sum().backward()
        pairing = float(np.vdot(g, out.data))
        problems = [
            label
            for label, ok in [
                ("forward", np.allclose(out.data, conv_by_einsum(x, w, 1), rtol=tol, atol=tol)),
                ("<gx, x>", np.isclose(np.vdot(xt.grad, x), pairing, rtol=tol)),
                ("<gw, w>", np.isclose(np.vdot(wt.grad, w), pairing, rtol=tol)),
                ("bias", np.allclose(bt.grad, g.sum(axis=(0, 2, 3)), rtol=tol, atol=tol)),
            ]
            if not ok
        ]
    if out.dtype != x.dtype or (xt.grad is not None and xt.grad.dtype != x.dtype):
        problems.append(f"results are not {x.dtype}")
    if problems:
        print(f"{name} ({x.dtype}): WRONG: {', '.join(problems)}", file=sys.stderr)
        sys.exit(1)


def autograd_nn_timings(name: str, x: np.ndarray, w: np.ndarray | None, x_grad: bool, g, repeat: int):
    b = None if w is None else np.zeros(w.shape[0], dtype=x.dtype)

    def forward_only():
        with ag.no_grad():
            return ag.max_pool2d(x, 2) if w is None else ag.conv2d(x, w, b, padding=1)

    def forward_backward():
        xt = Tensor(x, requires_grad=x_grad)
        if w is None:
            out = ag.max_pool2d(xt, 2)
        else:
            out = ag.conv2d(xt, Tensor(w, requires_grad=True), Tensor(b, requires_grad=True), padding=1)
        (out * g).sum().backward()

    return timed(forward_only, repeat), timed(forward_backward, repeat)


def torch_timings(x: np.ndarray, w: np.ndarray | None, x_grad: bool, g, repeat: int):
    import torch

    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    tw = None if w is None else torch.from_numpy(w)
    tb = None if w is None else torch.zeros(w.shape[0], dtype=tx.dtype)

    def op(xx, ww, bb):
        if ww is None:
            return torch.nn.functional.max_pool2d(xx, 2)
        return torch.nn.functional.conv2d(xx, ww, bb, padding=1)

    def forward_only():
        with torch.no_grad():
            return op(tx, tw, tb)

    def forward_backward():
        xx = tx.clone().requires_grad_(x_grad)
        ww = None if tw is None else tw.clone().requires_grad_(True)
        bb = None if tb is None else tb.clone().requires_grad_(True)
        (op(xx, ww, bb) * tg).sum().backward()

    return timed(forward_only, repeat), timed(forward_backward, repeat)


def cnn_parameters(rng, dtype) -> list[np.ndarray]:
    shapes = [(16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (128, 10)]
    return [(rng.standard_normal(s) * 0.2).astype(dtype) for s in shapes]


def cnn_loss(images, labels, w1, b1, w2, b2, w3):
    h = ag.max_pool2d(ag.conv2d(images, w1, b1, padding=1).relu(), 2)
    h = ag.max_pool2d(ag.conv2d(h, w2, b2, padding=1).relu(), 2)
    return ag.cross_entropy(h.reshape(h.shape[0], 128) @ w3, labels)


def cnn_timings(images, labels, params, repeat: int):
    def forward_only():
        with ag.no_grad():
            return cnn_loss(images, labels, *params)

    def forward_backward():
        cnn_loss(images, labels, *[Tensor(p, requires_grad=True) for p in params]).backward()

    return timed(forward_only, repeat), timed(forward_backward, repeat)


def torch_cnn_timing(images, labels, params, repeat: int) -> float:
    import torch
    import torch.nn.functional as F

    x, y = torch.from_numpy(images), torch.from_numpy(labels)

    def forward_backward():
        w1, b1, w2, b2, w3 = [torch.from_numpy(p).requires_grad_(True) for p in params]
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
        F.cross_entropy(h.reshape(h.shape[0], 128) @ w3, y).backward()

    return timed(forward_backward, repeat)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per figure (default 30)")
    parser.add_argument(
        "--quick", action="store_true", help="a batch of 4 and 3 runs: a smoke test, not real numbers"
    )
    parser.add_argument("--skip-torch", action="store_true", help="leave PyTorch out even when installed")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else args.repeat
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    try:
        if args.skip_torch:
            raise ImportError
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None

    threads = {
        k: os.environ[k]
        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        if k in os.environ
    }
    print(
        f"numpy {np.__version__}; BLAS threads environment: {threads or 'not set'}; cores: {os.cpu_count()}"
    )
    print(f"PyTorch: {torch_version or 'not installed (or skipped)'}; median (min) of {repeat} runs, in ms")
    header = f"{'op':6} {'dtype':8} {'x shape':18} {'forward':>16} {'forward + backward':>20}"
    if torch_version:
        header += f" {'torch fwd+bwd':>16} {'ratio':>6}"
    print(header)
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        for name, (x_shape, w_shape, x_grad) in CASES.items():
            x_shape = shrink(x_shape) if args.quick else x_shape
            x = rng.standard_normal(x_shape).astype(dtype)
            w = None if w_shape is None else (rng.standard_normal(w_shape) * 0.3).astype(dtype)
            out_shape = (
                (x_shape[0], x_shape[1], x_shape[2] // 2, x_shape[3] // 2)
                if w is None
                else (x_shape[0], w_shape[0], *x_shape[2:])
            )
            g = rng.standard_normal(out_shape).astype(dtype)
            check(name, x, w, g)
            (fwd, fwd_min), (both, both_min) = autograd_nn_timings(name, x, w, x_grad, g, repeat)
            line = f"{name:6} {dtype:8} {x_shape!s:18} {fwd:8.3f} ({fwd_min:5.3f}) {both:10.3f} ({both_min:6.3f})"
            if torch_version:
                _, (t_both, _) = torch_timings(x, w, x_grad, g, repeat)
                line += f" {t_both:16.3f} {both / t_both:6.2f}"
            print(line)
        batch = 4 if args.quick else 256
        images, labels = rng.standard_normal((batch, 1, 8, 8)).astype(dtype), rng.integers(0, 10, batch)
        params = cnn_parameters(rng, dtype)
        (fwd, fwd_min), (both, both_min) = cnn_timings(images, labels, params, repeat)
        line = f"{'cnn':6} {dtype:8} {images.shape!s:18} {fwd:8.3f} ({fwd_min:5.3f}) {both:10.3f} ({both_min:6.3f})"
        if torch_version:
            t_both = torch_cnn_timing(images, labels, params, repeat)
            line += f" {t_both:16.3f} {both / t_both:6.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
