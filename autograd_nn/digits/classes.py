"""Which output of a model stands for which label: the one rule every trainer, scorer and exporter uses.

The data's labels run 1..K (the course's digits: 1..9, and 10 for the digit 0). A model scores K classes,
numbered 0..K-1 by the columns of its output:

- the tutorial's ``Network`` keeps the course's numbering: its output j is label j+1 (so for the digits,
  output 9 is the digit 0), which its reference backprop and the course's weights depend on;
- every other model (any ``nn.Module``: ``train_network(model=...)``, ``--model`` on the command line)
  has class = label mod K: label K is class 0 and every other label is its own class, so for the digits
  class k is the digit k, as ``load_digits().y_train`` gives them.
"""

from __future__ import annotations

import numpy as np


def classes_from_labels(labels: np.ndarray, num_labels: int, *, tutorial: bool) -> np.ndarray:
    """The class (output column) of each label 1..K: label - 1 for the tutorial ``Network``, label mod K
    for every other model (the last label, K, is class 0)."""
    labels = np.asarray(labels)
    return labels - 1 if tutorial else labels % num_labels


def labels_from_classes(classes: np.ndarray, num_labels: int, *, tutorial: bool) -> np.ndarray:
    """The label 1..K of each class 0..K-1 (the inverse of ``classes_from_labels``): class + 1 for the
    tutorial ``Network``; for every other model the class itself, and K for class 0."""
    classes = np.asarray(classes)
    return classes + 1 if tutorial else np.where(classes == 0, num_labels, classes)


def predicted_labels(scores: np.ndarray, *, tutorial: bool) -> np.ndarray:
    """The label 1..K each row of class scores (examples x K) predicts: the label of its argmax."""
    scores = np.asarray(scores)
    return labels_from_classes(np.argmax(scores, axis=1), scores.shape[1], tutorial=tutorial)


def describe(num_labels: int, *, tutorial: bool) -> str:
    """One line saying how a model's output columns map to labels (for exports and messages)."""
    if tutorial:
        return f"label = argmax + 1, labels 1..{num_labels} (for the digits, label 10 is the digit 0)"
    return (
        f"class = argmax (for the digits, the digit itself); label = class, and {num_labels} for class 0 "
        f"(class = label mod {num_labels})"
    )
