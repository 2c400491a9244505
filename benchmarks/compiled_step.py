"""How much does ``ag.compile`` save? Compiled steps beside eager, hand-written NumPy, bare matmuls, JAX, PyTorch.

Run ``python benchmarks/compiled_step.py`` (``--help`` for options). In one run it measures:

1. **Mini-batch step**: the 64-25-10 sigmoid network, batch 64, cost from logits + L2, float64, forward and
   every gradient: eager, compiled (``ag.compile``), hand-written NumPy (``reference.cost_and_gradients``)
   and JAX ``jit(value_and_grad)`` when JAX is installed. Median µs per step, contenders taking turns.
2. **Full batch**, course size (X 5000x400 -> 25 -> 10) and MNIST size (X 60000x784 -> 256 -> 10), float64
   and float32: compiled against eager, hand-written NumPy and the five bare matrix products.
3. **The tutorial's cost as the article writes it**, ``-(Y * log(h) + (1 - Y) * log(1 - h)).sum() / m`` with
   ``h = sigmoid(a @ theta2.T + b2)``, at course size: eager, compiled, hand-written, PyTorch eager (same form).
4. **Tracing cost**: the first call's time (trace + plan) and how many replays pay it back.
5. **Memory**: peak traced memory of one compiled step *plus the buffers the compiled program holds*, against
   the hand-written step's peak; and traced memory after 10 and after 10,000 compiled steps.
6. **End to end**: the default ``autograd-nn train`` with and without ``--no-compile`` (subprocesses, wall
   time), and whether every recorded cost and accuracy agrees to 1e-12 relative.

Every contender's cost and gradients are checked against the hand-written ones before timing (1e-8 relative
in float64, 1e-3 in float32); a mismatch exits with status 1. ``--quick`` shrinks every size for a smoke test.
"""

from __future__ import annotations

import argparse
import csv
import gc
import importlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's engine

import train_step as common

import autograd_nn as ag
from autograd_nn import Tensor

REPO = Path(__file__).resolve().parents[1]
MINI = common.Workload("mini-batch", 64, (64, 25, 10), repeat=2000)


def compiled_contender(p: common.Problem) -> common.Contender:
    net, X, Y, lam = p.net, p.X, p.Y, p.lam
    params = list(net.parameters())  # once: walking the module tree is not part of a step
    step_cost = ag.compile(lambda X, Y: net.cost(X, Y, lam))

    def step():
        for param in params:
            param.grad = None
        cost = step_cost(X, Y)
        cost.backward()
        return cost

    def result():
        cost = step()
        return cost.item(), [param.grad for param in params]

    contender = common.Contender("compiled", step, result)
    contender.buffer_bytes = lambda: sum(
        b.nbytes for prog in step_cost._programs.values() for b in prog.buffers
    )
    return contender


def eager_contender(p: common.Problem) -> common.Contender:
    net, X, Y, lam = p.net, p.X, p.Y, p.lam
    params = list(net.parameters())

    def step():
        for param in params:
            param.grad = None
        cost = net.cost(X, Y, lam)
        cost.backward()
        return cost

    def result():
        cost = step()
        return cost.item(), [param.grad for param in params]

    return common.Contender("eager", step, result)


def jax_contender(p: common.Problem, jax) -> common.Contender:
    jnp = jax.numpy
    X, Y, m, lam = jnp.asarray(p.X), jnp.asarray(p.Y), p.X.shape[0], p.lam

    def cost(params):
        a = X
        for layer, (theta, bias) in enumerate(params):
            z = a @ theta.T + bias
            if layer < len(params) - 1:
                a = jax.nn.sigmoid(z)
        J = jnp.sum(jax.nn.softplus(z) - Y * z) / m
        return J + lam / (2 * m) * sum(jnp.sum(theta**2) for theta, _ in params)

    value_and_grad = jax.jit(jax.value_and_grad(cost))
    params = [(jnp.asarray(t), jnp.asarray(b)) for t, b in p.net.arrays()]

    def step():
        J, grads = value_and_grad(params)
        jax.block_until_ready(grads)
        return J, grads

    def result():
        J, grads = step()
        return float(J), [np.asarray(g) for pair in grads for g in pair]

    return common.Contender("JAX jit", step, result)


def timed(p: common.Problem, contenders: list[common.Contender], rounds: int, unit: float, label: str):
    """Check, then time round-robin; print and return the medians (in ``unit`` seconds)."""
    common.check_contenders(p, [c for c in contenders if c.name != "bare matmuls"])
    seconds = common.time_round_robin(contenders, rounds)
    medians = {name: statistics.median(values) / unit for name, values in seconds.items()}
    base = medians["hand-written NumPy"]
    name_unit = "µs" if unit == 1e-6 else "ms"
    print(f"  {rounds} rounds; median {name_unit} per step, and the ratio to hand-written NumPy")
    for name, value in medians.items():
        print(f"  {name:<20} {value:10.2f} {value / base:8.2f}x")
    for a, b in (
        ("compiled", "eager"),
        ("compiled", "bare matmuls"),
        ("compiled", "JAX jit"),
        ("eager", "PyTorch eager"),
    ):
        if a in medians and b in medians:
            print(f"  {a} / {b}: {medians[a] / medians[b]:.2f}x")
    return medians


def measure_mini_batch(args, optional) -> dict[str, float]:
    p = common.make_problem(MINI, np.float64, args.seed)
    p.lam = 0.3
    print(f"\n== mini-batch step ({MINI.describe()}), float64, lam 0.3 ==")
    contenders = [eager_contender(p), compiled_contender(p), common.handwritten_contender(p)]
    if "jax" in optional:
        contenders.append(jax_contender(p, optional["jax"]))
    return timed(p, contenders, 200 if args.quick else MINI.repeat, 1e-6, "mini-batch")


def measure_full_batch(workload: common.Workload, dtype, args) -> dict[str, float]:
    gc.collect()
    p = common.make_problem(workload, dtype, args.seed)
    print(f"\n== full-batch step: {workload.name} ({workload.describe()}), {p.dtype} ==")
    contenders = [
        eager_contender(p),
        compiled_contender(p),
        common.handwritten_contender(p),
        common.matmuls_contender(p),
    ]
    return timed(p, contenders, 3 if args.quick else workload.repeat, 1e-3, workload.name)


def article_problem(p: common.Problem):
    """The article's cost, written as learners write it first, as a function of (X, Y) for autograd_nn."""
    (theta1, b1), (theta2, b2) = p.net.params

    def cost(X, Y):
        a = (Tensor(X) @ theta1.T + b1).sigmoid()
        h = (a @ theta2.T + b2).sigmoid()
        m = X.shape[0]
        return -(Y * h.log() + (1 - Y) * (1 - h).log()).sum() / m

    return cost


def measure_article_cost(args, optional) -> dict[str, float]:
    workload = common.WORKLOADS["tutorial"]
    if args.quick:
        workload = common.Workload("tutorial", common.QUICK_EXAMPLES["tutorial"], workload.sizes, 3)
    p = common.make_problem(workload, np.float64, args.seed)
    p.lam = 0.0
    cost = article_problem(p)
    compiled = ag.compile(cost)
    params = list(p.net.parameters())
    print(f"\n== the article's cost form, {workload.describe()}, float64 (no L2 term) ==")

    def contender(name, fn):
        def step():
            for param in params:
                param.grad = None
            J = fn(p.X, p.Y)
            J.backward()
            return J

        def result():
            J = step()
            return J.item(), [param.grad for param in params]

        return common.Contender(name, step, result)

    contenders = [contender("eager", cost), contender("compiled", compiled), common.handwritten_contender(p)]
    if "torch" in optional:
        contenders.append(torch_article_contender(p, optional["torch"]))
    return timed(p, contenders, 3 if args.quick else workload.repeat, 1e-3, "article")


def torch_article_contender(p: common.Problem, torch) -> common.Contender:
    X, Y = torch.from_numpy(p.X), torch.from_numpy(p.Y)
    params = [torch.from_numpy(array).requires_grad_() for pair in p.net.arrays() for array in pair]
    theta1, b1, theta2, b2 = params

    def step():
        for param in params:
            param.grad = None
        a = torch.sigmoid(X @ theta1.T + b1)
        h = torch.sigmoid(a @ theta2.T + b2)
        J = -(Y * torch.log(h) + (1 - Y) * torch.log(1 - h)).sum() / X.shape[0]
        J.backward()
        return J

    def result():
        J = step()
        return J.item(), [param.grad.numpy() for param in params]

    return common.Contender("PyTorch eager", step, result)


def measure_tracing_cost(args) -> tuple[float, float, float]:
    """The first call (trace + plan) against eager and replayed steps of the mini-batch network."""
    p = common.make_problem(MINI, np.float64, args.seed)
    net, X, Y = p.net, p.X, p.Y
    step_cost = ag.compile(lambda X, Y: net.cost(X, Y, 0.3))
    start = time.perf_counter()
    step_cost(X, Y).backward()
    first = time.perf_counter() - start
    start = time.perf_counter()
    step_cost(X, Y).backward()
    second = time.perf_counter() - start
    eager, compiled = eager_contender(p), compiled_contender(p)
    seconds = common.time_round_robin([eager, compiled], 200 if args.quick else 2000)
    eager_s, compiled_s = (statistics.median(seconds[n]) for n in ("eager", "compiled"))
    saved = eager_s - compiled_s
    extra = first + second - 2 * eager_s  # what the first two calls cost beyond two eager steps
    calls = extra / saved if saved > 0 else float("inf")
    print("\n== tracing cost (mini-batch network) ==")
    print(
        f"  first call (eager run on the tape, plan, code): {first * 1e3:.2f} ms; second call (eager, "
        f"compared with the trace): {second * 1e3:.2f} ms; an eager step {eager_s * 1e3:.2f} ms. A replayed "
        f"step saves {saved * 1e6:.1f} µs, so {calls:.0f} replays pay the first two calls back"
    )
    return first, saved, calls


def measure_memory(args) -> None:
    print("\n== memory (tracemalloc) ==")
    workloads = [common.WORKLOADS["tutorial"]] if args.quick else list(common.WORKLOADS.values())
    for workload in workloads:
        if args.quick:
            workload = common.Workload(workload.name, common.QUICK_EXAMPLES[workload.name], workload.sizes, 3)
        gc.collect()
        p = common.make_problem(workload, np.float64, args.seed)
        compiled, hand = compiled_contender(p), common.handwritten_contender(p)
        compiled.step()  # trace and plan: the program's buffers are allocated here
        compiled.step()
        for param in p.net.parameters():
            param.grad = None
        held = compiled.buffer_bytes()  # the arrays the program keeps between steps
        peak_compiled = common.traced_peak(compiled.step)
        hand.step()
        peak_hand = common.traced_peak(hand.step)
        total = held + peak_compiled
        print(
            f"  {workload.name:<9} compiled step {peak_compiled / 2**20:7.1f} MiB + its buffers {held / 2**20:7.1f}"
            f" MiB = {total / 2**20:7.1f} MiB; hand-written {peak_hand / 2**20:7.1f} MiB: {total / peak_hand:.2f}x"
        )
    steps = 500 if args.quick else 10_000
    p = common.make_problem(MINI, np.float64, args.seed)
    step = compiled_contender(p).step
    tracemalloc.start()
    try:
        traced = {}
        for i in range(1, steps + 1):
            step()
            if i in (10, steps):
                gc.collect()
                traced[i] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    print(
        f"  traced memory after compiled mini-batch step 10: {traced[10] / 1024:.1f} KiB, after step "
        f"{steps:,}: {traced[steps] / 1024:.1f} KiB ({(traced[steps] - traced[10]) / traced[10] * 100:+.1f}%)"
    )


def read_history(folder: Path) -> dict[str, np.ndarray]:
    path = next(folder.glob("history*.csv"))
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def measure_end_to_end(args) -> None:
    extra = ["--epochs", "5"] if args.quick else []
    print(
        f"\n== end to end: autograd-nn train{' ' + ' '.join(extra) if extra else ''} (subprocesses, wall time) =="
    )
    with tempfile.TemporaryDirectory() as tmp:
        seconds, training, histories = {}, {}, {}
        for name, flags in (("compiled", []), ("--no-compile", ["--no-compile"])):
            out = Path(tmp) / name.strip("-")
            start = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-m", "autograd_nn", "train", "--quiet", "--out", str(out), *extra, *flags],
                check=True,
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            seconds[name] = time.perf_counter() - start
            found = re.search(r"trained in ([0-9.]+) s", run.stdout)
            training[name] = float(found.group(1)) if found else float("nan")
            histories[name] = read_history(out)
    worst = max(
        float(np.max(np.abs(histories["compiled"][k] - v) / np.maximum(np.abs(v), 1e-300)))
        for k, v in histories["--no-compile"].items()
        if k != "epoch"
    )
    print(
        f"  compiled {seconds['compiled']:.1f} s, --no-compile {seconds['--no-compile']:.1f} s: "
        f"{seconds['--no-compile'] / seconds['compiled']:.2f}x faster; largest relative difference in the "
        f"history {worst:.1e} ({'equal' if worst <= 1e-12 else 'DIFFERENT'} to 1e-12)"
    )
    print(
        f"  the training loop alone (the command's 'trained in'): compiled {training['compiled']:.1f} s, "
        f"--no-compile {training['--no-compile']:.1f} s: {training['--no-compile'] / training['compiled']:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few rounds: a smoke test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="", help="comma-separated: torch, jax, end-to-end, mnist")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    optional = {}
    for name in ("jax", "torch"):
        if name in skip:
            continue
        if name == "torch":
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            optional[name] = importlib.import_module(name)
        except ImportError:
            print(f"note: {name} not installed; its rows are left out")
    if "jax" in optional:
        optional["jax"].config.update("jax_enable_x64", True)
    print(f"compiled-step benchmark; {common.load_average()}; NumPy {np.__version__}")
    try:
        measure_mini_batch(args, optional)
        for dtype in (np.float64, np.float32):
            for name, workload in common.WORKLOADS.items():
                if name == "mnist" and ("mnist" in skip or args.quick):
                    continue
                if args.quick:
                    workload = common.Workload(name, common.QUICK_EXAMPLES[name], workload.sizes, 3)
                measure_full_batch(workload, dtype, args)
        measure_article_cost(args, optional)
    except common.BenchmarkFailure as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr)
        return 1
    measure_tracing_cost(args)
    measure_memory(args)
    if "end-to-end" not in skip:
        measure_end_to_end(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
