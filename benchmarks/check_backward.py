"""What checking a layer's hand-written backward costs: check_backward against the full numeric check.

Run ``python benchmarks/check_backward.py`` (``--quick`` for a smoke run with a tiny input). The layer is
a spatial BatchNorm in training mode written in plain NumPy (``np.mean``, ``np.sqrt``, broadcasting
over (N, C, H, W)), with its hand-derived backward, on an input of 64x3x32x32 (196,608 entries).

1. **check_backward** with its autodiff reference: the user's forward and backward, the same forward on
   Tensors and one backward pass, plus the two forward calls that confirm autodiff along a random
   direction. Median of ``--repeat`` runs.
2. **The full central-difference check people use today** (the courses' numeric-gradient helper): for
   every entry of every input, perturb it by +-h, run the forward twice and take
   sum((out+ - out-) * dout) / 2h. That is 2 forward calls per entry, 393,228 calls here: hours of work
   to run in full. It is timed on ``--entries`` entries of x chosen at random (and all of gamma and
   beta), and the time per entry is extrapolated linearly to every entry, which is what the full check
   would do (the per-entry work does not depend on which entry it is). The sampled entries are also
   compared with the hand-derived backward, so the timed work is a real check.

The script stops with exit status 1 when check_backward does not find the layer right, does not use
autodiff as its reference, or (without ``--quick``) is less than 100x faster than the full check.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import autograd_nn as ag

TARGET = 100  # check_backward must be at least this many times faster than the full numeric check


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Normalise each channel over the batch and the image (training mode)."""
    eps = bn_param.get("eps", 1e-5)
    mean = np.mean(x, axis=(0, 2, 3), keepdims=True)
    centred = x - mean
    var = np.mean(centred**2, axis=(0, 2, 3), keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = centred * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    count = dout.size // dout.shape[1]  # entries per channel
    axes = (0, 2, 3)
    dbeta = dout.sum(axis=axes, keepdims=True)
    dgamma = (dout * x_hat).sum(axis=axes, keepdims=True)
    dx_hat = dout * gamma
    dx = (
        inv_std
        / count
        * (
            count * dx_hat
            - dx_hat.sum(axis=axes, keepdims=True)
            - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)
        )
    )
    return dx, dgamma, dbeta


def numeric_entry(forward, args, k, index, dout, h=1e-5) -> float:
    """The courses' numeric gradient at one entry: two forward calls."""
    array = args[k]
    original = array[index]
    array[index] = original + h
    plus = forward(*args)[0]
    array[index] = original - h
    minus = forward(*args)[0]
    array[index] = original
    return float(np.sum((plus - minus) * dout) / (2 * h))


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a 4x3x8x8 input: a smoke test, not real numbers"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of check_backward (default 5)")
    parser.add_argument("--entries", type=int, default=200, help="entries of x the numeric check is timed on")
    options = parser.parse_args()

    shape = (4, 3, 8, 8) if options.quick else (64, 3, 32, 32)
    rng = np.random.default_rng(0)
    x = 2 + 3 * rng.standard_normal(shape)
    gamma, beta = rng.standard_normal((1, 3, 1, 1)), rng.standard_normal((1, 3, 1, 1))
    param = {"eps": 1e-5}
    args = (x, gamma, beta, param)
    total = x.size + gamma.size + beta.size

    report = ag.check_backward(spatial_batchnorm_forward, spatial_batchnorm_backward, *args)
    if not report.ok or report.reference != "autodiff":
        print(report, file=sys.stderr)
        print("check_backward must find the layer right with autodiff as its reference", file=sys.stderr)
        return 1
    seconds = median_seconds(
        lambda: ag.check_backward(spatial_batchnorm_forward, spatial_batchnorm_backward, *args),
        options.repeat,
    )

    # the full numeric check, timed on a sample of entries
    dout = np.random.default_rng(1).standard_normal(shape)
    mine = spatial_batchnorm_backward(dout, spatial_batchnorm_forward(*args)[1])
    work = [x.copy(), gamma.copy(), beta.copy(), param]
    sample = [
        (0, tuple(int(i) for i in np.unravel_index(j, shape)))
        for j in rng.choice(x.size, options.entries, replace=False)
    ]
    sample += [(k, index) for k in (1, 2) for index in np.ndindex(gamma.shape)]
    start = time.perf_counter()
    numeric = [numeric_entry(spatial_batchnorm_forward, work, k, index, dout) for k, index in sample]
    per_entry = (time.perf_counter() - start) / len(sample)
    expected = np.array([mine[k][index] for k, index in sample])
    error = np.max(np.abs(np.array(numeric) - expected)) / np.max(np.abs(expected))
    if not error < 1e-5:
        print(
            f"the numeric check disagrees with the hand-derived backward (relative error {error:.3g})",
            file=sys.stderr,
        )
        return 1
    full = per_entry * total

    speedup = full / seconds
    print(f"layer: spatial BatchNorm (training mode) in NumPy, x {shape}, gamma and beta (1, 3, 1, 1)")
    print(f"1. check_backward (autodiff reference): {seconds * 1e3:.1f} ms (median of {options.repeat})")
    print(
        f"2. full central differences: {per_entry * 1e3:.2f} ms per entry, timed on {len(sample)} of {total:,} entries "
        f"and extrapolated: {full:.1f} s ({full / 3600:.2f} h)"
    )
    print(f"3. check_backward is {speedup:,.0f}x faster (target at least {TARGET}x)")
    if not options.quick and speedup < TARGET:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
