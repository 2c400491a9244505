"""scikit-learn's MLPClassifier (25 logistic hidden units) under the protocol of the accuracy table in docs/models.md.

The protocol is the one of the table's `autograd-nn train --seed S` row: for each seed S in 0..5 the data
is split by `load_digits(seed=S)` (stratified, 20% held out: the split `autograd-nn train --seed S`
makes), the inputs are divided by the training part's largest value, the model starts from
`random_state=S`, and the score is the accuracy on the 359 held-out digits. A model is judged over
several splits, not one, because on 359 digits one split moves the accuracy by a point or more.

Prints each seed's accuracy, then the table's row for scikit-learn, exactly as docs/models.md shows it.
Needs scikit-learn (`pip install -e ".[test]"` or `".[dev]"`).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from autograd_nn.datasets import load_digits

SEEDS = range(6)


def held_out_accuracy(seed: int) -> float:
    """MLPClassifier trained on split ``seed`` (random_state ``seed``), scored on its held-out part."""
    digits = load_digits(holdout=0.2, seed=seed)
    model = MLPClassifier(hidden_layer_sizes=(25,), activation="logistic", max_iter=1000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(digits.X_train / digits.scale, digits.y_train)
    return float(model.score(digits.X_test / digits.scale, digits.y_test))


def main() -> None:
    accuracies = []
    for seed in SEEDS:
        accuracies.append(held_out_accuracy(seed))
        print(f"seed {seed}: held-out accuracy {accuracies[-1]:.2%}")
    each = " ".join(f"{100 * a:.1f}" for a in accuracies)
    print(
        '| scikit-learn `MLPClassifier(hidden_layer_sizes=(25,), activation="logistic")`, same splits '
        f"| {each} | {np.mean(accuracies):.1%} |"
    )


if __name__ == "__main__":
    main()
