"""The makemore MLP and the 2-layer GPT of examples/ trained with PyTorch on the same split: validation loss and time.

    python benchmarks/learner_path_torch.py                  # both, with the examples' default steps
    python benchmarks/learner_path_torch.py --model mlp --steps 2000

The reference for the figures of ``examples/makemore_mlp.py`` and ``examples/char_gpt.py``: the same data
(their own ``contexts``/``sequences`` functions on ``load_names()``'s split), architecture, initialisation
scheme, optimiser, schedule, batch size and number of steps, written in PyTorch, one thread
(``torch.set_num_threads(1)``, as the examples run with OPENBLAS_NUM_THREADS=1). Different random draws, so
the losses agree to within the spread of seeds, not exactly. Needs PyTorch; says so and exits 0 without it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from char_gpt import IGNORE, sequences
from makemore_mlp import contexts

from autograd_nn.datasets import load_names


def mlp(torch, steps: int, seed: int) -> tuple[float, float]:
    nn = torch.nn
    torch.manual_seed(seed)
    data = load_names()
    Xtr, Ytr = (torch.from_numpy(a) for a in contexts(data.train, 3))
    Xva, Yva = (torch.from_numpy(a) for a in contexts(data.validation, 3))
    model = nn.Sequential(
        nn.Embedding(27, 10),
        nn.Flatten(),
        nn.Linear(30, 200, bias=False),
        nn.BatchNorm1d(200),
        nn.Tanh(),
        nn.Linear(200, 27),
    ).double()
    with torch.no_grad():
        model[-1].weight *= 0.1
        model[-1].bias.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, steps * 3 // 4), gamma=0.1)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(steps):
        batch = torch.from_numpy(rng.integers(0, len(Xtr), 32))
        loss = nn.functional.cross_entropy(model(Xtr[batch]), Ytr[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        val = sum(
            nn.functional.cross_entropy(model(Xva[i : i + 20000]), Yva[i : i + 20000], reduction="sum").item()
            for i in range(0, len(Xva), 20000)
        )
    return val / len(Xva), seconds


def gpt(torch, steps: int, seed: int) -> tuple[float, float]:
    nn = torch.nn
    torch.manual_seed(seed)
    data = load_names()
    block = max(map(len, data.names)) + 1
    Xtr, Ytr = (torch.from_numpy(a) for a in sequences(data.train, block))
    Xva, Yva = (torch.from_numpy(a) for a in sequences(data.validation, block))
    causal = torch.triu(torch.ones(block, block, dtype=torch.bool), diagonal=1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(64), nn.LayerNorm(64)
            self.attn = nn.MultiheadAttention(64, 4, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(64, 256), nn.GELU(approximate="tanh"), nn.Linear(256, 64))

        def forward(self, x):
            T = x.shape[1]
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=causal[:T, :T], need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(27, 64), nn.Embedding(block, 64)
            self.blocks = nn.Sequential(Block(), Block())
            self.ln_f, self.head = nn.LayerNorm(64), nn.Linear(64, 27)
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                elif p.ndim == 2:
                    nn.init.normal_(p, 0.0, 0.02)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
            return self.head(self.ln_f(self.blocks(x)))

    model = GPT().double()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(steps):
        batch = torch.from_numpy(rng.integers(0, len(Xtr), 32))
        logits = model(Xtr[batch])
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, 27), Ytr[batch].reshape(-1), ignore_index=IGNORE
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        total = sum(
            nn.functional.cross_entropy(
                model(Xva[i : i + 1000]).reshape(-1, 27),
                Yva[i : i + 1000].reshape(-1),
                ignore_index=IGNORE,
                reduction="sum",
            ).item()
            for i in range(0, len(Xva), 1000)
        )
    return total / int((Yva != IGNORE).sum()), seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "gpt", "both"], default="both")
    parser.add_argument("--steps", type=int, help="training steps (default: the example's own default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: nothing to compare with (pip install torch)")
        return
    torch.set_num_threads(1)
    print(f"PyTorch {torch.__version__}, one thread, float64, validation split of load_names() (seed 42)")
    print(f"the uniform guess: {math.log(27):.4f}")
    runs = {"mlp": (mlp, 30_000, "makemore MLP"), "gpt": (gpt, 6000, "2-layer GPT")}
    for key in ["mlp", "gpt"] if args.model == "both" else [args.model]:
        train, default_steps, title = runs[key]
        steps = args.steps or default_steps
        val, seconds = train(torch, steps, args.seed)
        print(f"{title}, PyTorch, {steps} steps: validation loss {val:.4f}, {seconds:.1f} s to train")


if __name__ == "__main__":
    main()
