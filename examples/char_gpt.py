"""A 2-layer GPT on the names: causal self-attention over the characters so far, trained with AdamW.

    python examples/char_gpt.py              # the figures in docs/sequence.md (a few minutes on two cores)
    python examples/char_gpt.py --steps 20   # a quick run

Each name is one sequence: "." then its letters, predicting each next character and finally the end ".":

    input   . e m m a        targets  e m m a .        (padded to the block; padded targets are ignored)

    tokens (B, T) -> Embedding(27, 64) + position Embedding(T, 64)
                  -> 2 x [ x + MultiheadAttention(LayerNorm(x)), causal, 4 heads
                           x + Linear(256, 64)(GELU(tanh)(Linear(64, 256)(LayerNorm(x)))) ]
                  -> LayerNorm -> Linear(64, 27) -> logits

The block is the longest name plus its end (14 characters), so every name fits whole. The causal mask lets
position t attend only to positions up to t, so the padding after a name never changes its predictions, and
``ag.cross_entropy(..., ignore_index=-1)`` leaves the padded targets out of the loss: the loss is the mean over
each real character and each name's end, as in ``makemore_mlp.py`` and ``char_rnn.py``.

After training, the model is exported to ONNX (``ag.export_onnx``) and names are sampled twice with the same
seed, once with the engine and once with onnxruntime, drawing each character with ``ag.multinomial`` from the
probabilities each gives: the two lists of names are the same. (Needs the onnx extra; skipped without it.)
"""

from __future__ import annotations

import argparse
import string
import tempfile
import time
from pathlib import Path

import numpy as np

import autograd_nn as ag
from autograd_nn import nn, optim
from autograd_nn.datasets import load_names

CHARS = "." + string.ascii_lowercase
STOI = {c: i for i, c in enumerate(CHARS)}
V = len(CHARS)
IGNORE = -1  # the target of a padded position


def sequences(names: list[str], block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, block) and targets (N, block) of the names; padding: 0 in the inputs, IGNORE in the targets."""
    X = np.zeros((len(names), block_size), dtype=np.int64)
    Y = np.full((len(names), block_size), IGNORE, dtype=np.int64)
    for row, name in enumerate(names):
        ids = [0, *(STOI[c] for c in name), 0]
        X[row, : len(ids) - 1] = ids[:-1]
        Y[row, : len(ids) - 1] = ids[1:]
    return X, Y


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then a GELU MLP, each added to its input."""

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiheadAttention(n_embd, n_head, batch_first=True)
        self.ln2 = nn.LayerNorm(n_embd)
        self.fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.proj = nn.Linear(4 * n_embd, n_embd)
        self.causal = np.triu(np.ones((block_size, block_size), dtype=bool), k=1)  # True: may not attend

    def forward(self, x):
        T = x.shape[1]
        h = self.ln1(x)
        attended, _ = self.attn(h, h, h, attn_mask=self.causal[:T, :T], need_weights=False)
        x = x + attended
        return x + self.proj(self.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, block_size: int, n_embd: int = 64, n_head: int = 4, n_layer: int = 2) -> None:
        super().__init__()
        self.block_size = block_size
        self.tok = nn.Embedding(V, n_embd)
        self.pos = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList([Block(n_embd, n_head, block_size) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, V)
        for name, p in self.named_parameters():  # GPT-2's initialisation: N(0, 0.02) weights, zero biases
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx):
        idx = np.asarray(idx)
        x = self.tok(idx) + self.pos(np.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (B, T, V)


def evaluate(model: GPT, X: np.ndarray, Y: np.ndarray, chunk: int = 1000) -> float:
    """The mean cross-entropy per real target (padding ignored) over all of (X, Y)."""
    total, count = 0.0, int((Y != IGNORE).sum())
    with ag.no_grad():
        for i in range(0, len(X), chunk):
            logits = model(X[i : i + chunk])
            loss = ag.cross_entropy(
                logits.reshape(-1, V), Y[i : i + chunk].reshape(-1), reduction="sum", ignore_index=IGNORE
            )
            total += loss.item()
    return total / count


def sample(next_logits, block_size: int, count: int, seed: int) -> list[str]:
    """Names drawn character by character; ``next_logits(tokens (1, block))`` gives logits (1, block, V)."""
    rng = np.random.default_rng(seed)
    names = []
    for _ in range(count):
        tokens = np.zeros(
            (1, block_size), dtype=np.int64
        )  # causal: the zeros after position t are never seen
        name = ""
        for t in range(block_size - 1):
            logits = np.asarray(next_logits(tokens), dtype=np.float64)[0, t]
            probs = np.exp(logits - logits.max())
            ix = int(np.asarray(ag.multinomial(probs / probs.sum(), 1, rng=rng))[0])
            if ix == 0:
                break
            name += CHARS[ix]
            tokens[0, t + 1] = ix
        names.append(name)
    return names


def onnx_check(model: GPT, block_size: int, seed: int, engine_names: list[str]) -> None:
    """Export to ONNX, sample with onnxruntime with the same seed, and compare with the engine's names."""
    try:
        import onnxruntime
    except ImportError:
        print("ONNX: skipped (pip install 'autograd-nn[onnx]' for onnx and onnxruntime)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "char_gpt.onnx"
        ag.export_onnx(model, np.zeros((1, block_size), dtype=np.int64), path, input_names=["tokens"])
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        size = path.stat().st_size
    names = sample(
        lambda tokens: session.run(None, {"tokens": tokens})[0], block_size, len(engine_names), seed
    )
    print(f"ONNX ({size:,} bytes) sampled with onnxruntime, same seed: {' '.join(names)}")
    same = sum(a == b for a, b in zip(names, engine_names, strict=True))
    print(f"ONNX: {same} of {len(names)} names the same as the engine's")
    if same != len(names):
        raise SystemExit("onnxruntime's samples differ from the engine's")


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000, help="training steps (default: 6000)")
    parser.add_argument("--batch-size", type=int, default=32, help="names per step (default: 32)")
    parser.add_argument("--lr", type=float, default=3e-3, help="AdamW's peak learning rate (default: 3e-3)")
    parser.add_argument(
        "--seed", type=int, default=0, help="initialisation, batches and sampling (default: 0)"
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or not args.lr > 0:
        parser.error("--steps and --batch-size must be at least 1, --lr positive")
    start = time.perf_counter()

    data = load_names()
    block_size = max(map(len, data.names)) + 1  # the longest name and its end
    Xtr, Ytr = sequences(data.train, block_size)
    Xva, Yva = sequences(data.validation, block_size)
    print(f"{len(Xtr):,} training names, {len(Xva):,} validation; block {block_size}")

    nn.init.manual_seed(args.seed)
    model = GPT(block_size)
    print(f"{model.num_parameters():,} parameters")
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    rng = np.random.default_rng(args.seed)
    for step in range(args.steps):
        batch = rng.integers(0, len(Xtr), args.batch_size)
        logits = model(Xtr[batch])
        loss = ag.cross_entropy(logits.reshape(-1, V), Ytr[batch].reshape(-1), ignore_index=IGNORE)
        lr = optimizer.lr  # this step's rate (the scheduler sets the next one)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            print(f"step {step:5d}  lr {lr:.5f}  batch loss {loss.item():.4f}")
    train_time = time.perf_counter() - start

    val_loss = evaluate(model, Xva, Yva)
    engine_names = sample(lambda tokens: model(tokens).data, block_size, 10, args.seed)
    print("samples:", " ".join(engine_names))
    onnx_check(model, block_size, args.seed, engine_names)
    print(f"wall time: {time.perf_counter() - start:.1f} s ({train_time:.1f} s to train)")
    print(f"validation loss: {val_loss:.4f}")
    return val_loss


if __name__ == "__main__":
    main()
