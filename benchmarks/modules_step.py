"""What does a model written with ``autograd_nn.nn`` cost per training step?

Run ``python benchmarks/modules_step.py`` (``--help`` for options). In one run it measures two things:

1. **The digits CNN** of ``examples/digits_cnn.py`` (Conv2d(1,16,3,padding=1) -> ReLU -> MaxPool2d(2) ->
   Conv2d(16,32,3,padding=1) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(128,10)), one step on a batch of
   256 seeded random 1x8x8 images with random labels, in float64 and float32, against PyTorch eager with
   the same weights when PyTorch is installed. A step is: clear the grads, forward, ``cross_entropy``,
   backward. Target: autograd_nn at most 1.5x PyTorch eager (aim: 1.0x).
2. **The module layer's overhead**: ``nn.Sequential(Linear(400, 25), Sigmoid(), Linear(25, 10))`` against the
   tutorial's ``Network([400, 25, 10])`` on the tutorial's workload (X 5000x400, one-hot labels), the same
   weights and the same cost (cross-entropy from the logits, summed over classes, averaged over examples).
   Target: the Sequential step at most 1.03x the Network step.

Before anything is timed, every contender's loss and gradients must agree with the first contender's
(relative error 1e-8 in float64, 1e-3 in float32), or the script stops with exit status 1. Each contender
then runs 2 warm-up steps, and the contenders of a comparison take turns for ``--repeat`` rounds (each round
starting one contender later), so a slow spell of a busy machine hits them all alike; medians are reported.
``--quick`` is a smoke run (small sizes, 3 rounds) whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's engine

import train_step as common

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.digits.network import Network

TOLERANCE = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-3}


@dataclass
class Contender:
    name: str
    step: Callable[[], None]  # one training step (grads computed)
    result: Callable[[], tuple[float, list[np.ndarray]]]  # (loss, gradients) after a step


# ---------------------------------------------------------------- the CNN
def digits_cnn(seed: int, dtype) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128, 10, rng=rng),
    ).to(dtype)


def cnn_contenders(batch: int, dtype, torch) -> list[Contender]:
    rng = np.random.default_rng(1)
    images = rng.random((batch, 1, 8, 8)).astype(dtype)
    labels = rng.integers(0, 10, size=batch)
    model = digits_cnn(0, dtype)
    state: dict[str, float] = {}

    def step() -> None:
        model.zero_grad()
        loss = ag.cross_entropy(model(images), labels)
        loss.backward()
        state["loss"] = loss.item()

    def result():
        return state["loss"], [p.grad for p in model.parameters()]

    contenders = [Contender("autograd_nn", step, result)]
    if torch is not None:
        contenders.append(torch_cnn_contender(torch, model, images, labels))
    return contenders


def torch_cnn_contender(torch, model: nn.Sequential, images: np.ndarray, labels: np.ndarray) -> Contender:
    tnn = torch.nn
    net = tnn.Sequential(
        tnn.Conv2d(1, 16, 3, padding=1),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 3, padding=1),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(128, 10),
    )
    dtype = torch.float64 if images.dtype == np.float64 else torch.float32
    net = net.to(dtype)
    with torch.no_grad():  # the same weights, under the same dotted names
        for name, p in net.named_parameters():
            p.copy_(torch.from_numpy(model.state_dict()[name]))
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    state: dict[str, float] = {}

    def step() -> None:
        net.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        state["loss"] = loss.item()

    def result():
        return state["loss"], [p.grad.numpy() for p in net.parameters()]

    return Contender("PyTorch eager", step, result)


# ---------------------------------------------------------------- Sequential against the tutorial Network
def mlp_contenders(examples: int, sizes: list[int]) -> list[Contender]:
    rng = np.random.default_rng(2)
    X = rng.random((examples, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], size=examples)]
    network = Network(sizes, seed=0)
    layers = [nn.Linear(a, b, rng=0) for a, b in itertools.pairwise(sizes)]
    for layer, (theta, bias) in zip(layers, network.params, strict=True):
        layer.weight.data[...] = theta.data  # the same weights as the tutorial network
        layer.bias.data[...] = bias.data
    body: list[nn.Module] = []
    for layer in layers:
        body += [layer, nn.Sigmoid()]
    model = nn.Sequential(*body[:-1])  # no sigmoid after the last layer: the cost takes logits
    m = float(examples)
    states: dict[str, float] = {}

    def network_step() -> None:
        network.zero_grad()
        cost = network.cost(X, Y)
        cost.backward()
        states["network"] = cost.item()

    def sequential_step() -> None:
        model.zero_grad()
        cost = ag.binary_cross_entropy_with_logits(model(X), Y, reduction="sum") / m
        cost.backward()
        states["sequential"] = cost.item()

    return [
        Contender(
            "tutorial Network",
            network_step,
            lambda: (states["network"], [p.grad for p in network.parameters()]),
        ),
        Contender(
            "nn.Sequential",
            sequential_step,
            lambda: (states["sequential"], [p.grad for p in model.parameters()]),
        ),
    ]


# ---------------------------------------------------------------- checking and timing
def relative_error(value, expected) -> float:
    value, expected = np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(value - expected) / max(np.linalg.norm(expected), 1e-300))


def check_agreement(contenders: list[Contender], dtype, what: str) -> None:
    """Every contender's loss and gradients equal the first's, or exit with status 1."""
    tolerance = TOLERANCE[np.dtype(dtype)]
    for c in contenders:
        c.step()
    loss0, grads0 = contenders[0].result()
    for c in contenders[1:]:
        loss, grads = c.result()
        errors = [relative_error(loss, loss0)] + [
            relative_error(g, g0) for g, g0 in zip(grads, grads0, strict=True)
        ]
        if max(errors) > tolerance:
            print(f"{what}: {c.name} disagrees with {contenders[0].name} (relative error {max(errors):.2e})")
            sys.exit(1)


def median_seconds(contenders: list[Contender], rounds: int) -> dict[str, float]:
    """Median seconds per step of each contender, timed in turns as train_step.py times its contenders."""
    seconds = common.time_round_robin(contenders, rounds)
    return {name: statistics.median(values) for name, values in seconds.items()}


def report(title: str, medians: dict[str, float], baseline: str) -> None:
    print(title)
    for name, seconds in medians.items():
        ratio = seconds / medians[baseline]
        print(f"  {name:18s} {seconds * 1e3:9.2f} ms   {ratio:5.2f}x {baseline}")


def load_torch(skip: bool):
    if skip:
        return None
    # Spinning OpenMP threads after each PyTorch step slow the NumPy steps timed next to them (see
    # benchmarks/README.md); passive ones do not. Must be set before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return None
    return torch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One training step of nn models, timed (see the docstring).")
    parser.add_argument("--repeat", type=int, default=30, help="timed rounds per comparison (default: 30)")
    parser.add_argument("--batch", type=int, default=256, help="CNN batch size (default: 256)")
    parser.add_argument("--skip-torch", action="store_true", help="leave PyTorch out even when installed")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, 3 rounds")
    args = parser.parse_args(argv)
    rounds, batch, examples, sizes = args.repeat, args.batch, 5000, [400, 25, 10]
    if args.quick:
        rounds, batch, examples, sizes = 3, 16, 200, [40, 8, 10]
    torch = load_torch(args.skip_torch)
    if torch is None:
        print("PyTorch: not installed (or skipped): the CNN is timed without it")
    else:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"NumPy {np.__version__}; {rounds} rounds, medians; load average {load:.1f} on {os.cpu_count()} CPUs\n"
    )

    for dtype in (np.float64, np.float32):
        contenders = cnn_contenders(batch, dtype, torch)
        check_agreement(contenders, dtype, f"CNN {np.dtype(dtype)}")
        baseline = "PyTorch eager" if torch is not None else "autograd_nn"
        medians = median_seconds(contenders, rounds)
        report(
            f"digits CNN, batch {batch}, {np.dtype(dtype)} (target <= 1.5x PyTorch eager)", medians, baseline
        )

    contenders = mlp_contenders(examples, sizes)
    check_agreement(contenders, np.float64, "Sequential vs Network")
    medians = median_seconds(contenders, rounds)
    shape = "-".join(map(str, sizes))
    report(
        f"{shape} sigmoid network on {examples} examples, float64 (target: Sequential <= 1.03x)",
        medians,
        "tutorial Network",
    )


if __name__ == "__main__":
    main()
