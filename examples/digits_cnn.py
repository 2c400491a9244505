"""A small convolutional network on the bundled digits, seen as 1x8x8 images.

    python examples/digits_cnn.py                 # 98.6% on the 359 held-out digits (seeds 0-4: 98.6-98.9%)
    python examples/digits_cnn.py --epochs 3      # a quick run

Conv2d(1,16,3,padding=1) -> ReLU -> MaxPool2d(2) -> Conv2d(16,32,3,padding=1) -> ReLU -> MaxPool2d(2) ->
Flatten -> Linear(128,10), trained with Adam on ``ag.cross_entropy``, the learning rate falling linearly to
zero. Same split as ``autograd-nn train`` (stratified, 20% held out, seed 0); pixels are divided by 16.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import autograd_nn as ag
from autograd_nn import nn, optim
from autograd_nn.digits.data import bundled_digits, labels_to_digits, load_dataset, stratified_split


def digits_cnn(rng: np.random.Generator) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=rng),  # (N, 16, 8, 8)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 16, 4, 4)
        nn.Conv2d(16, 32, 3, padding=1, rng=rng),  # (N, 32, 4, 4)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 32, 2, 2)
        nn.Flatten(),  # (N, 128)
        nn.Linear(128, 10, rng=rng),  # logits
    )


def accuracy(model: nn.Module, images: np.ndarray, classes: np.ndarray) -> float:
    model.eval()
    with ag.no_grad():
        predicted = model(images).data.argmax(axis=1)
    model.train()
    return float(np.mean(predicted == classes))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs", type=int, default=15, help="passes over the training digits (default: 15)"
    )
    parser.add_argument(
        "--lr", type=float, default=0.005, help="Adam's initial learning rate (default: 0.005)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="images per step (default: 32)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling seed (default: 0)")
    parser.add_argument("--float32", action="store_true", help="train in float32 instead of float64")
    parser.add_argument("--save", metavar="PATH", help="write the trained weights to this .npz file")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        parser.error("--epochs and --batch-size must be at least 1, --lr positive")
    dtype = np.float32 if args.float32 else np.float64

    with bundled_digits() as path:
        data = load_dataset(path)
    train, heldout = stratified_split(data, holdout=0.2, seed=0)  # the default split of `autograd-nn train`
    scale = np.abs(train.X).max()
    images = (train.X / scale).reshape(-1, 1, 8, 8).astype(dtype)  # rows of 64 pixels as 1x8x8 images
    images_h = (heldout.X / scale).reshape(-1, 1, 8, 8).astype(dtype)
    # Class k is the digit k (the course's label 10 is the digit 0): the numbering of every model but the
    # tutorial network (digits/classes.py)
    classes, classes_h = labels_to_digits(train.y), labels_to_digits(heldout.y)

    rng = np.random.default_rng(args.seed)
    model = digits_cnn(rng).to(dtype)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(model)
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        opt.lr = args.lr * (1 - (epoch - 1) / args.epochs)  # linear decay: large steps first, fine ones last
        order = rng.permutation(train.m)
        for start in range(0, train.m, args.batch_size):
            rows = order[start : start + args.batch_size]
            opt.zero_grad()
            loss = ag.cross_entropy(model(images[rows]), classes[rows])
            loss.backward()
            opt.step()
        if epoch % 5 == 0 or epoch == args.epochs:
            held = accuracy(model, images_h, classes_h)
            print(f"epoch {epoch:3d}: last batch loss {loss.item():.4f}, held-out {held:.2%}")
    seconds = time.perf_counter() - started
    result = accuracy(model, images_h, classes_h)
    if args.save:
        print(f"weights written to {model.save(args.save)}")
    print(f"held-out accuracy: {result:.4f} ({heldout.m} digits, {seconds:.1f} s)")
    return result


if __name__ == "__main__":
    main()
