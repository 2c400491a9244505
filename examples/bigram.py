"""A bigram model of the names two ways: counting, and a one-layer network trained by gradient descent.

    python examples/bigram.py              # the figures in docs/sequence.md
    python examples/bigram.py --steps 5    # a quick run

A name is read one character at a time, with "." marking its start and its end ("emma" gives the pairs
.e em mm ma a.). The bigram model says how likely each next character is given only the current one.

1. Counting: N[i, j] = how often character j follows character i in the training names. Adding 1 to
   every count (smoothing) keeps unseen pairs possible; the rows of N + 1, normalised, are the model.
2. A network: one-hot(current) @ W gives 27 logits, softmax turns them into probabilities, and gradient
   descent on the mean negative log-likelihood trains W. exp(W) then plays the part of the counts: the
   network can express exactly the counting model, so it converges to the same loss. A small penalty on
   W**2 pulls the logits together, as the smoothing pulls the probabilities together.

Both losses are the mean negative log-likelihood per character on the validation names of
``load_names()``; the uniform guess, log(27) = 3.2958, is the baseline.
"""

from __future__ import annotations

import argparse
import string
import time

import numpy as np

import autograd_nn as ag
from autograd_nn.datasets import load_names

CHARS = "." + string.ascii_lowercase  # "." starts and ends every name
STOI = {c: i for i, c in enumerate(CHARS)}


def bigrams(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every (current, next) character pair of the names, as two integer arrays."""
    xs, ys = [], []
    for name in names:
        chars = [0, *(STOI[c] for c in name), 0]
        xs.extend(chars[:-1])
        ys.extend(chars[1:])
    return np.array(xs), np.array(ys)


def count_model(xs: np.ndarray, ys: np.ndarray, smoothing: float) -> np.ndarray:
    """P[i, j]: the probability of j after i, from the counts plus ``smoothing`` per pair."""
    counts = np.zeros((len(CHARS), len(CHARS)))
    np.add.at(counts, (xs, ys), 1)
    counts += smoothing
    return counts / counts.sum(axis=1, keepdims=True)


def nll(P: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> float:
    """The mean negative log-likelihood of the pairs under the probability table P."""
    return float(-np.log(P[xs, ys]).mean())


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="gradient-descent steps (default: 300)")
    parser.add_argument("--lr", type=float, default=100.0, help="learning rate (default: 100)")
    parser.add_argument("--smoothing", type=float, default=1.0, help="added to every count (default: 1)")
    parser.add_argument("--reg", type=float, default=0.001, help="penalty on mean(W**2) (default: 0.001)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    args = parser.parse_args(argv)
    if args.steps < 1 or not args.lr > 0 or args.smoothing < 0 or args.reg < 0:
        parser.error("--steps must be at least 1, --lr positive, --smoothing and --reg not negative")
    start = time.perf_counter()

    data = load_names()
    xs, ys = bigrams(data.train)
    xv, yv = bigrams(data.validation)
    print(f"{len(data.train):,} training names give {len(xs):,} character pairs; validation {len(xv):,}")
    print(f"uniform guess: loss log(27) = {np.log(27):.4f}")

    P = count_model(xs, ys, args.smoothing)
    counts_val = nll(P, xv, yv)
    print(
        f"counts (+{args.smoothing:g} smoothing): train loss {nll(P, xs, ys):.4f}, validation loss {counts_val:.4f}"
    )

    # W starts at zero: every row's softmax is uniform, the first loss is log(27); the problem is convex
    W = ag.Tensor(np.zeros((len(CHARS), len(CHARS))), requires_grad=True, name="W")
    X = np.eye(len(CHARS))[xs]  # one-hot rows: X @ W picks row xs[i] of W, as W[xs] would
    for step in range(args.steps):
        logits = X @ W
        loss = ag.cross_entropy(logits, ys) + args.reg * (W**2).mean()
        W.grad = None
        loss.backward()
        W.data -= args.lr * W.grad
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}: train loss {loss.item():.4f}")

    with ag.no_grad():
        P_net = W.softmax(axis=1).data  # the network's probability table: softmax of each row of W
    net_train, net_val = nll(P_net, xs, ys), nll(P_net, xv, yv)
    print(
        f"network ({args.steps} steps of gradient descent): train loss {net_train:.4f}, validation loss {net_val:.4f}"
    )
    print(f"network - counts on validation: {net_val - counts_val:+.4f}")
    print(f"largest difference between the two probability tables: {np.abs(P_net - P).max():.4f}")

    names = []
    sample_rng = np.random.default_rng(args.seed)
    for _ in range(8):  # sample from the network's table: start at ".", draw until the next "."
        i, name = 0, ""
        while True:
            i = int(sample_rng.choice(len(CHARS), p=P_net[i]))
            if i == 0:
                break
            name += CHARS[i]
        names.append(name)
    print("samples:", " ".join(names))
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    print(f"validation loss: {net_val:.4f}")
    return net_val


if __name__ == "__main__":
    main()
