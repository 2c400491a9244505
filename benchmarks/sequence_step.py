"""How fast is a training step of the character-level sequence models in autograd_nn, beside PyTorch eager?

Run ``python benchmarks/sequence_step.py`` (``--help`` for options). In one process it measures:

1. **A 2-layer GPT step** (vocabulary 27, block 32, n_embd 64, 4 heads, GELU tanh, batch 32; forward,
   cross-entropy, backward, AdamW) written with ``nn.Embedding``, ``nn.LayerNorm``, ``nn.MultiheadAttention``
   and ``nn.GELU``; autograd_nn eager, autograd_nn compiled (``ag.compile`` of the loss) and PyTorch eager
   with the same weights, in float32 and float64, with one thread each (threadpoolctl for NumPy's BLAS,
   ``torch.set_num_threads(1)``) and with the default threads.
2. **A makemore MLP step** (3-character context, embedding 10, hidden 200 with BatchNorm1d and tanh,
   batch 32, SGD): the same three contenders, float64 and float32, one thread.
3. **Ops against hand-written NumPy**: LayerNorm, GELU (tanh), softmax and causal attention, forward +
   backward on the GPT's shapes, each beside the same computation written out in NumPy.
4. **Peak memory of the GPT's forward + backward** (tracemalloc): autograd_nn against the same step written
   out in NumPy (``numpy_gpt_step``; PyTorch's allocator is not traced, so it has no figure here).

Before timing, the first losses and gradients of every contender are compared with autograd_nn's eager
ones (relative 1e-9 in float64, 2e-3 in float32) and the hand-written NumPy GPT gradients with
autograd_nn's, so every timed step computes the same thing. The contenders take turns
(``train_step.time_round_robin``). PyTorch is optional (``--skip torch``, or not installed). The figures
depend on what else runs on the machine: the header prints the load average. ``--markdown`` prints a
README-ready table.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout's engine
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_step import Contender, load_average, load_optional, time_round_robin, traced_peak

import autograd_nn as ag
from autograd_nn import nn

VOCAB, BLOCK, EMBD, HEADS, LAYERS, BATCH = 27, 32, 64, 4, 2, 32
CONTEXT, MLP_EMBD, HIDDEN = 3, 10, 200
RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 2e-3}


# -------------------------------------------------------------------------------------------- the GPT


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, dtype) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(EMBD, dtype=dtype)
        self.attn = nn.MultiheadAttention(EMBD, HEADS, batch_first=True, dtype=dtype)
        self.ln_2 = nn.LayerNorm(EMBD, dtype=dtype)
        self.fc = nn.Linear(EMBD, 4 * EMBD, dtype=dtype)
        self.gelu = nn.GELU(approximate="tanh")
        self.proj = nn.Linear(4 * EMBD, EMBD, dtype=dtype)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, is_causal=True)[0]
        return x + self.proj(self.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, dtype) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(VOCAB, EMBD, dtype=dtype),
                "wpe": nn.Embedding(BLOCK, EMBD, dtype=dtype),
                "h": nn.ModuleList([Block(dtype) for _ in range(LAYERS)]),
                "ln_f": nn.LayerNorm(EMBD, dtype=dtype),
            }
        )
        self.lm_head = nn.Linear(EMBD, VOCAB, bias=False, dtype=dtype)

    def forward(self, idx):
        t = self.transformer
        x = t["wte"](idx) + t["wpe"](np.arange(idx.shape[1]))
        for block in t["h"]:
            x = block(x)
        return self.lm_head(t["ln_f"](x))


def gpt_loss(model: GPT, idx: np.ndarray, targets: np.ndarray):
    logits = model(idx)
    return ag.cross_entropy(logits.reshape(-1, VOCAB), targets)


def torch_gpt(torch, model: GPT):
    """The same GPT in PyTorch, with the same parameter names, loaded from ``model``'s state_dict."""
    tnn = torch.nn

    class TorchBlock(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = tnn.LayerNorm(EMBD)
            self.attn = tnn.MultiheadAttention(EMBD, HEADS, batch_first=True)
            self.ln_2 = tnn.LayerNorm(EMBD)
            self.fc = tnn.Linear(EMBD, 4 * EMBD)
            self.gelu = tnn.GELU(approximate="tanh")
            self.proj = tnn.Linear(4 * EMBD, EMBD)

        def forward(self, x, mask):
            h = self.ln_1(x)
            x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask, is_causal=True)[0]
            return x + self.proj(self.gelu(self.fc(self.ln_2(x))))

    class TorchGPT(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = tnn.ModuleDict(
                {
                    "wte": tnn.Embedding(VOCAB, EMBD),
                    "wpe": tnn.Embedding(BLOCK, EMBD),
                    "h": tnn.ModuleList([TorchBlock() for _ in range(LAYERS)]),
                    "ln_f": tnn.LayerNorm(EMBD),
                }
            )
            self.lm_head = tnn.Linear(EMBD, VOCAB, bias=False)
            self.register_buffer("mask", torch.triu(torch.ones(BLOCK, BLOCK, dtype=torch.bool), 1))

        def forward(self, idx):
            t = self.transformer
            x = t["wte"](idx) + t["wpe"](torch.arange(idx.shape[1]))
            for block in t["h"]:
                x = block(x, self.mask)
            return self.lm_head(t["ln_f"](x))

    dtype = model.lm_head.weight.dtype
    tm = TorchGPT().to(torch.float32 if dtype == np.float32 else torch.float64)
    state = {k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()}
    state["mask"] = tm.mask
    tm.load_state_dict(state)
    return tm


# -------------------------------------------------------------------------------------------- makemore MLP


class MLP(nn.Module):
    """makemore part 3: embed 3 characters, Linear (no bias) -> BatchNorm1d -> tanh -> Linear."""

    def __init__(self, dtype) -> None:
        super().__init__()
        self.C = nn.Embedding(VOCAB, MLP_EMBD, dtype=dtype)
        self.hidden = nn.Linear(CONTEXT * MLP_EMBD, HIDDEN, bias=False, dtype=dtype)
        self.bn = nn.BatchNorm1d(HIDDEN, dtype=dtype)
        self.out = nn.Linear(HIDDEN, VOCAB, dtype=dtype)

    def forward(self, x):
        emb = self.C(x).reshape(x.shape[0], -1)
        return self.out(ag.tanh(self.bn(self.hidden(emb))))


def torch_mlp(torch, model: MLP):
    tnn = torch.nn

    class TorchMLP(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.C = tnn.Embedding(VOCAB, MLP_EMBD)
            self.hidden = tnn.Linear(CONTEXT * MLP_EMBD, HIDDEN, bias=False)
            self.bn = tnn.BatchNorm1d(HIDDEN)
            self.out = tnn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            return self.out(torch.tanh(self.bn(self.hidden(self.C(x).view(x.shape[0], -1)))))

    dtype = model.out.weight.dtype
    tm = TorchMLP().to(torch.float32 if dtype == np.float32 else torch.float64)
    tm.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    return tm


# -------------------------------------------------------------------------------------------- contenders


@dataclass
class Task:
    """One model's training step for every contender, with the data they share."""

    name: str
    dtype: np.dtype
    contenders: list[Contender] = field(default_factory=list)
    first: dict[str, tuple[float, list[np.ndarray]]] = field(default_factory=dict)


def data(seed: int, inputs: tuple[int, ...], targets: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (int64) of shape ``inputs`` and target ids of shape ``targets``, from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, VOCAB, inputs), rng.integers(0, VOCAB, targets)


def ours(name, model, loss_of, optimizer, compiled: bool) -> Contender:
    step_loss = ag.compile(loss_of) if compiled else loss_of

    def result():
        optimizer.zero_grad()
        loss = step_loss()
        loss.backward()
        grads = [np.array(p.grad) for p in model.parameters()]
        optimizer.step()
        return loss.item(), grads

    def step():
        optimizer.zero_grad()
        step_loss().backward()
        optimizer.step()

    return Contender(name, step, result)


def theirs(torch, model, loss_of, optimizer) -> Contender:
    def result():
        optimizer.zero_grad()
        loss = loss_of()
        loss.backward()
        grads = [p.grad.numpy().copy() for p in model.parameters()]
        optimizer.step()
        return loss.item(), grads

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_of().backward()
        optimizer.step()

    return Contender("PyTorch eager", step, result)


def gpt_task(dtype, optional: dict, seed: int) -> Task:
    task = Task("GPT", np.dtype(dtype))
    idx, flat = data(seed, (BATCH, BLOCK), (BATCH * BLOCK,))
    for compiled in (False, True):
        nn.init.manual_seed(seed)
        model = GPT(dtype)
        opt = ag.optim.AdamW(model.parameters(), lr=1e-3)
        name = "autograd_nn compiled" if compiled else "autograd_nn"
        task.contenders.append(
            ours(name, model, (lambda m: lambda: gpt_loss(m, idx, flat))(model), opt, compiled)
        )
    torch = optional.get("torch")
    if torch is not None:
        nn.init.manual_seed(seed)
        tm = torch_gpt(torch, GPT(dtype))
        topt = torch.optim.AdamW(tm.parameters(), lr=1e-3)
        tidx, tflat = torch.from_numpy(idx), torch.from_numpy(flat)
        task.contenders.append(
            theirs(
                torch, tm, lambda: torch.nn.functional.cross_entropy(tm(tidx).view(-1, VOCAB), tflat), topt
            )
        )
    return task


def mlp_task(dtype, optional: dict, seed: int) -> Task:
    task = Task("makemore MLP", np.dtype(dtype))
    x, y = data(seed, (BATCH, CONTEXT), (BATCH,))
    for compiled in (False, True):
        nn.init.manual_seed(seed)
        model = MLP(dtype)
        opt = ag.optim.SGD(model.parameters(), lr=0.1)
        name = "autograd_nn compiled" if compiled else "autograd_nn"
        task.contenders.append(
            ours(name, model, (lambda m: lambda: ag.cross_entropy(m(x), y))(model), opt, compiled)
        )
    torch = optional.get("torch")
    if torch is not None:
        nn.init.manual_seed(seed)
        tm = torch_mlp(torch, MLP(dtype))
        topt = torch.optim.SGD(tm.parameters(), lr=0.1)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        task.contenders.append(theirs(torch, tm, lambda: torch.nn.functional.cross_entropy(tm(tx), ty), topt))
    return task


class BenchmarkFailure(Exception):
    """A contender's loss or gradients disagree with autograd_nn eager's."""


def check(task: Task) -> None:
    """Three checked steps each (the compiled one traces, confirms, then replays): same losses and grads."""
    runs = {c.name: [c.result() for _ in range(3)] for c in task.contenders}
    reference = runs["autograd_nn"]
    rtol = RTOL[task.dtype]
    for name, steps in runs.items():
        for k, ((loss, grads), (want_loss, want_grads)) in enumerate(zip(steps, reference, strict=True)):
            worst = abs(loss - want_loss) / abs(want_loss)
            for g, w in zip(grads, want_grads, strict=True):
                worst = max(worst, float(np.abs(g - w).max() / (np.abs(w).max() + 1e-30)))
            if worst > rtol:
                raise BenchmarkFailure(
                    f"{task.name} {task.dtype}: {name} step {k} differs from autograd_nn by {worst:.2e} (> {rtol})"
                )


@contextlib.contextmanager
def threads(count: int | None, torch):
    """BLAS (threadpoolctl) and PyTorch limited to ``count`` threads; None: the defaults."""
    if count is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(count)
    try:
        with threadpool_limits(count):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


@dataclass
class Row:
    task: str
    dtype: str
    threads: str
    medians: dict[str, float]


def time_task(task: Task, rounds: int, thread_count: int | None, torch) -> Row:
    with threads(thread_count, torch):
        check(task)
        gc.collect()
        seconds = time_round_robin(task.contenders, rounds)
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    label = "1" if thread_count == 1 else "default"
    row = Row(task.name, str(task.dtype), label, medians)
    parts = ", ".join(f"{n} {t * 1e3:.2f} ms" for n, t in medians.items())
    print(f"  {task.name:<13} {task.dtype!s:<8} threads {label:<8} {parts}")
    return row


# -------------------------------------------------------------------------------------------- ops vs NumPy


def np_layer_norm(x, w, b, g, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    xc = x - mean
    rstd = 1 / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    xhat = xc * rstd
    y = xhat * w + b
    gh = g * w
    gx = rstd * (gh - gh.mean(-1, keepdims=True) - xhat * (gh * xhat).mean(-1, keepdims=True))
    rows = g.reshape(-1, g.shape[-1])
    return y, gx, (xhat.reshape(rows.shape) * rows).sum(0), rows.sum(0)


def np_gelu_tanh(x, g):
    s = math.sqrt(2 / math.pi)
    t = np.tanh(s * (x + 0.044715 * x * x * x))  # (x**3 calls pow: 50x slower than two products)
    y = 0.5 * x * (1 + t)
    gx = g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * s * (1 + 3 * 0.044715 * x * x))
    return y, gx


def np_softmax(x, g):
    e = np.exp(x - x.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    return p, p * (g - (g * p).sum(-1, keepdims=True))


def np_attention(q, k, v, keep, g):
    s = q @ np.swapaxes(k, -1, -2) * (1 / math.sqrt(q.shape[-1]))
    s = np.where(keep, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = p @ v
    gp = g @ np.swapaxes(v, -1, -2)
    gv = np.swapaxes(p, -1, -2) @ g
    gs = p * (gp - (gp * p).sum(-1, keepdims=True)) * (1 / math.sqrt(q.shape[-1]))
    return out, gs @ k, np.swapaxes(gs, -1, -2) @ q, gv


def op_contenders(dtype, seed: int) -> list[tuple[str, Contender, Contender]]:
    rng = np.random.default_rng(seed)

    def arr(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, w, b, g = arr(BATCH, BLOCK, EMBD), arr(EMBD), arr(EMBD), arr(BATCH, BLOCK, EMBD)
    f, gf = arr(BATCH, BLOCK, 4 * EMBD), arr(BATCH, BLOCK, 4 * EMBD)
    s, gs = arr(BATCH, HEADS, BLOCK, BLOCK), arr(BATCH, HEADS, BLOCK, BLOCK)
    d = EMBD // HEADS
    q, k, v, go = (
        arr(BATCH, HEADS, BLOCK, d),
        arr(BATCH, HEADS, BLOCK, d),
        arr(BATCH, HEADS, BLOCK, d),
        arr(BATCH, HEADS, BLOCK, d),
    )
    keep = np.tril(np.ones((BLOCK, BLOCK), bool))
    xt, wt, bt = (ag.Tensor(a, requires_grad=True) for a in (x, w, b))
    ft, st = ag.Tensor(f, requires_grad=True), ag.Tensor(s, requires_grad=True)
    qt, kt, vt = (ag.Tensor(a, requires_grad=True) for a in (q, k, v))

    def ours_ln():
        ag.layer_norm(xt, EMBD, wt, bt).backward(g)

    def ours_gelu():
        ag.gelu(ft, "tanh").backward(gf)

    def ours_softmax():
        ag.softmax(st).backward(gs)

    def ours_attention():
        ag.scaled_dot_product_attention(qt, kt, vt, is_causal=True).backward(go)

    pairs = [
        ("LayerNorm", ours_ln, lambda: np_layer_norm(x, w, b, g)),
        ("GELU (tanh)", ours_gelu, lambda: np_gelu_tanh(f, gf)),
        ("softmax", ours_softmax, lambda: np_softmax(s, gs)),
        ("attention (causal)", ours_attention, lambda: np_attention(q, k, v, keep, go)),
    ]
    return [(n, Contender("autograd_nn", a, None), Contender("NumPy", b, None)) for n, a, b in pairs]


def check_ops(dtype, seed: int) -> None:
    """The ops' gradients against the hand-written ones, so the table compares equal work."""
    rng = np.random.default_rng(seed + 1)
    x, w, b, g = (rng.standard_normal(s).astype(dtype) for s in ((4, 5, 8), (8,), (8,), (4, 5, 8)))
    xt, wt, bt = (ag.Tensor(a, requires_grad=True) for a in (x, w, b))
    ag.layer_norm(xt, 8, wt, bt).backward(g)
    _, gx, gw, gb = np_layer_norm(x, w, b, g)
    q, k, v, go = (rng.standard_normal((2, 3, 5, 4)).astype(dtype) for _ in range(4))
    qt, kt, vt = (ag.Tensor(a, requires_grad=True) for a in (q, k, v))
    ag.scaled_dot_product_attention(qt, kt, vt, is_causal=True).backward(go)
    _, gq, gk, gv = np_attention(q, k, v, np.tril(np.ones((5, 5), bool)), go)
    for got, want in (
        (xt.grad, gx),
        (wt.grad, gw),
        (bt.grad, gb),
        (qt.grad, gq),
        (kt.grad, gk),
        (vt.grad, gv),
    ):
        if not np.allclose(
            got, want, rtol=RTOL[np.dtype(dtype)] * 10, atol=1e-5 if dtype == np.float32 else 1e-12
        ):
            raise BenchmarkFailure("an op's gradient differs from the hand-written NumPy one")


def time_ops(dtype, rounds: int, seed: int) -> list[tuple[str, float, float]]:
    check_ops(dtype, seed)
    rows = []
    with threads(1, None):
        for name, a, b in op_contenders(dtype, seed):
            seconds = time_round_robin([a, b], rounds)
            ours_t, numpy_t = statistics.median(seconds["autograd_nn"]), statistics.median(seconds["NumPy"])
            print(
                f"  {name:<20} {np.dtype(dtype)!s:<8} autograd_nn {ours_t * 1e6:8.0f} µs, NumPy {numpy_t * 1e6:8.0f} µs: "
                f"{ours_t / numpy_t:.2f}x"
            )
            rows.append((f"{name} {np.dtype(dtype)}", ours_t, numpy_t))
    return rows


# -------------------------------------------------------------------------------------------- GPT in NumPy


def numpy_gpt_step(params: dict[str, np.ndarray], idx: np.ndarray, targets: np.ndarray):
    """The GPT's loss and gradients (by name) written out in NumPy: the memory baseline, and a check of the
    engine's gradients. Same computation as ``GPT`` with ``gpt_loss``."""
    B, T = idx.shape
    C, H = EMBD, HEADS
    D = C // H
    keep = np.tril(np.ones((T, T), bool))
    scale = 1 / math.sqrt(D)
    grads = {k: np.zeros_like(v) for k, v in params.items()}

    def ln_forward(x, pre):
        mean = x.mean(-1, keepdims=True)
        xc = x - mean
        rstd = 1 / np.sqrt((xc * xc).mean(-1, keepdims=True) + 1e-5)
        xhat = xc * rstd
        return xhat * params[pre + ".weight"] + params[pre + ".bias"], (xhat, rstd)

    def ln_backward(g, cache, pre):
        xhat, rstd = cache
        rows = g.reshape(-1, C)
        grads[pre + ".weight"] += (xhat.reshape(-1, C) * rows).sum(0)
        grads[pre + ".bias"] += rows.sum(0)
        gh = g * params[pre + ".weight"]
        return rstd * (gh - gh.mean(-1, keepdims=True) - xhat * (gh * xhat).mean(-1, keepdims=True))

    def linear_backward(g, x, pre, bias=True, weight=".weight"):
        g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        grads[pre + weight] += g2.T @ x2
        if bias:
            grads[pre + ".bias"] += g2.sum(0)
        return g @ params[pre + weight]

    x = params["transformer.wte.weight"][idx] + params["transformer.wpe.weight"][:T]
    caches = []
    for layer in range(LAYERS):
        p = f"transformer.h.{layer}."
        h, ln1 = ln_forward(x, p + "ln_1")
        qkv = h @ params[p + "attn.in_proj_weight"].T + params[p + "attn.in_proj_bias"]
        q, k, v = (qkv[..., i * C : (i + 1) * C].reshape(B, T, H, D).transpose(0, 2, 1, 3) for i in range(3))
        s = np.where(keep, q @ k.transpose(0, 1, 3, 2) * scale, -np.inf)
        att = np.exp(s - s.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        x2 = x + o @ params[p + "attn.out_proj.weight"].T + params[p + "attn.out_proj.bias"]
        h2, ln2 = ln_forward(x2, p + "ln_2")
        f = h2 @ params[p + "fc.weight"].T + params[p + "fc.bias"]
        t = np.tanh(math.sqrt(2 / math.pi) * (f + 0.044715 * f * f * f))
        gl = 0.5 * f * (1 + t)
        x = x2 + gl @ params[p + "proj.weight"].T + params[p + "proj.bias"]
        caches.append((h, ln1, q, k, v, att, o, h2, ln2, f, t, gl))
    hf, lnf = ln_forward(x, "transformer.ln_f")
    logits = (hf @ params["lm_head.weight"].T).reshape(-1, VOCAB)
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    n = logits.shape[0]
    loss = -logp[np.arange(n), targets].mean()
    g = np.exp(logp)
    g[np.arange(n), targets] -= 1
    g /= n
    g = g.reshape(B, T, VOCAB)
    g = ln_backward(linear_backward(g, hf, "lm_head", bias=False), lnf, "transformer.ln_f")
    for layer in reversed(range(LAYERS)):
        p = f"transformer.h.{layer}."
        h, ln1, q, k, v, att, o, h2, ln2, f, t, gl = caches[layer]
        gg = linear_backward(g, gl, p + "proj")
        s2 = math.sqrt(2 / math.pi)
        gf = gg * (0.5 * (1 + t) + 0.5 * f * (1 - t * t) * s2 * (1 + 3 * 0.044715 * f * f))
        g = g + ln_backward(linear_backward(gf, h2, p + "fc"), ln2, p + "ln_2")
        go = linear_backward(g, o, p + "attn.out_proj").reshape(B, T, H, D).transpose(0, 2, 1, 3)
        gatt = go @ v.transpose(0, 1, 3, 2)
        gv = att.transpose(0, 1, 3, 2) @ go
        gs = att * (gatt - (gatt * att).sum(-1, keepdims=True)) * scale
        gq, gk = gs @ k, gs.transpose(0, 1, 3, 2) @ q
        gqkv = np.concatenate([t_.transpose(0, 2, 1, 3).reshape(B, T, C) for t_ in (gq, gk, gv)], axis=-1)
        g = g + ln_backward(
            linear_backward(gqkv, h, p + "attn.in_proj", bias=False, weight="_weight"), ln1, p + "ln_1"
        )
        grads[p + "attn.in_proj_bias"] += gqkv.reshape(-1, 3 * C).sum(0)
    np.add.at(grads["transformer.wte.weight"], idx, g)
    grads["transformer.wpe.weight"][:T] += g.sum(0)
    return loss, grads


def gpt_memory(dtype, seed: int) -> tuple[int, int]:
    """Peak bytes of the GPT's forward + backward: autograd_nn eager, and the NumPy step (checked equal)."""
    nn.init.manual_seed(seed)
    model = GPT(dtype)
    idx, flat = data(seed, (BATCH, BLOCK), (BATCH * BLOCK,))
    params = {n: p.data for n, p in model.named_parameters()}

    def ours_step():
        model.zero_grad()
        gpt_loss(model, idx, flat).backward()

    def numpy_step():
        return numpy_gpt_step(params, idx, flat)

    ours_step()
    _, grads = numpy_step()
    rtol = RTOL[np.dtype(dtype)] * 10
    for name, p in model.named_parameters():
        want = grads[name]
        if not np.allclose(p.grad, want, rtol=rtol, atol=rtol * np.abs(want).max()):
            raise BenchmarkFailure(f"the NumPy GPT's gradient of {name} differs from autograd_nn's")
    model.zero_grad()
    peak_ours, peak_numpy = traced_peak(ours_step), traced_peak(numpy_step)
    print(
        f"  GPT forward+backward {np.dtype(dtype)}: autograd_nn {peak_ours / 2**20:.1f} MiB, "
        f"NumPy {peak_numpy / 2**20:.1f} MiB: {peak_ours / peak_numpy:.2f}x"
    )
    return peak_ours, peak_numpy


# -------------------------------------------------------------------------------------------- report


def markdown(rows: list[Row], ops: list[tuple[str, float, float]], memory: dict[str, tuple[int, int]]) -> str:
    lines = [
        "| step | dtype | threads | autograd_nn | compiled | PyTorch eager | autograd_nn / PyTorch | compiled / PyTorch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ours_t, comp = r.medians["autograd_nn"], r.medians["autograd_nn compiled"]
        torch_t = r.medians.get("PyTorch eager")
        ratio = f"{ours_t / torch_t:.2f}x" if torch_t else "-"
        ratio_c = f"{comp / torch_t:.2f}x" if torch_t else "-"
        torch_s = f"{torch_t * 1e3:.2f} ms" if torch_t else "-"
        lines.append(
            f"| {r.task} | {r.dtype} | {r.threads} | {ours_t * 1e3:.2f} ms | {comp * 1e3:.2f} ms | {torch_s} | "
            f"{ratio} | {ratio_c} |"
        )
    lines += [
        "",
        "| op, forward + backward (GPT shapes, 1 thread) | autograd_nn | NumPy | ratio |",
        "|---|---|---|---|",
    ]
    for name, a, b in ops:
        lines.append(f"| {name} | {a * 1e6:.0f} µs | {b * 1e6:.0f} µs | {a / b:.2f}x |")
    lines += [
        "",
        "| GPT forward + backward, peak memory (tracemalloc) | autograd_nn | NumPy | ratio |",
        "|---|---|---|---|",
    ]
    for dtype, (a, b) in memory.items():
        lines.append(f"| {dtype} | {a / 2**20:.1f} MiB | {b / 2**20:.1f} MiB | {a / b:.2f}x |")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed rounds per step table row (default 30)")
    parser.add_argument("--op-repeat", type=int, default=50, help="timed rounds per op (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="", help="optional contenders to leave out: torch")
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds, float64 and one thread only (a smoke run)"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the results as markdown")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    optional, _ = load_optional({s for s in args.skip.split(",") if s}, {"torch": "PyTorch"})
    torch = optional.get("torch")
    if torch is not None:
        torch.manual_seed(args.seed)
    print(f"sequence_step: load average {load_average()}, {os.cpu_count()} CPUs")
    rounds = 3 if args.quick else args.repeat
    op_rounds = 3 if args.quick else args.op_repeat
    dtypes = (np.float64,) if args.quick else (np.float32, np.float64)
    thread_counts = (1,) if args.quick else (1, None)
    rows = []
    try:
        print("1. GPT step (AdamW), median per step:")
        for count in thread_counts:
            for dtype in dtypes:
                rows.append(time_task(gpt_task(dtype, optional, args.seed), rounds, count, torch))
        print("2. makemore MLP step (SGD), median per step:")
        for dtype in dtypes:
            rows.append(time_task(mlp_task(dtype, optional, args.seed), rounds, 1, torch))
        print("3. ops, forward + backward, against hand-written NumPy (1 thread):")
        ops = [row for dtype in dtypes for row in time_ops(dtype, op_rounds, args.seed)]
        print("4. peak memory of the GPT's forward + backward:")
        memory = {str(np.dtype(d)): gpt_memory(d, args.seed) for d in dtypes}
    except BenchmarkFailure as failure:
        print(f"FAILED: {failure}")
        return 1
    if args.markdown:
        print()
        print(markdown(rows, ops, memory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
