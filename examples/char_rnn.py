"""A vanilla character RNN on the names: backprop through time by hand, checked, then trained with clipping.

    python examples/char_rnn.py              # the figures in docs/sequence.md
    python examples/char_rnn.py --steps 20   # a quick run

The training names are joined into one stream, ".emma.olivia.ava...", and the RNN reads it one character at a
time, carrying a hidden state h from one character to the next:

    h_t = tanh(Wxh x_t + Whh h_(t-1) + bh)         x_t: the one-hot vector of character t
    p_t = softmax(Why h_t + by)                    the predicted distribution of character t + 1
    loss = mean over t of -log p_t[character t + 1]

1. ``loss_and_gradients`` computes the loss forward and every gradient backward through time in plain NumPy:
   at each step, going backwards, the output's gradient is p_t minus the one-hot target; it reaches h_t from the
   output layer and from the step after (through Whh), passes tanh's derivative 1 - h_t**2, and is added into
   the gradients of the weights, which every step shares. ``ag.check_value_and_grad`` checks those gradients
   against autodiff of the same NumPy code run on Tensors.
2. ``nn.RNN`` (with an ``nn.Linear`` on top) computes the same function: loaded with the same weights, its
   autodiff gradients are compared with the hand-derived ones by ``ag.compare_gradients``.
3. The ``nn.RNN`` model is trained on chunks of 25 characters of 32 places in the stream at once (truncated
   backprop through time: the state is carried over, its graph cut), with Adam and ``nn.clip_grad_norm_``, which
   scales the gradients down whenever their joint norm exceeds ``--clip`` (the guard against the exploding
   gradients of long products of Whh).

The validation loss is the mean per-character loss over the stream of validation names, each name's end "."
included, so it compares with ``makemore_mlp.py``'s.
"""

from __future__ import annotations

import argparse
import string
import time

import numpy as np

import autograd_nn as ag
from autograd_nn import nn, optim
from autograd_nn.datasets import load_names

CHARS = "." + string.ascii_lowercase  # "." separates the names in the stream
STOI = {c: i for i, c in enumerate(CHARS)}
V = len(CHARS)


def stream(names: list[str]) -> np.ndarray:
    """The names joined into one stream of character indices, ".a.b." (a "." before, between and after)."""
    return np.array([STOI[c] for c in "." + ".".join(names) + "."])


# ---------------------------------------------------------------- 1. backprop through time, by hand
def loss_and_gradients(Wxh, Whh, Why, bh, by, inputs, targets, h0):
    """The mean loss of predicting ``targets`` (B, T) from ``inputs`` (B, T), and its gradients with respect to
    Wxh (H, V), Whh (H, H), Why (V, H), bh (H,), by (V,). Plain NumPy; rows are the B sequences."""
    B, T = inputs.shape
    onehot = np.eye(V)
    hs, ps = [h0], []
    loss = 0.0
    for t in range(T):  # forward: the state carries from each character to the next
        x = onehot[inputs[:, t]]  # (B, V)
        hs.append(np.tanh(x @ Wxh.T + hs[-1] @ Whh.T + bh))
        logits = hs[-1] @ Why.T + by
        shifted = logits - np.max(logits, axis=1, keepdims=True)
        p = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
        ps.append(p)
        loss = loss - np.sum(np.log(p[np.arange(B), targets[:, t]]))
    loss = loss / (B * T)

    dWxh, dWhh, dWhy, dbh, dby = 0.0, 0.0, 0.0, 0.0, 0.0  # added into from every time step
    dh_from_later = 0.0  # the gradient reaching h_t through h_(t+1); nothing after the last step
    for t in reversed(range(T)):
        dlogits = (ps[t] - onehot[targets[:, t]]) / (B * T)  # softmax + cross-entropy, per character
        dWhy = dWhy + dlogits.T @ hs[t + 1]
        dby = dby + np.sum(dlogits, axis=0)
        dh = dlogits @ Why + dh_from_later  # h_t feeds the output and the next step
        dpre = (1 - hs[t + 1] ** 2) * dh  # through tanh
        dWxh = dWxh + dpre.T @ onehot[inputs[:, t]]
        dWhh = dWhh + dpre.T @ hs[t]
        dbh = dbh + np.sum(dpre, axis=0)
        dh_from_later = dpre @ Whh
    return loss, (dWxh, dWhh, dWhy, dbh, dby)


def check_by_hand(rng: np.random.Generator) -> None:
    """Hand-derived BPTT against autodiff (check_value_and_grad), and nn.RNN against the hand-derived."""
    H, B, T = 16, 3, 8
    weights = [
        rng.normal(0, 0.3, (H, V)),  # Wxh
        rng.normal(0, 0.3, (H, H)),  # Whh
        rng.normal(0, 0.3, (V, H)),  # Why
        rng.normal(0, 0.1, H),  # bh
        rng.normal(0, 0.1, V),  # by
    ]
    inputs, targets = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    h0 = rng.normal(0, 0.5, (B, H))
    report = ag.check_value_and_grad(
        loss_and_gradients,
        *weights,
        inputs,
        targets,
        h0,
        wrt=["Wxh", "Whh", "Why", "bh", "by"],
        num_examples=B * T,
    )
    print("1. hand-derived backprop through time against autodiff (check_value_and_grad):")
    print(report)
    report.raise_for_mismatch()

    # 2. nn.RNN + nn.Linear loaded with the same weights: the same loss, and autodiff's gradients equal the hand-derived
    rnn, head = nn.RNN(V, H, batch_first=True), nn.Linear(H, V)
    for prefix, module in (("rnn", rnn), ("head", head)):
        for name, p in module.named_parameters():
            p.name = f"{prefix}.{name}"  # the report's row names
    Wxh, Whh, Why, bh, by = weights
    with ag.no_grad():
        rnn.weight_ih_l0.data[...], rnn.weight_hh_l0.data[...] = Wxh, Whh
        rnn.bias_ih_l0.data[...], rnn.bias_hh_l0.data[...] = bh, 0.0  # nn.RNN has two biases; bh is their sum
        head.weight.data[...], head.bias.data[...] = Why, by
    out, _ = rnn(np.eye(V)[inputs], h0[None])
    loss = ag.cross_entropy(head(out).reshape(B * T, V), targets.reshape(-1))
    mine_loss, (dWxh, dWhh, dWhy, dbh, dby) = loss_and_gradients(*weights, inputs, targets, h0)
    print(f"2. nn.RNN's loss {loss.item():.12f}, the hand-written one's {mine_loss:.12f}")
    mine = {
        rnn.weight_ih_l0: dWxh,
        rnn.weight_hh_l0: dWhh,
        rnn.bias_ih_l0: dbh,
        rnn.bias_hh_l0: dbh,
        head.weight: dWhy,
        head.bias: dby,
    }
    nn_report = ag.compare_gradients(loss, mine)
    print(nn_report)
    nn_report.raise_for_mismatch()

    # Why clip: with a larger Whh, the gradient through 60 steps of the recurrence explodes
    with ag.no_grad():
        rnn.weight_hh_l0.data *= 4.0
    long_inputs, long_targets = rng.integers(0, V, (B, 60)), rng.integers(0, V, (B, 60))
    out, _ = rnn(np.eye(V)[long_inputs])
    loss = ag.cross_entropy(head(out).reshape(-1, V), long_targets.reshape(-1))
    loss.backward()
    params = [*rnn.parameters(), *head.parameters()]
    before = nn.clip_grad_norm_(params, max_norm=1.0)
    after = float(np.sqrt(sum(np.vdot(p.grad, p.grad) for p in params)))
    print(
        f"   with Whh x 4 over 60 steps: gradient norm {before:.1f}, after clip_grad_norm_(max_norm=1.0) {after:.3f}"
    )


# ---------------------------------------------------------------- 3. training nn.RNN
class CharRNN(nn.Module):
    """One-hot characters -> nn.RNN -> a Linear layer to the logits of the next character."""

    def __init__(self, hidden_size: int, *, rng=None) -> None:
        super().__init__()
        self.rnn = nn.RNN(V, hidden_size, batch_first=True, rng=rng)
        self.head = nn.Linear(hidden_size, V, rng=rng)

    def forward(self, ids: np.ndarray, h=None):
        out, h = self.rnn(np.eye(V)[ids], h)
        return self.head(out), h


def evaluate(model: CharRNN, ids: np.ndarray, pieces: int = 32) -> float:
    """The mean per-character loss over the stream, read as ``pieces`` parallel stretches from a zero state."""
    length = (len(ids) - 1) // pieces
    inputs = ids[: pieces * length].reshape(pieces, length)
    targets = ids[1 : pieces * length + 1].reshape(pieces, length)
    total, h = 0.0, None
    with ag.no_grad():
        for start in range(0, length, 200):
            logits, h = model(inputs[:, start : start + 200], h)
            chunk = targets[:, start : start + 200]
            total += ag.cross_entropy(logits.reshape(-1, V), chunk.reshape(-1), reduction="sum").item()
    return total / inputs.size


def sample(model: CharRNN, count: int, rng: np.random.Generator) -> list[str]:
    names = []
    with ag.no_grad():
        for _ in range(count):
            ix, h, name = 0, None, ""
            while len(name) < 30:
                logits, h = model(np.array([[ix]]), h)
                ix = int(np.asarray(ag.multinomial(ag.softmax(logits.reshape(V), axis=-1), 1, rng=rng))[0])
                if ix == 0:
                    break
                name += CHARS[ix]
            names.append(name)
    return names


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000, help="training steps (default: 4000)")
    parser.add_argument("--hidden", type=int, default=128, help="hidden state size (default: 128)")
    parser.add_argument("--seq-len", type=int, default=25, help="characters per chunk (default: 25)")
    parser.add_argument(
        "--batch-size", type=int, default=32, help="places in the stream read at once (default: 32)"
    )
    parser.add_argument("--lr", type=float, default=0.005, help="Adam's learning rate (default: 0.005)")
    parser.add_argument("--clip", type=float, default=1.0, help="largest gradient norm (default: 1.0)")
    parser.add_argument(
        "--seed", type=int, default=0, help="initialisation, checks and sampling (default: 0)"
    )
    args = parser.parse_args(argv)
    if min(args.steps, args.hidden, args.seq_len, args.batch_size) < 1 or not (args.lr > 0 and args.clip > 0):
        parser.error(
            "--steps, --hidden, --seq-len and --batch-size must be at least 1, --lr and --clip positive"
        )
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    check_by_hand(rng)

    data = load_names()
    train, validation = stream(data.train), stream(data.validation)
    print(
        f"3. training: a stream of {len(train):,} characters, {args.batch_size} places x {args.seq_len} a step"
    )
    model = CharRNN(args.hidden, rng=rng)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    # the batch_size places start evenly spaced along the stream and move on seq_len characters each step
    span = (len(train) - 1) // args.batch_size
    offsets = np.arange(args.batch_size) * span
    position, h, clipped, norms = 0, None, 0, []
    for step in range(args.steps):
        if position + args.seq_len > span:  # the end of the places' stretches: start again, from a zero state
            position, h = 0, None
        index = offsets[:, None] + position + np.arange(args.seq_len)
        logits, h = model(train[index], h)
        h = h.detach()  # carry the state, not its graph: backprop stops at the chunk's start
        loss = ag.cross_entropy(logits.reshape(-1, V), train[index + 1].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        norm = nn.clip_grad_norm_(model.parameters(), args.clip)
        clipped += norm > args.clip
        norms.append(norm)
        optimizer.step()
        scheduler.step()
        position += args.seq_len
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  gradient norm {norm:.3f}")
    print(
        f"gradient clipping at {args.clip:g}: {clipped} of {args.steps} steps clipped "
        f"(largest norm {max(norms):.2f}, median {np.median(norms):.3f})"
    )
    train_time = time.perf_counter() - start

    val_loss = evaluate(model, validation)
    print("samples:", " ".join(sample(model, 10, np.random.default_rng(args.seed))))
    print(f"wall time: {time.perf_counter() - start:.1f} s ({train_time:.1f} s to check and train)")
    print(f"validation loss: {val_loss:.4f}")
    return val_loss


if __name__ == "__main__":
    main()
