"""A character-level MLP language model of the names: 3 characters of context, embeddings, BatchNorm, tanh.

    python examples/makemore_mlp.py              # the figures in docs/sequence.md
    python examples/makemore_mlp.py --steps 50   # a quick run

To guess the next character of a name the model looks at the three before it (".." pads the start):

    context (B, 3) -> Embedding(27, 10) -> (B, 30) -> Linear(30, 200, bias=False) -> BatchNorm1d(200) -> tanh
                   -> Linear(200, 27) -> logits; cross-entropy with the next character

The first Linear has no bias because BatchNorm subtracts the batch mean right after it (its beta is the
bias). Mini-batches of 32, SGD with a learning rate that drops tenfold after three quarters of the steps
(``optim.lr_scheduler.StepLR``). BatchNorm uses the batch's statistics while training and its running ones in
``eval()``, which is how the losses are measured and the names sampled (``ag.multinomial``).
``benchmarks/learner_path_torch.py`` trains the same model with PyTorch on the same split.
"""

from __future__ import annotations

import argparse
import string
import time

import numpy as np

import autograd_nn as ag
from autograd_nn import nn, optim
from autograd_nn.datasets import load_names

CHARS = "." + string.ascii_lowercase  # "." pads the start of a name and marks its end
STOI = {c: i for i, c in enumerate(CHARS)}


def contexts(names: list[str], block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (previous ``block_size`` characters, next character) of the names, as integer arrays."""
    X, Y = [], []
    for name in names:
        context = [0] * block_size
        for ch in [*name, "."]:
            X.append(context)
            Y.append(STOI[ch])
            context = [*context[1:], STOI[ch]]
    return np.array(X), np.array(Y)


class MLP(nn.Module):
    """Embed each context character, concatenate, one BatchNorm'd tanh hidden layer, logits."""

    def __init__(self, block_size: int = 3, n_embd: int = 10, n_hidden: int = 200, *, rng=None) -> None:
        super().__init__()
        self.emb = nn.Embedding(len(CHARS), n_embd)
        self.hidden = nn.Linear(block_size * n_embd, n_hidden, bias=False, rng=rng)
        self.bn = nn.BatchNorm1d(n_hidden)
        self.out = nn.Linear(n_hidden, len(CHARS), rng=rng)
        with ag.no_grad():  # a less confident output layer at the start: first loss near log(27)
            self.out.weight.data *= 0.1
            self.out.bias.data *= 0.0

    def forward(self, context) -> ag.Tensor:
        e = self.emb(context)  # (B, block_size, n_embd)
        h = self.bn(self.hidden(e.reshape(e.shape[0], -1))).tanh()
        return self.out(h)


def evaluate(model: nn.Module, X: np.ndarray, Y: np.ndarray, chunk: int = 20_000) -> float:
    """The mean cross-entropy over all of (X, Y) in eval mode (running BatchNorm statistics)."""
    model.eval()
    total = 0.0
    with ag.no_grad():
        for i in range(0, len(X), chunk):
            total += ag.cross_entropy(model(X[i : i + chunk]), Y[i : i + chunk], reduction="sum").item()
    model.train()
    return total / len(X)


def sample(model: nn.Module, block_size: int, count: int, rng: np.random.Generator) -> list[str]:
    """Names drawn one character at a time from the model's predicted distribution."""
    model.eval()
    names = []
    with ag.no_grad():
        for _ in range(count):
            context, name = [0] * block_size, ""
            while len(name) < 30:
                probs = ag.softmax(model(np.array([context])), axis=-1)
                ix = int(np.asarray(ag.multinomial(probs, num_samples=1, rng=rng)).reshape(-1)[0])
                if ix == 0:
                    break
                name += CHARS[ix]
                context = [*context[1:], ix]
            names.append(name)
    model.train()
    return names


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000, help="training steps (default: 30000)")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per step (default: 32)")
    parser.add_argument(
        "--lr", type=float, default=0.1, help="SGD learning rate before the drop (default: 0.1)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="initialisation, batches and sampling (default: 0)"
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 2 or not args.lr > 0:
        parser.error("--steps must be at least 1, --batch-size at least 2 (BatchNorm), --lr positive")
    start = time.perf_counter()

    block_size = 3
    data = load_names()
    Xtr, Ytr = contexts(data.train, block_size)
    Xva, Yva = contexts(data.validation, block_size)
    print(
        f"{len(Xtr):,} training examples, {len(Xva):,} validation; uniform guess log(27) = {np.log(27):.4f}"
    )

    nn.init.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = MLP(block_size, rng=rng)
    print(model)  # ends with the number of parameters

    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=max(1, args.steps * 3 // 4), gamma=0.1)
    for step in range(args.steps):
        batch = rng.integers(0, len(Xtr), args.batch_size)
        loss = ag.cross_entropy(model(Xtr[batch]), Ytr[batch])
        lr = optimizer.lr  # this step's rate (the scheduler sets the next one)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            print(f"step {step:6d}  lr {lr:.3f}  batch loss {loss.item():.4f}")
    train_time = time.perf_counter() - start

    train_loss, val_loss = evaluate(model, Xtr, Ytr), evaluate(model, Xva, Yva)
    print(f"train loss: {train_loss:.4f}")
    print("samples:", " ".join(sample(model, block_size, 10, np.random.default_rng(args.seed))))
    print(f"wall time: {time.perf_counter() - start:.1f} s ({train_time:.1f} s to train)")
    print(f"validation loss: {val_loss:.4f}")
    return val_loss


if __name__ == "__main__":
    main()
