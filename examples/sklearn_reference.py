"""The reference the issue names: scikit-learn's MLPClassifier (25 logistic hidden units) on our split.

Needs the dev extra (pip install -e .[dev]). Uses the same stratified 80/20 split and input scaling
as `autograd-nn train`, so the two held-out accuracies compare like for like.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from autograd_nn.digits.data import load_dataset, stratified_split

ROOT = Path(__file__).resolve().parent.parent
data = load_dataset(sys.argv[1] if len(sys.argv) > 1 else ROOT / "data" / "digits.xlsx")
train, heldout = stratified_split(data, holdout=0.2, seed=0)
scale = float(np.abs(train.X).max())
accuracies = []
for seed in range(5):
    model = MLPClassifier(hidden_layer_sizes=(25,), activation="logistic", max_iter=1000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train.X / scale, train.y)
    accuracies.append(model.score(heldout.X / scale, heldout.y))
    print(f"seed {seed}: held-out accuracy {accuracies[-1]:.2%}")
print(
    f"MLPClassifier(25 logistic): mean {np.mean(accuracies):.2%}, min {min(accuracies):.2%} on {heldout.m} held-out digits"
)
