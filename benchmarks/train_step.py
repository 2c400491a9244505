"""How fast and how lean is one training step of the tutorial network in autograd_nn, beside the others?

Run ``python benchmarks/train_step.py`` (``--help`` for options). In one run, on the same data, it measures:

1. **One training step**: forward, cost and every parameter gradient of the sigmoid network, for the workloads
   ``tutorial`` (X 5000x400 -> 25 -> 10, the course's size) and ``mnist`` (X 60000x784 -> 256 -> 10). X is
   seeded uniform [0, 1), labels uniform in 1..10 one-hot, parameters from ``Network(sizes, seed, dtype)``,
   lam = 1. The contenders:

   - autograd_nn: clear the grads, ``net.cost(X, Y, lam).backward()``;
   - hand-written NumPy: ``reference.cost_and_gradients`` (the baseline every ratio refers to);
   - bare matmuls: only the five matrix products a step cannot avoid, into preallocated arrays (the floor);
   - PyTorch eager and HIPS autograd, when installed.

   Before anything is timed, every contender's cost and gradients must agree with the hand-written ones
   (relative error 1e-8 in float64, 1e-3 in float32), or the script stops with exit status 1. Then each
   contender runs 2 warm-up steps, and the contenders take turns (round-robin, each round starting one
   contender later) for ``--repeat`` rounds, so a slow spell of a busy machine hits them all alike.
   Garbage collection stays on, as in real training.
2. **float32 against float64** (``--dtype both``): autograd_nn's speed-up, and a check that float32 gradients
   stay float32.
3. **Per-op overhead**: a chain of 10,000 simple ops on shape-(2,) tensors, forward + backward, in µs per op
   (PyTorch eager for comparison): the engine's bookkeeping with almost no arithmetic to hide it.
4. **A 100,000-op chain**: forward, backward and freeing the graph timed separately (nothing recursive or
   quadratic may hide in backward).
5. **Peak memory of one step** (tracemalloc, which NumPy reports its arrays to): autograd_nn against the
   hand-written step.
6. **Memory stays flat** over 1,000 tutorial-size steps: traced memory after step 10 against after step 1000
   (after a full collection; and as the steps leave it, when CPython's free lists fill up first).

Why: an autodiff engine adds bookkeeping on top of the arithmetic, and these numbers say how much. The
targets: per step autograd_nn <= 1.0x PyTorch eager and <= 1.05x hand-written NumPy, aiming at 1.25x the
bare matmuls; float32 >= 1.8x faster than float64 at MNIST size; per-op overhead <= 10 µs; peak memory
<= 1.3x hand-written; flat memory over many steps.

``--markdown`` prints the results as a markdown table and ``--update-docs FILE`` (docs/performance.md;
``--update-readme`` is the older spelling) writes that table between the lines ``<!-- benchmark:start -->``
and ``<!-- benchmark:end -->`` of FILE. PyTorch and HIPS
autograd are optional: without them (or with ``--skip torch,autograd``) their rows are left out.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib
import importlib.metadata
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's engine

from autograd_nn import Tensor
from autograd_nn.digits import reference
from autograd_nn.digits.data import one_hot
from autograd_nn.digits.network import Network
from autograd_nn.files import write_atomically

REPO = Path(__file__).resolve().parents[1]
START_MARKER = "<!-- benchmark:start -->"
END_MARKER = "<!-- benchmark:end -->"
MARKERS = (START_MARKER, END_MARKER)  # other benchmarks pass their own pair to the marker helpers
LAM = 1.0
WARMUP_STEPS = 2
ROUND_ROBIN_SEED = 0  # the order of the contenders in each timed round (see time_round_robin)
RTOL = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-3}
OPTIONAL = {"torch": "PyTorch", "autograd": "HIPS autograd"}  # --skip names -> what they are


@dataclass(frozen=True)
class Workload:
    name: str
    examples: int
    sizes: tuple[int, ...]  # inputs, hidden units, classes
    repeat: int  # rounds of timing by default

    def describe(self) -> str:
        return f"X {self.examples}x{self.sizes[0]} -> " + " -> ".join(str(s) for s in self.sizes[1:])


WORKLOADS = {
    "tutorial": Workload("tutorial", 5000, (400, 25, 10), repeat=30),
    "mnist": Workload("mnist", 60000, (784, 256, 10), repeat=7),
}
QUICK_EXAMPLES = {"tutorial": 250, "mnist": 1000}  # --quick keeps the layer sizes, shrinks m


@dataclass(frozen=True)
class Sizes:
    """How big the measurements other than the step table are (smaller under --quick)."""

    repeat: int | None  # None: each workload's own default
    chain_ops: int  # per-op overhead chain
    chain_runs: int
    long_chain_ops: int  # the backward-of-a-long-chain test
    long_chain_runs: int
    flat_steps: int  # steps of the flat-memory test


FULL = Sizes(
    repeat=None, chain_ops=10_000, chain_runs=5, long_chain_ops=100_000, long_chain_runs=3, flat_steps=1000
)
QUICK = Sizes(
    repeat=3, chain_ops=1_000, chain_runs=3, long_chain_ops=10_000, long_chain_runs=1, flat_steps=50
)


@dataclass
class Problem:
    """One workload's data and network in one dtype."""

    workload: Workload
    dtype: np.dtype
    X: np.ndarray
    Y: np.ndarray
    net: Network
    lam: float = LAM


@dataclass
class Contender:
    """One way of doing a training step.

    ``step`` does one step (its result is dropped at once); ``result`` does one step and returns the cost
    and the gradients [theta1, b1, theta2, b2, ...] as arrays, for the check (None: computes no cost).
    """

    name: str
    step: Callable[[], object]
    result: Callable[[], tuple[float, list[np.ndarray]]] | None


class BenchmarkFailure(Exception):
    """A contender disagrees with the hand-written gradients, or float32 work came back as float64."""


# -------------------------------------------------------------------------------------------- setup


def make_problem(workload: Workload, dtype, seed: int) -> Problem:
    """Seeded data and network; every dtype gets the same numbers (float32 ones are rounded float64 ones)."""
    rng = np.random.default_rng(seed)
    X = rng.random((workload.examples, workload.sizes[0])).astype(dtype)
    labels = rng.integers(1, workload.sizes[-1] + 1, size=workload.examples)
    Y = one_hot(labels, workload.sizes[-1]).astype(dtype)
    net = Network(workload.sizes, seed=seed, dtype=dtype)
    return Problem(workload, np.dtype(dtype), X, Y, net)


def load_optional(
    skip: set[str], libraries: dict[str, str] = OPTIONAL
) -> tuple[dict[str, object], list[str]]:
    """The optional ``libraries`` (import name -> label) installed and not skipped, and for each one left
    out a label saying why (``"PyTorch (not installed)"``); a one-line note is printed for each.

    PyTorch's OpenMP threads are told to sleep, not spin, between parallel regions
    (``OMP_WAIT_POLICY=PASSIVE``, unless the environment already sets a policy): spinning threads keep
    the cores busy for a while after each PyTorch step, and on a small machine they make the NumPy
    steps timed next to it several times slower. Passive threads cost PyTorch a little wake-up time
    per op, noticeable only at the tutorial size.
    """
    modules, left_out = {}, []
    for name, label in libraries.items():
        if name in skip:
            print(f"note: {label} skipped (--skip {name})")
            left_out.append(f"{label} (--skip {name})")
            continue
        if name == "torch":
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP
        try:
            modules[name] = importlib.import_module(name)
        except ImportError:
            print(f"note: {label} skipped (not installed: pip install {name})")
            left_out.append(f"{label} (not installed)")
    if "torch" in modules:
        modules["torch"].set_num_threads(os.cpu_count() or 1)
    return modules, left_out


def autograd_nn_contender(p: Problem) -> Contender:
    net, X, Y, lam = p.net, p.X, p.Y, p.lam

    def step():
        for param in net.parameters():
            param.grad = None
        cost = net.cost(X, Y, lam)
        cost.backward()
        return cost

    def result():
        cost = step()
        return cost.item(), [param.grad for param in net.parameters()]

    return Contender("autograd_nn", step, result)


def handwritten_contender(p: Problem) -> Contender:
    net, X, Y, lam = p.net, p.X, p.Y, p.lam

    def step():
        return reference.cost_and_gradients(net.arrays(), X, Y, lam)

    def result():
        cost, grads = step()
        return cost, [g for pair in grads for g in pair]

    return Contender("hand-written NumPy", step, result)


def matmuls_contender(p: Problem) -> Contender:
    """The five matrix products of a 2-layer step, on arrays of the right shapes, into preallocated ones."""
    if len(p.workload.sizes) != 3:
        raise ValueError("the bare-matmul floor is written for one hidden layer")
    m = p.workload.examples
    _, hidden, classes = p.workload.sizes
    theta1, theta2 = p.net.params[0][0].data, p.net.params[1][0].data
    rng = np.random.default_rng(1)  # the values do not matter, only that they are ordinary numbers
    a2, d2 = (rng.random((m, hidden)).astype(p.dtype) for _ in range(2))
    d3 = rng.random((m, classes)).astype(p.dtype)
    z2, back = np.empty_like(a2), np.empty_like(a2)
    z3 = np.empty_like(d3)
    grad2, grad1 = np.empty_like(theta2), np.empty_like(theta1)
    X = p.X

    def step():
        np.matmul(X, theta1.T, out=z2)  # forward, layer 1
        np.matmul(a2, theta2.T, out=z3)  # forward, layer 2
        np.matmul(d3.T, a2, out=grad2)  # gradient of theta2
        np.matmul(d3, theta2, out=back)  # delta sent back to layer 1
        np.matmul(d2.T, X, out=grad1)  # gradient of theta1

    return Contender("bare matmuls", step, None)


def torch_contender(p: Problem, torch) -> Contender:
    F = torch.nn.functional
    X, Y = torch.from_numpy(p.X), torch.from_numpy(p.Y)
    params = [torch.from_numpy(array).requires_grad_() for pair in p.net.arrays() for array in pair]
    thetas, biases = params[0::2], params[1::2]
    m, lam = X.shape[0], p.lam

    def step():
        for param in params:
            param.grad = None
        a = X
        for layer, (theta, bias) in enumerate(zip(thetas, biases, strict=True)):
            z = a @ theta.T + bias
            if layer < len(thetas) - 1:
                a = torch.sigmoid(z)
        cost = F.binary_cross_entropy_with_logits(z, Y, reduction="sum") / m
        cost = cost + lam / (2 * m) * sum((theta**2).sum() for theta in thetas)
        cost.backward()
        return cost

    def result():
        cost = step()
        return cost.item(), [param.grad.numpy() for param in params]

    return Contender("PyTorch eager", step, result)


def hips_contender(p: Problem, autograd) -> Contender:
    anp = importlib.import_module("autograd.numpy")
    X, Y, m, lam = p.X, p.Y, p.X.shape[0], p.lam

    def cost(params):
        a = X
        for layer, (theta, bias) in enumerate(params):
            z = anp.dot(a, theta.T) + bias
            if layer < len(params) - 1:
                a = 0.5 * (anp.tanh(0.5 * z) + 1)  # the sigmoid, written so it never overflows
        J = anp.sum(anp.logaddexp(0, z) - Y * z) / m
        return J + lam / (2 * m) * sum(anp.sum(theta**2) for theta, _ in params)

    cost_and_grad = autograd.value_and_grad(cost)  # autograd.grad, plus the cost it computed anyway

    def step():
        return cost_and_grad(p.net.arrays())

    def result():
        J, grads = step()
        return float(J), [np.asarray(g) for pair in grads for g in pair]

    return Contender("HIPS autograd", step, result)


def contenders_for(p: Problem, optional: dict[str, object]) -> list[Contender]:
    contenders = [autograd_nn_contender(p), handwritten_contender(p), matmuls_contender(p)]
    if "torch" in optional:
        contenders.append(torch_contender(p, optional["torch"]))
    if "autograd" in optional:
        contenders.append(hips_contender(p, optional["autograd"]))
    return contenders


# ----------------------------------------------------------------------------------------- checking


def relative_error(value, expected) -> float:
    value, expected = np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = np.linalg.norm(expected)
    return float(np.linalg.norm(value - expected) / scale) if scale else float(np.linalg.norm(value))


def check_contenders(p: Problem, contenders: list[Contender]) -> None:
    """Every contender's cost and gradients against the hand-written ones; BenchmarkFailure on a mismatch.

    Errors are relative, in the 2-norm of each array (so tiny entries do not need impossible precision).
    autograd_nn and the hand-written step must also return gradients in the problem's dtype.
    """
    rtol = RTOL[p.dtype]
    names = [f"{kind}{layer}" for layer in range(1, len(p.net.params) + 1) for kind in ("theta", "b")]
    expected_cost, expected = handwritten_contender(p).result()
    where = f"{p.workload.name}, {p.dtype}"
    for c in contenders:
        if c.result is None:
            continue
        cost, grads = c.result()
        problems = []
        worst = (relative_error(cost, expected_cost), "cost")
        for name, g, e in zip(names, grads, expected, strict=True):
            if g is None or np.shape(g) != e.shape:
                problems.append(f"{name} has shape {np.shape(g)}, expected {e.shape}")
                continue
            if g.dtype != p.dtype:
                message = f"{name} came back as {g.dtype}, not {p.dtype}"
                if c.name in ("autograd_nn", "hand-written NumPy"):
                    problems.append(message + " (a silent upcast)")
                else:
                    print(f"  note: {c.name}: {message}")
            worst = max(worst, (relative_error(g, e), name))
        if worst[0] > rtol or not np.isfinite(worst[0]):
            problems.append(
                f"{worst[1]} differs from hand-written NumPy by {worst[0]:.2e} (allowed {rtol:g})"
            )
        if problems:
            raise BenchmarkFailure(f"{c.name} ({where}): " + "; ".join(problems))
        print(f"  check {c.name:<20} largest relative error {worst[0]:.1e} ({worst[1]}): ok")


# ------------------------------------------------------------------------------------- measurements


@dataclass
class StepTimes:
    problem_name: str
    dtype: np.dtype
    rounds: int
    seconds: dict[str, list[float]]  # contender name -> one time per round

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])


def time_round_robin(
    contenders: list[Contender], rounds: int, steps_per_turn: int = 1
) -> dict[str, list[float]]:
    """Warm every contender up, then time them in turns: round 1 for all, round 2 for all, ...; the seconds
    per step of each turn (a turn is ``steps_per_turn`` steps in a row, timed together).

    Each round takes the contenders in a new random order (seeded, so a run can be repeated), so every
    contender follows every other about equally often: whatever one leaves behind (caches filled with its
    own data, threads still busy, memory to be returned) is not charged to the same neighbour each time.
    A fixed rotation (A B C, B C A, C A B, ...) would not: there C follows B in two rounds of every three.
    With one step per turn every step follows another contender's; with many, most steps follow their
    own, as in a training loop.
    """
    for c in contenders:
        for _ in range(WARMUP_STEPS):
            c.step()
    seconds: dict[str, list[float]] = {c.name: [] for c in contenders}
    order = list(contenders)
    shuffle = random.Random(ROUND_ROBIN_SEED).shuffle
    for _ in range(rounds):
        shuffle(order)
        for c in order:
            step = c.step
            start = time.perf_counter()
            for _ in range(steps_per_turn):
                step()
            seconds[c.name].append((time.perf_counter() - start) / steps_per_turn)
    return seconds


def measure_step(workload: Workload, dtype, args, optional: dict[str, object]) -> StepTimes:
    """Measurement 1: one training step per contender, checked first, then timed round-robin."""
    gc.collect()
    p = make_problem(workload, dtype, args.seed)
    rounds = args.repeat or workload.repeat
    print(f"\n== one training step: {workload.name} ({workload.describe()}), {p.dtype}, lam {p.lam:g} ==")
    contenders = contenders_for(p, optional)
    check_contenders(p, contenders)
    seconds = time_round_robin(contenders, rounds)
    times = StepTimes(workload.name, p.dtype, rounds, seconds)
    base = times.median("hand-written NumPy")
    print(f"  {rounds} rounds after {WARMUP_STEPS} warm-up steps each; times in ms")
    print(f"  {'contender':<20} {'median':>9} {'min':>9} {'max':>9} {'x hand-written':>15}")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(
            f"  {name:<20} {median * 1e3:9.2f} {min(values) * 1e3:9.2f} {max(values) * 1e3:9.2f} "
            f"{median / base:14.2f}x"
        )
    ours = times.median("autograd_nn")
    for name in ("PyTorch eager", "bare matmuls"):
        if name in seconds:
            print(f"  autograd_nn / {name}: {ours / times.median(name):.2f}x")
    return times


def report_dtype_speedup(step_times: list[StepTimes]) -> dict[str, float]:
    """Measurement 2: float32 against float64, per workload run in both (median step times)."""
    speedups = {}
    by_key = {(t.problem_name, t.dtype): t for t in step_times}
    for workload in WORKLOADS:
        t64, t32 = by_key.get((workload, np.dtype(np.float64))), by_key.get((workload, np.dtype(np.float32)))
        if t64 is None or t32 is None:
            continue
        if not speedups:
            print("\n== float32 vs float64 (median step times; float32 gradients checked to stay float32) ==")
        for name in ("autograd_nn", "hand-written NumPy"):
            ratio = t64.median(name) / t32.median(name)
            if name == "autograd_nn":
                speedups[workload] = ratio
            print(
                f"  {workload:<9} {name:<20} float32 {ratio:.2f}x faster "
                f"({t32.median(name) * 1e3:.2f} ms vs {t64.median(name) * 1e3:.2f} ms)"
            )
    return speedups


def autograd_nn_chain(n_ops: int):
    """Leaves x, c of shape (2,) and y = (...((x * c) + x) * c + x ...), exactly n_ops ops."""
    x = Tensor(np.array([0.5, -0.25]), requires_grad=True)
    c = Tensor(np.array([0.9, 0.8]), requires_grad=True)
    y = x
    for _ in range(n_ops // 2):
        y = y * c
        y = y + x
    return x, c, y


def torch_chain(torch, n_ops: int):
    x = torch.tensor([0.5, -0.25], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([0.9, 0.8], dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(n_ops // 2):
        y = y * c
        y = y + x
    return x, c, y


def time_chain(make_chain: Callable[[], tuple], seed_grad) -> tuple[float, float, float]:
    """Seconds to build the chain, to run backward through it, and to drop the graph."""
    start = time.perf_counter()
    _x, _c, y = make_chain()
    built = time.perf_counter()
    y.backward(seed_grad)
    backward_done = time.perf_counter()
    del y
    freed = time.perf_counter()
    return built - start, backward_done - built, freed - backward_done


def measure_per_op(sizes: Sizes, optional: dict[str, object]) -> dict[str, float]:
    """Measurement 3: µs per op of an n-op chain on tiny tensors, forward + backward, median of runs.

    Runs under ``frozen_heap()``: Python's cyclic collector would otherwise rescan every object the
    imported libraries (PyTorch's alone are ~150,000) and earlier measurements left, which costs a
    pure-Python engine several µs per op that a fresh process does not pay.
    """
    n = sizes.chain_ops
    print(
        f"\n== per-op overhead: a {n:,}-op chain (y = y * c + x) of shape-(2,) tensors, "
        f"median of {sizes.chain_runs}, imported objects frozen (gc.freeze) as in a fresh process =="
    )
    makers = {"autograd_nn": (lambda: autograd_nn_chain(n), np.ones(2))}
    if "torch" in optional:
        torch = optional["torch"]
        makers["PyTorch eager"] = (lambda: torch_chain(torch, n), torch.ones(2, dtype=torch.float64))
    per_op = {}
    for name, (make_chain, seed_grad) in makers.items():
        with frozen_heap():
            runs = [time_chain(make_chain, seed_grad) for _ in range(sizes.chain_runs)]
        forward = statistics.median(r[0] for r in runs) / n * 1e6
        backward = statistics.median(r[1] for r in runs) / n * 1e6
        total = statistics.median(r[0] + r[1] for r in runs) / n * 1e6
        per_op[name] = total
        print(
            f"  {name:<14} {total:6.2f} µs/op forward + backward "
            f"(forward {forward:.2f}, backward {backward:.2f})"
        )
    return per_op


@contextlib.contextmanager
def frozen_heap():
    """A context in which the objects that exist now are ignored by the cyclic garbage collector."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def measure_long_chain(sizes: Sizes) -> tuple[float, float, float]:
    """Measurement 4: forward, backward and freeing of a long chain, median of runs (seconds)."""
    n = sizes.long_chain_ops
    with frozen_heap():
        runs = [time_chain(lambda: autograd_nn_chain(n), np.ones(2)) for _ in range(sizes.long_chain_runs)]
    forward, backward, free = (statistics.median(r[i] for r in runs) for i in range(3))
    print(
        f"\n== backward of a {n:,}-op chain (autograd_nn, shape-(2,) tensors, median of {len(runs)}, "
        "imported objects frozen) =="
    )
    print(
        f"  forward {forward * 1e3:.1f} ms ({forward / n * 1e6:.2f} µs/op), "
        f"backward {backward * 1e3:.1f} ms ({backward / n * 1e6:.2f} µs/op), "
        f"freeing the graph {free * 1e3:.1f} ms"
    )
    return forward, backward, free


def traced_peak(step: Callable[[], object]) -> int:
    """Bytes allocated at the peak of ``step()`` beyond what was allocated before it (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def measure_peak_memory(workload: Workload, dtype, seed: int) -> tuple[int, int]:
    """Measurement 5: peak memory of one autograd_nn step and of one hand-written step (bytes)."""
    gc.collect()
    p = make_problem(workload, dtype, seed)
    ours, theirs = autograd_nn_contender(p), handwritten_contender(p)
    ours.step()  # once untraced, so any one-time caches are already filled
    theirs.step()
    for param in p.net.parameters():
        param.grad = None  # the step's new gradients count, in both
    peak_ours, peak_theirs = traced_peak(ours.step), traced_peak(theirs.step)
    print(
        f"  {workload.name:<9} autograd_nn {peak_ours / 2**20:8.1f} MiB, "
        f"hand-written {peak_theirs / 2**20:8.1f} MiB: "
        f"{peak_ours / peak_theirs:.2f}x"
    )
    return peak_ours, peak_theirs


def resident_mib() -> float | None:
    """The process's current resident set size in MiB, where /proc tells it (Linux)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class FlatMemory:
    """Traced bytes at three points of many steps, as the step leaves memory and after a full collection."""

    steps: int
    raw: dict[int, int]  # step -> traced bytes right after it
    collected: dict[int, int]  # step -> traced bytes after gc.collect()


def measure_flat_memory(steps: int, dtype, seed: int) -> FlatMemory:
    """Measurement 6: traced memory after step 10, half-way and after the last of many autograd_nn steps.

    A full ``gc.collect()`` at step 10 and at the end frees any garbage in reference cycles and empties
    CPython's free lists, so those two figures must be equal for a step that leaks nothing. The figures
    read as the step leaves memory also count free lists and NumPy's small caches, which fill up over the
    first few hundred steps and then stop growing; a leak would keep growing from half-way to the end.
    """
    gc.collect()
    p = make_problem(WORKLOADS["tutorial"], dtype, seed)
    step = autograd_nn_contender(p).step
    print(f"\n== memory over {steps:,} steps (autograd_nn, tutorial size, {p.dtype}, tracemalloc) ==")
    flat = FlatMemory(steps, {}, {})
    rss = {}
    tracemalloc.start()
    try:
        for i in range(1, steps + 1):
            step()
            if i in (10, steps // 2, steps):
                flat.raw[i] = tracemalloc.get_traced_memory()[0]
                rss[i] = resident_mib()
            if i in (10, steps):
                gc.collect()
                flat.collected[i] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    first, last = flat.collected[10], flat.collected[steps]
    print(
        f"  after a full gc.collect(): step 10 {first / 1024:.1f} KiB, step {steps} {last / 1024:.1f} KiB "
        f"({(last - first) / first * 100:+.1f}%)"
    )
    print(
        "  as the step leaves it:     "
        + ", ".join(f"step {i} {size / 1024:.1f} KiB" for i, size in flat.raw.items())
        + " (free lists and caches fill, then stop; a leak keeps growing)"
    )
    if rss[10] is not None:
        print(f"  resident set: step 10 {rss[10]:.1f} MiB, step {steps} {rss[steps]:.1f} MiB")
    try:
        import resource  # not on Windows

        print(
            f"  process max RSS so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
        )
    except ImportError:
        pass
    return flat


# ---------------------------------------------------------------------------- machine and reporting


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def blas_description() -> str:
    """NumPy's BLAS: threadpoolctl's view (library, version, threads) if installed, else NumPy's config."""
    try:
        from threadpoolctl import threadpool_info

        found = [
            " ".join(str(part) for part in (info["internal_api"], info.get("version")) if part)
            + f", {info['num_threads']} threads"
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        ]
        if found:
            return ", ".join(found)
    except ImportError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # show_config's layout differs between NumPy versions
        return "unknown"


def load_average() -> str:
    """The 1-minute load average, with a warning when other work seems to share the cores."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on Windows
        return "load average unknown"
    busy = " (other work is running: expect noisy numbers)" if load > 0.5 * (os.cpu_count() or 1) else ""
    return f"1-minute load average {load:.2f}{busy}"


def engine_revision() -> str:
    """The checkout's git commit, ``-dirty`` with uncommitted changes to tracked files ("unknown": no git)."""
    try:
        found = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else "unknown"


def machine_facts(optional: dict[str, object]) -> dict[str, str]:
    facts = {
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores",
        "engine": f"autograd_nn at {engine_revision()}",
        "python": platform.python_version(),
        "numpy": f"{np.__version__} (BLAS: {blas_description()})",
    }
    if "torch" in optional:
        torch = optional["torch"]
        policy = os.environ.get("OMP_WAIT_POLICY", "default")
        facts["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads, OMP_WAIT_POLICY {policy})"
    if "autograd" in optional:
        facts["autograd"] = importlib.metadata.version("autograd")
    if "jax" in optional:  # compiled_step.py compares with JAX
        facts["jax"] = optional["jax"].__version__
    return facts


def describe_machine(facts: dict[str, str]) -> str:
    text = f"{facts['cpu']}; {facts['engine']}; Python {facts['python']}, NumPy {facts['numpy']}"
    if "torch" in facts:
        text += f", PyTorch {facts['torch']}"
    if "autograd" in facts:
        text += f", HIPS autograd {facts['autograd']}"
    if "jax" in facts:
        text += f", JAX {facts['jax']}"
    return text


@dataclass
class Results:
    facts: dict[str, str]
    command: str
    date: str
    workloads: list[Workload]
    steps: list[StepTimes]
    speedups: dict[str, float]
    per_op: dict[str, float]
    long_chain: tuple[float, float, float]
    long_chain_ops: int
    chain_ops: int
    peaks: dict[str, tuple[int, int]]
    flat: FlatMemory


def markdown(results: Results) -> str:
    """The results as README-ready markdown: machine, command, date, a step table per dtype, then the rest."""
    lines = [
        f"Measured on {results.date} with `{results.command}` on {describe_machine(results.facts)}.",
        "",
    ]
    for dtype in dict.fromkeys(t.dtype for t in results.steps):
        tables = [t for t in results.steps if t.dtype == dtype]
        header = " | ".join(f"{w.name}: {w.describe()}" for w in results.workloads)
        rounds = ", ".join(f"{t.problem_name} {t.rounds}" for t in tables)
        lines += [
            f"One training step (forward, cost, all gradients), {dtype}: median ms (rounds: {rounds}), "
            "and the ratio to hand-written NumPy",
            "",
            f"| contender | {header} |",
            "|---|" + "---:|" * len(tables),
        ]
        for name in tables[0].seconds:
            cells = [
                f"{t.median(name) * 1e3:.2f} ({t.median(name) / t.median('hand-written NumPy'):.2f}x)"
                for t in tables
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    rows = []
    for t in results.steps:
        for name in ("PyTorch eager", "bare matmuls"):
            if name in t.seconds:
                ratio = t.median("autograd_nn") / t.median(name)
                rows.append(f"| autograd_nn / {name}, {t.problem_name}, {t.dtype} | {ratio:.2f}x |")
    for workload, speedup in results.speedups.items():
        rows.append(f"| float32 vs float64, autograd_nn, {workload} | {speedup:.2f}x faster |")
    per_op = f"{results.per_op['autograd_nn']:.2f} µs"
    if "PyTorch eager" in results.per_op:
        per_op += f" (PyTorch eager {results.per_op['PyTorch eager']:.2f} µs)"
    rows.append(
        f"| per op, {results.chain_ops:,}-op chain of shape-(2,) tensors, forward + backward | {per_op} |"
    )
    forward, backward, free = results.long_chain
    rows.append(
        f"| {results.long_chain_ops:,}-op chain: forward, backward, freeing the graph "
        f"| {forward * 1e3:.0f} ms, {backward * 1e3:.0f} ms, {free * 1e3:.0f} ms |"
    )
    for name, (ours, theirs) in results.peaks.items():
        rows.append(
            f"| peak memory of one step, {name}: autograd_nn vs hand-written "
            f"| {ours / 2**20:.1f} vs {theirs / 2**20:.1f} MiB ({ours / theirs:.2f}x) |"
        )
    flat = results.flat
    first, last, half = flat.collected[10], flat.collected[flat.steps], flat.raw[flat.steps // 2]
    rows.append(
        f"| traced memory after step 10 vs step {flat.steps:,} (tutorial size), after gc.collect() "
        f"| {first / 1024:.1f} vs {last / 1024:.1f} KiB ({(last - first) / first * 100:+.1f}%) |"
    )
    rows.append(
        f"| the same without collecting: step 10, {flat.steps // 2:,}, {flat.steps:,} "
        "(free lists and caches fill) "
        f"| {flat.raw[10] / 1024:.1f}, {half / 1024:.1f}, {flat.raw[flat.steps] / 1024:.1f} KiB |"
    )
    lines += ["| measurement | result |", "|---|---|", *rows]
    return "\n".join(lines)


def marker_lines(text: str, markers: tuple[str, str] = MARKERS) -> tuple[int, int] | None:
    """Indices of the start and end marker lines (each alone on its line, once, start first), else None.

    Only whole lines count, so a file may mention the markers in its prose.
    """
    start_marker, end_marker = markers
    lines = [line.strip() for line in text.splitlines()]
    if lines.count(start_marker) != 1 or lines.count(end_marker) != 1:
        return None
    start, end = lines.index(start_marker), lines.index(end_marker)
    return (start, end) if start < end else None


def check_markers(path: Path, markers: tuple[str, str] = MARKERS) -> str:
    """The file's text, once it is known to hold both marker lines; exits with a message otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SystemExit(f"error: --update-docs: cannot read {path}: {error.strerror}") from None
    if marker_lines(text, markers) is None:
        raise SystemExit(
            f"error: --update-docs: {path} must contain a line {markers[0]} and, after it, a line "
            f"{markers[1]}, once each; add them where the benchmark table belongs (nothing was written)"
        )
    return text


def replace_between_markers(text: str, block: str, markers: tuple[str, str] = MARKERS) -> str:
    """``text`` with the lines between the two marker lines replaced by ``block``."""
    start, end = marker_lines(text, markers)
    lines = text.splitlines(keepends=True)
    return "".join([*lines[: start + 1], block.strip() + "\n", *lines[end:]])


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time one training step of the tutorial network (autograd_nn, hand-written NumPy, bare "
        "matmuls, PyTorch, HIPS autograd), per-op overhead, a long chain's backward and memory."
    )
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all", help="default: all")
    parser.add_argument(
        "--dtype",
        choices=["float64", "float32", "both"],
        default=None,
        help="dtype of the step table (default float64; both under --quick)",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="timed rounds per workload (default: tutorial 30, mnist 7)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the network (default 0)")
    parser.add_argument(
        "--skip", default="", help="comma-separated optional contenders to leave out: torch, autograd"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and few rounds: a smoke test of every measurement"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the results as a markdown table")
    parser.add_argument(
        "--update-docs",
        "--update-readme",
        dest="update_readme",
        type=Path,
        metavar="FILE",
        help=f"write the markdown table between {START_MARKER} and {END_MARKER} in FILE (docs/performance.md)",
    )
    args = parser.parse_args(argv)
    args.skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    unknown = args.skip - set(OPTIONAL)
    if unknown:
        parser.error(f"--skip: unknown name(s) {', '.join(sorted(unknown))}; choose from torch, autograd")
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.dtype is None:
        args.dtype = "both" if args.quick else "float64"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    readme_text = check_markers(args.update_readme) if args.update_readme else None  # fail before the work
    sizes = QUICK if args.quick else FULL
    if sizes.repeat is not None and args.repeat is None:
        args.repeat = sizes.repeat
    workloads = list(WORKLOADS.values()) if args.workload == "all" else [WORKLOADS[args.workload]]
    if args.quick:
        workloads = [Workload(w.name, QUICK_EXAMPLES[w.name], w.sizes, w.repeat) for w in workloads]
    dtypes = [np.float64, np.float32] if args.dtype == "both" else [np.dtype(args.dtype).type]

    optional, _ = load_optional(args.skip)
    facts = machine_facts(optional)
    command = (
        shlex.join(["python", *sys.argv]) if argv is None else shlex.join(["python", "train_step.py", *argv])
    )
    date = datetime.date.today().isoformat()
    quick_note = " (--quick: tiny sizes, not real numbers)" if args.quick else ""
    print(f"autograd_nn train-step benchmark, {date}{quick_note}")
    print(f"machine: {facts['cpu']}; {load_average()}")
    print(f"software: {facts['engine']}; Python {facts['python']}, NumPy {facts['numpy']}", end="")
    print("".join(f", {label} {facts[name]}" for name, label in OPTIONAL.items() if name in facts))
    print(f"command: {command}")

    try:
        steps = [measure_step(w, dtype, args, optional) for dtype in dtypes for w in workloads]
    except BenchmarkFailure as failure:
        print(f"\nFAILED: {failure}; timing results that differ would mean nothing", file=sys.stderr)
        return 1
    speedups = report_dtype_speedup(steps)
    per_op = measure_per_op(sizes, optional)
    long_chain = measure_long_chain(sizes)
    print(f"\n== peak memory of one step (tracemalloc), {np.dtype(dtypes[0])} ==")
    peaks = {w.name: measure_peak_memory(w, dtypes[0], args.seed) for w in workloads}
    flat = measure_flat_memory(sizes.flat_steps, dtypes[0], args.seed)

    results = Results(
        facts=facts,
        command=command,
        date=date,
        workloads=workloads,
        steps=steps,
        speedups=speedups,
        per_op=per_op,
        chain_ops=sizes.chain_ops,
        long_chain=long_chain,
        long_chain_ops=sizes.long_chain_ops,
        peaks=peaks,
        flat=flat,
    )
    table = markdown(results)
    if args.markdown:
        print(f"\n== markdown ==\n{table}")
    if readme_text is not None:
        write_atomically(
            args.update_readme, replace_between_markers(readme_text, table).encode(), overwrite=True
        )
        print(f"\nwrote the table into {args.update_readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
