"""How much does ``ag.compile`` save? Compiled steps beside eager, hand-written NumPy, bare matmuls, JAX, PyTorch.

Run ``python benchmarks/compiled_step.py`` (``--help`` for options). In one run it measures:

1. **Mini-batch step**: the 64-25-10 sigmoid network, batch 64, cost from logits + L2, float64, forward and
   every gradient: eager, compiled (``ag.compile``), hand-written NumPy (``reference.cost_and_gradients``)
   and JAX ``jit(value_and_grad)`` when JAX is installed. Median µs per step, contenders taking turns:
   first one step per turn (every step follows another contender's; the targets are measured so), then
   32 steps per turn (most steps follow their own, as in a training loop).
2. **Full batch**, course size (X 5000x400 -> 25 -> 10) and MNIST size (X 60000x784 -> 256 -> 10), float64
   and float32: compiled against eager, hand-written NumPy and the five bare matrix products.
3. **The tutorial's cost as the article writes it**, ``-(Y * log(h) + (1 - Y) * log(1 - h)).sum() / m`` with
   ``h = sigmoid(a @ theta2.T + b2)``, at course size: eager, compiled, hand-written, PyTorch eager (same form).
4. **Tracing cost**: the first call's time (trace + plan) and how many replays pay it back.
5. **Memory**: peak traced memory of one compiled step *plus the buffers the compiled program holds*, against
   the hand-written step's peak; and traced memory after 10 and after 10,000 compiled steps.
6. **End to end**: the default ``autograd-nn train`` with and without ``--no-compile`` (subprocesses, wall
   time; one untimed warm-up run, then three runs of each mode in alternating order, medians), and whether
   every recorded cost and accuracy agrees to 1e-12 relative; then where a compiled run's time outside its
   training loop goes (starting Python, importing the command line, drawing the cost curve, each timed in a
   subprocess of its own) and how short that part would have to be for 2x end to end.

Every contender's cost and gradients are checked against the hand-written ones before timing (1e-8 relative
in float64, 1e-3 in float32); a mismatch exits with status 1. ``--quick`` shrinks every size for a smoke test
(and leaves MNIST size out); ``--skip`` leaves out JAX, PyTorch, the end-to-end runs or MNIST size (its steps
and its memory).

``--markdown`` prints the results as markdown for docs/performance.md: a line saying when, with which command and on
what, the step table, and a table of issue 13's targets with each one's figure and whether it is met
(computed from the figures). ``--update-docs FILE`` (docs/performance.md; ``--update-readme`` is the older
spelling) writes that block between the lines
``<!-- compiled-benchmark:start -->`` and ``<!-- compiled-benchmark:end -->`` of FILE; a file without both
is refused before anything is measured.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gc
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's engine

import train_step as common

import autograd_nn as ag
from autograd_nn import Tensor
from autograd_nn.files import write_atomically

REPO = Path(__file__).resolve().parents[1]
MINI = common.Workload("mini-batch", 64, (64, 25, 10), repeat=2000)
MINI_TURN = 32  # steps in a row per turn for the mini-batch's second timing: each step mostly follows its own
SKIPPABLE = ("torch", "jax", "end-to-end", "mnist")
MARKERS = ("<!-- compiled-benchmark:start -->", "<!-- compiled-benchmark:end -->")
FLAT_WITHIN = 0.01  # "flat": traced memory after the last step within 1% of that after step 10
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # part of the command


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


def timed(
    p: common.Problem, contenders: list[common.Contender], rounds: int, unit: float, steps_per_turn: int = 1
) -> dict[str, float]:
    """Check, then time round-robin; print and return the medians (in ``unit`` seconds)."""
    common.check_contenders(p, [c for c in contenders if c.name != "bare matmuls"])
    seconds = common.time_round_robin(contenders, rounds, steps_per_turn)
    medians = {name: statistics.median(values) / unit for name, values in seconds.items()}
    base = medians["hand-written NumPy"]
    name_unit = "µs" if unit == 1e-6 else "ms"
    turns = f" of {steps_per_turn} steps in a row per contender" if steps_per_turn > 1 else ""
    print(f"  {rounds} rounds{turns}; median {name_unit} per step, and the ratio to hand-written NumPy")
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


def measure_mini_batch(args, optional) -> tuple[dict[str, float], dict[str, float]]:
    """The mini-batch step timed twice: one step per turn (each step follows another contender's, the
    targets' measure), then ``MINI_TURN`` steps per turn (each step mostly follows its own, as in training)."""
    p = common.make_problem(MINI, np.float64, args.seed)
    p.lam = 0.3
    print(f"\n== mini-batch step ({MINI.describe()}), float64, lam 0.3 ==")
    contenders = [eager_contender(p), compiled_contender(p), common.handwritten_contender(p)]
    if "jax" in optional:
        contenders.append(jax_contender(p, optional["jax"]))
    rounds = 200 if args.quick else MINI.repeat
    one_each = timed(p, contenders, rounds, 1e-6)
    in_turns = timed(p, contenders, max(rounds * 2 // MINI_TURN, 1), 1e-6, MINI_TURN)
    return one_each, in_turns


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
    return timed(p, contenders, 3 if args.quick else workload.repeat, 1e-3)


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
    return timed(p, contenders, 3 if args.quick else workload.repeat, 1e-3)


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


@dataclass
class TracingCost:
    """Seconds of the first two calls of a compiled step, of an eager and saved by a replayed step."""

    first: float
    second: float
    eager: float
    saved: float
    replays: float  # replays that pay the first two calls back (inf: a replay saves nothing)


def measure_tracing_cost(args) -> TracingCost:
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
    return TracingCost(first, second, eager_s, saved, calls)


@dataclass
class Memory:
    """Bytes: per workload (compiled step's peak, buffers its program holds, hand-written step's peak);
    traced memory after compiled mini-batch step 10 and after the last of ``steps``."""

    peaks: dict[str, tuple[int, int, int]]
    steps: int
    traced: dict[int, int]

    def growth(self) -> float:
        return (self.traced[self.steps] - self.traced[10]) / self.traced[10]


def measure_memory(args, workloads: list[common.Workload]) -> Memory:
    print("\n== memory (tracemalloc) ==")
    peaks = {}
    for workload in workloads:
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
        peaks[workload.name] = (peak_compiled, held, peak_hand)
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
    return Memory(peaks, steps, traced)


def read_history(folder: Path) -> dict[str, np.ndarray]:
    path = next(folder.glob("history*.csv"))
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


@dataclass
class Outside:
    """Median seconds of a compiled run outside its training loop (wall minus summary.json's seconds), and
    of three parts of it, timed in subprocesses of their own: starting Python, importing autograd_nn's
    command line (NumPy with it), and drawing the cost curve (importing matplotlib first)."""

    total: float
    startup: float
    imports: float
    curve: float


@dataclass
class EndToEnd:
    """``autograd-nn train`` with and without ``--no-compile``: median wall seconds, the training loop's
    seconds (from summary.json), the largest relative difference between the two histories, and the
    wall seconds of the first run (which parses the workbook into an empty cache)."""

    command: str
    seconds: dict[str, float]
    training: dict[str, float]
    worst: float
    first: float
    outside: Outside


END_TO_END_RUNS = 3  # runs of each mode, alternating, after one untimed warm-up run

# Run in a subprocess with a run's history on standard input: what `autograd-nn train` imports before it
# trains, then the cost curve it draws after (its first use of matplotlib).
OUTSIDE_THE_LOOP = """\
import json, sys, time
start = time.perf_counter()
from autograd_nn.digits import cli, train
from autograd_nn.training import loop, runs
imported = time.perf_counter()
runs.cost_curve_png(loop.History(**json.load(sys.stdin)), "cost curve")
drawn = time.perf_counter()
print(json.dumps({"imports": imported - start, "curve": drawn - imported}))
"""


def measure_outside_the_loop(
    runs: int, environment: dict, history: dict[str, np.ndarray], wall: list[float], loop: list[float]
) -> Outside:
    """Where a compiled run's time outside its training loop goes (``wall`` and ``loop``: its runs' seconds)."""
    columns = {k: (v.astype(int) if k == "epoch" else v).tolist() for k, v in history.items()}
    startup, imports, curve = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=environment)
        startup.append(time.perf_counter() - start)
        done = subprocess.run(
            [sys.executable, "-c", OUTSIDE_THE_LOOP],
            input=json.dumps(columns),
            check=True,
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
        )
        parts = json.loads(done.stdout)
        imports.append(parts["imports"])
        curve.append(parts["curve"])
    median = statistics.median
    total = median([w - t for w, t in zip(wall, loop, strict=True)])
    outside = Outside(total, median(startup), median(imports), median(curve))
    print(
        f"  outside the training loop, a compiled run: {outside.total:.2f} s; in subprocesses of their own, "
        f"starting Python {outside.startup:.2f} s, importing autograd_nn's command line {outside.imports:.2f} s, "
        f"the cost curve (importing matplotlib, drawing) {outside.curve:.2f} s"
    )
    return outside


def what_2x_needs(training: dict[str, float]) -> str:
    """A sentence: the most a run may spend outside its training loop for the compiled one to be 2× faster end
    to end, both modes spending the same there: (x + eager loop) / (x + compiled loop) >= 2, so
    x <= eager loop - 2 compiled loop."""
    allowed = training["--no-compile"] - 2 * training["compiled"]
    if allowed <= 0:
        ratio = training["--no-compile"] / training["compiled"]
        return f"With these loops, 2× end to end cannot be reached: the loop alone is {ratio:.2f}× faster."
    return f"With these loops, 2× end to end would need that part to take at most {allowed:.2f} s."


def measure_end_to_end(args) -> EndToEnd:
    extra = ["--epochs", "5"] if args.quick else []
    runs = 1 if args.quick else END_TO_END_RUNS
    print(
        f"\n== end to end: autograd-nn train{' ' + ' '.join(extra) if extra else ''} (subprocesses, wall time; "
        f"one warm-up run, then {runs} of each mode, alternating; medians) =="
    )
    modes = (("compiled", []), ("--no-compile", ["--no-compile"]))
    with tempfile.TemporaryDirectory() as tmp:
        # A cache folder of the benchmark's own: the warm-up run parses the workbook and fills it, so every
        # timed run reads the parsed data back, as every run after a user's first does.
        environment = {**os.environ, "AUTOGRAD_NN_CACHE_DIR": str(Path(tmp) / "cache")}

        def run(flags: list[str], out: Path) -> float:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "autograd_nn", "train", "--quiet", "--out", str(out), *extra, *flags],
                check=True,
                cwd=REPO,
                env=environment,
                capture_output=True,
                text=True,
            )
            return time.perf_counter() - start

        # The warm-up run pays what only a first run pays (parsing the workbook, bytecode compiled, files first
        # read), for neither mode.
        first = run([], Path(tmp) / "warm-up")
        print(f"  warm-up run (compiled; parses the workbook into an empty cache): {first:.2f} s")
        wall: dict[str, list[float]] = {name: [] for name, _ in modes}
        loop: dict[str, list[float]] = {name: [] for name, _ in modes}
        histories = {}
        for r in range(runs):
            for name, flags in modes if r % 2 == 0 else modes[::-1]:
                out = Path(tmp) / f"{name.strip('-')}-{r}"
                wall[name].append(run(flags, out))
                summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
                loop[name].append(summary["seconds"])  # the training loop alone, to the millisecond
                histories.setdefault(name, read_history(out))
    seconds = {name: statistics.median(values) for name, values in wall.items()}
    training = {name: statistics.median(values) for name, values in loop.items()}
    worst = max(
        float(np.max(np.abs(histories["compiled"][k] - v) / np.maximum(np.abs(v), 1e-300)))
        for k, v in histories["--no-compile"].items()
        if k != "epoch"
    )
    for name in wall:
        print(
            f"  {name:<13} wall {' '.join(f'{t:.2f}' for t in wall[name])} s; loop {' '.join(f'{t:.3f}' for t in loop[name])} s"
        )
    print(
        f"  compiled {seconds['compiled']:.2f} s, --no-compile {seconds['--no-compile']:.2f} s: "
        f"{seconds['--no-compile'] / seconds['compiled']:.2f}x faster; largest relative difference in the "
        f"history {worst:.1e} ({'equal' if worst <= 1e-12 else 'DIFFERENT'} to 1e-12)"
    )
    print(
        f"  the training loop alone (summary.json's seconds): compiled {training['compiled']:.3f} s, "
        f"--no-compile {training['--no-compile']:.3f} s: {training['--no-compile'] / training['compiled']:.2f}x"
    )
    outside = measure_outside_the_loop(
        runs, environment, histories["compiled"], wall["compiled"], loop["compiled"]
    )
    print(f"  {what_2x_needs(training)}")
    return EndToEnd(" ".join(["autograd-nn train", *extra]), seconds, training, worst, first, outside)


@dataclass
class Results:
    """Every figure of one run, for the markdown; medians in µs (mini-batch) or ms (the rest)."""

    date: str
    command: str
    machine: str
    load: str
    quick: bool
    mini: dict[str, float]  # one step per turn
    mini_in_turns: dict[str, float]  # MINI_TURN steps per turn
    full: dict[tuple[str, str], dict[str, float]]  # (workload name, dtype name) -> medians
    workloads: dict[str, common.Workload]  # the sizes the full-batch rows measured
    article: dict[str, float]
    tracing: TracingCost
    memory: Memory
    end_to_end: EndToEnd | None
    left_out: list[str]  # what this run did not measure, and why


def figure(value: float) -> str:
    """Three significant figures without an exponent (1495 keeps all four): 1495, 82.1, 6.88, 0.0403."""
    if value >= 1:
        return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return f"{value:#.3g}"


def with_ratio(medians: dict[str, float], name: str) -> str:
    if name not in medians:
        return ""
    value = medians[name]
    if name == "hand-written NumPy":
        return figure(value)
    return f"{figure(value)} ({value / medians['hand-written NumPy']:.2f}×)"


def size_label(workload: common.Workload) -> str:
    return f"{workload.examples}×" + "→".join(str(size) for size in workload.sizes)


FULL_BATCH_NAMES = {"tutorial": "course size", "mnist": "MNIST size"}


def full_batch_keys(r: Results) -> list[tuple[str, str]]:
    """The measured (workload, dtype) pairs, in the README's order: by size, float64 before float32."""
    return [
        (name, dtype) for name in r.workloads for dtype in ("float64", "float32") if (name, dtype) in r.full
    ]


def step_table(r: Results) -> list[str]:
    """The step table: one row per measured step, the columns of the README's table."""
    lines = [
        "| step | eager | compiled | hand-written | bare matmuls | JAX jit / PyTorch eager |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, medians: dict[str, float], other: str, other_label: str) -> str:
        names = ("eager", "compiled", "hand-written NumPy", "bare matmuls")
        cells = [with_ratio(medians, name) for name in names]
        cells.append(f"{other_label} {with_ratio(medians, other)}" if other in medians else "")
        return f"| {label} | " + " | ".join(cells) + " |"

    sizes = "-".join(str(size) for size in MINI.sizes)
    lines.append(row(f"mini-batch {MINI.examples}, {sizes}, float64 (µs)", r.mini, "JAX jit", "JAX"))
    turns = f"mini-batch, in turns of {MINI_TURN} steps (µs)"
    lines.append(row(turns, r.mini_in_turns, "JAX jit", "JAX"))
    for name, dtype in full_batch_keys(r):
        size = f" {size_label(r.workloads[name])}" if dtype == "float64" else ""
        label = f"{FULL_BATCH_NAMES[name]}{size}, {dtype} (ms)"
        lines.append(row(label, r.full[name, dtype], "", ""))
    article = f"the article's cost form, {FULL_BATCH_NAMES['tutorial']}, float64 (ms)"
    lines.append(row(article, r.article, "PyTorch eager", "PyTorch"))
    return lines


def targets(r: Results) -> list[tuple[str, str, bool]]:
    """Issue 13's targets: (target, the figure, met?), each decided from this run's figures."""
    rows = []
    mini = r.mini
    compiled_vs_hand = mini["compiled"] / mini["hand-written NumPy"]
    rows.append(
        ("mini-batch: compiled ≤ 1.0× hand-written", f"{compiled_vs_hand:.2f}×", compiled_vs_hand <= 1.0)
    )
    faster = mini["eager"] / mini["compiled"]
    rows.append(("mini-batch: compiled ≥ 3× faster than eager", f"{faster:.2f}× faster", faster >= 3.0))
    if "JAX jit" in mini:
        vs_jax = mini["compiled"] / mini["JAX jit"]
        rows.append(("mini-batch: compiled ≤ 0.5× JAX jit", f"{vs_jax:.2f}×", vs_jax <= 0.5))
    for name, dtype in full_batch_keys(r):
        medians = r.full[name, dtype]
        where = f"full batch, {FULL_BATCH_NAMES[name]}, {dtype}"
        for other, limit in (("hand-written NumPy", 0.95), ("bare matmuls", 1.10)):
            ratio = medians["compiled"] / medians[other]
            short = "hand-written" if other == "hand-written NumPy" else other
            rows.append((f"{where}: compiled ≤ {limit:.2f}× {short}", f"{ratio:.2f}×", ratio <= limit))
    article = r.article
    ratio = article["compiled"] / article["hand-written NumPy"]
    rows.append(("the article's form: compiled ≤ 1.0× hand-written", f"{ratio:.2f}×", ratio <= 1.0))
    if "PyTorch eager" in article:
        ratio = article["eager"] / article["PyTorch eager"]
        rows.append(("the article's form: eager ≤ 1.0× PyTorch eager", f"{ratio:.2f}×", ratio <= 1.0))
    e2e = r.end_to_end
    if e2e is not None:
        whole = e2e.seconds["--no-compile"] / e2e.seconds["compiled"]
        loop = e2e.training["--no-compile"] / e2e.training["compiled"]
        rows.append(
            (
                f"`{e2e.command}`: ≥ 2× faster end to end than with `--no-compile`",
                f"{whole:.2f}× ({e2e.seconds['compiled']:.2f} s against {e2e.seconds['--no-compile']:.2f} s; "
                f"a first run, which parses the workbook, {e2e.first:.2f} s); "
                f"the training loop alone {loop:.2f}× ({figure(e2e.training['compiled'])} s against "
                f"{figure(e2e.training['--no-compile'])} s)",
                whole >= 2.0,
            )
        )
        rows.append(
            (
                f"`{e2e.command}`: the same history as `--no-compile` (every cost and accuracy, 1e-12 relative)",
                f"largest relative difference {e2e.worst:.0e}",
                e2e.worst <= 1e-12,
            )
        )
    for name, (step_peak, held, hand_peak) in r.memory.peaks.items():
        total = step_peak + held
        rows.append(
            (
                f"peak memory, {FULL_BATCH_NAMES[name]}: compiled step + the buffers its program holds "
                "≤ hand-written step",
                f"{figure(step_peak / 2**20)} + {figure(held / 2**20)} = {figure(total / 2**20)} MiB "
                f"against {figure(hand_peak / 2**20)} MiB ({total / hand_peak:.2f}×)",
                total <= hand_peak,
            )
        )
    memory = r.memory
    rows.append(
        (
            f"memory flat over {memory.steps:,} compiled mini-batch steps: traced memory (after gc.collect()) "
            f"at the last within {FLAT_WITHIN:.0%} of step 10",
            f"{memory.traced[10] / 1024:.1f} KiB, then {memory.traced[memory.steps] / 1024:.1f} KiB "
            f"({memory.growth():+.1%})",
            abs(memory.growth()) <= FLAT_WITHIN,
        )
    )
    tracing = r.tracing
    payback = (
        f"paid back after {tracing.replays:.0f} replays" if tracing.saved > 0 else "a replay saves nothing"
    )
    rows.append(
        (
            "tracing cost reported (mini-batch network), and paid back by faster replays",
            f"first call {tracing.first * 1e3:.2f} ms, second (eager, checked) {tracing.second * 1e3:.2f} ms, "
            f"an eager step {tracing.eager * 1e3:.2f} ms; {payback}",
            tracing.saved > 0,
        )
    )
    return rows


def markdown(r: Results) -> str:
    """README-ready: when, how and on what; the step table; the targets with their figures and verdicts."""
    quick = " (--quick: tiny sizes, not real numbers)" if r.quick else ""
    lines = [
        f"Measured on {r.date} with `{r.command}`{quick} on {r.machine}; as it started, {r.load}. "
        "Median per step, and the ratio to hand-written NumPy:",
        "",
        *step_table(r),
        "",
        "| target (issue 13) | result | met? |",
        "|---|---|---|",
    ]
    lines += [f"| {target} | {result} | {'yes' if met else 'no'} |" for target, result, met in targets(r)]
    if r.end_to_end is not None:
        lines += ["", outside_the_loop(r.end_to_end)]
    if r.left_out:
        lines += ["", f"Not measured in this run: {'; '.join(r.left_out)}."]
    return "\n".join(lines)


def outside_the_loop(e2e: EndToEnd) -> str:
    """One paragraph: where a compiled run's time outside the loop goes, and what 2x end to end would allow."""
    o = e2e.outside
    return (
        f"Outside its training loop a compiled `{e2e.command}` takes {o.total:.2f} s. Timed on their own: "
        f"starting Python {o.startup:.2f} s, importing autograd_nn's command line (NumPy with it) "
        f"{o.imports:.2f} s, the cost curve (importing matplotlib, then drawing) {o.curve:.2f} s. "
        + what_2x_needs(e2e.training)
    )


def reproducing_command(argv: list[str] | None) -> str:
    """The command line, from the repository's root, with the thread settings that shape the figures."""
    settings = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    args = sys.argv[1:] if argv is None else argv
    return " ".join([*settings, shlex.join(["python", "benchmarks/compiled_step.py", *args])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few rounds: a smoke test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="", help=f"comma-separated: {', '.join(SKIPPABLE)}")
    parser.add_argument("--markdown", action="store_true", help="also print the results as README markdown")
    parser.add_argument(
        "--update-docs",
        "--update-readme",
        dest="update_readme",
        type=Path,
        metavar="FILE",
        help=f"write the markdown between the lines {MARKERS[0]} and {MARKERS[1]} of FILE (docs/performance.md)",
    )
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip - set(SKIPPABLE):
        parser.error(
            f"--skip: unknown name(s) {', '.join(sorted(skip - set(SKIPPABLE)))}; choose from {', '.join(SKIPPABLE)}"
        )
    readme_text = common.check_markers(args.update_readme, MARKERS) if args.update_readme else None
    command = reproducing_command(argv)
    optional, left_out = common.load_optional(skip, {"jax": "JAX jit", "torch": "PyTorch eager"})
    if "jax" in optional:
        optional["jax"].config.update("jax_enable_x64", True)
    load = common.load_average()
    print(f"compiled-step benchmark; {load}; NumPy {np.__version__}")
    workloads = {}
    for name, workload in common.WORKLOADS.items():
        if name == "mnist" and ("mnist" in skip or args.quick):
            left_out.append(f"MNIST size ({'--quick' if args.quick else '--skip mnist'})")
            continue
        if args.quick:
            workload = common.Workload(name, common.QUICK_EXAMPLES[name], workload.sizes, 3)
        workloads[name] = workload
    try:
        mini, mini_in_turns = measure_mini_batch(args, optional)
        full = {
            (name, np.dtype(dtype).name): measure_full_batch(workload, dtype, args)
            for dtype in (np.float64, np.float32)
            for name, workload in workloads.items()
        }
        article = measure_article_cost(args, optional)
    except common.BenchmarkFailure as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr)
        return 1
    tracing = measure_tracing_cost(args)
    memory = measure_memory(args, list(workloads.values()))
    end_to_end = None
    if "end-to-end" in skip:
        left_out.append("`autograd-nn train` end to end (--skip end-to-end)")
    else:
        end_to_end = measure_end_to_end(args)
    results = Results(
        date=datetime.date.today().isoformat(),
        command=command,
        machine=common.describe_machine(common.machine_facts(optional)),
        load=load,
        quick=args.quick,
        mini=mini,
        mini_in_turns=mini_in_turns,
        full=full,
        workloads=workloads,
        article=article,
        tracing=tracing,
        memory=memory,
        end_to_end=end_to_end,
        left_out=left_out,
    )
    block = markdown(results)
    if args.markdown:
        print(f"\n== markdown ==\n{block}")
    if readme_text is not None:
        text = common.replace_between_markers(readme_text, block, MARKERS)
        write_atomically(args.update_readme, text.encode(), overwrite=True)
        print(f"\nwrote the results into {args.update_readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
