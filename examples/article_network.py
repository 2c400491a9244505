"""The tutorial "Build a Complete Neural Network in Python", step by step, as forward-only code.

Every gradient below comes from ``backward()``; nothing is derived by hand. Run it from the
project root:  python examples/article_network.py  [path/to/ex3d1.xlsx]
(with no argument it uses the bundled data/digits.xlsx: 1797 images of 8x8 pixels; the course's
ex3d1.xlsx gives 5000 x 400).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import autograd_nn as ag
from autograd_nn.digits.data import labels_to_digits, load_dataset, one_hot, stratified_split
from autograd_nn.digits.network import Network, init_epsilon, input_scale_for
from autograd_nn.optim import GradientDescent

ROOT = Path(__file__).resolve().parent.parent
path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "data" / "digits.xlsx"

# 1. Load the workbook: sheet X holds one image per row, sheet y its label (10 stands for digit 0).
data = load_dataset(path)
print(f"1. X: {data.m} x {data.n}   y: {data.m} labels, values {data.y.min()}..{data.y.max()}")
print("   first labels:", data.y[:10], "-> digits", labels_to_digits(data.y[:10]))

# 2. Hold out a fifth of the examples (stratified) so the accuracy we report is honest.
train, heldout = stratified_split(data, holdout=0.2, seed=0)
scale = input_scale_for(train.X)  # pixels run 0..16 here; the course's images are already in [0, 1]
X, Y = train.X, one_hot(train.y)
print(f"2. train: {train.m} examples, held out: {heldout.m}; one-hot Y: {Y.shape[0]} x {Y.shape[1]}")

# 3. Initialise theta1 (25 x n) and theta2 (10 x 25) uniformly in +-eps, eps = sqrt(6)/sqrt(L_in+L_out).
net = Network([data.n, 25, 10], seed=0, input_scale=scale)
(theta1, b1), (theta2, b2) = net.params
print(
    f"3. theta1 {theta1.shape}, b1 {b1.shape}, theta2 {theta2.shape}, b2 {b2.shape}; eps1 = {init_epsilon(data.n, 25):.4f}"
)

# 4. Forward pass, written out as in the tutorial: z = a @ theta.T + b, a = sigmoid(z).
a1 = ag.Tensor(X / scale, name="X")
z2 = a1 @ theta1.T + b1
a2 = z2.sigmoid()
z3 = a2 @ theta2.T + b2
a3 = z3.sigmoid()
print(f"4. hidden activations {a2.shape}, outputs {a3.shape}; first row: {np.round(a3.data[0], 3)}")

# 5. Cost: cross-entropy summed over classes, averaged over examples. From the logits z3, so a
#    saturated sigmoid can never give log(0) (the tutorial's log(a3) can).
m = X.shape[0]
J = ag.binary_cross_entropy_with_logits(z3, Y, reduction="sum") / m
print(f"5. cost J = {J.item():.4f}")

# 6. Backward: one call gives every gradient the tutorial derives by hand with its deltas.
J.backward()
print(
    f"6. gradients: theta1 {theta1.grad.shape}, b1 {b1.grad.shape}, theta2 {theta2.grad.shape}, b2 {b2.grad.shape}"
)
assert np.allclose(theta1.grad, net.params[0][0].grad)  # the Network object holds the same tensors

# 7. Train by full-batch gradient descent, theta <- theta - alpha * grad (subtracting the
#    gradient: the tutorial's update replaced theta by the scaled gradient, so its cost oscillates).
optimizer = GradientDescent(net.parameters(), lr=2.0)
for step in range(1, 1001):
    optimizer.zero_grad()
    cost = net.cost(X, Y)
    cost.backward()
    optimizer.step()
    if step in (1, 10, 100, 1000):
        print(f"7. step {step:4d}: cost {cost.item():.4f}")

# 8. Predict: the class with the largest output (argmax), as a digit.
predicted = net.predict(heldout.X)
print("8. predicted digits:", labels_to_digits(predicted[:10]), " true:", labels_to_digits(heldout.y[:10]))

# 9. Accuracy on the held-out examples: argmax against the true label. (The tutorial counts an
#    output >= 0.5 at the true class, which a network that outputs >= 0.5 everywhere would pass.)
print(
    f"9. held-out accuracy: {net.accuracy(heldout.X, heldout.y):.2%} ({heldout.m} examples); "
    f"train accuracy: {net.accuracy(train.X, train.y):.2%}"
)
