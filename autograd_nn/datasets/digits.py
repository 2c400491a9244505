"""The handwritten digits bundled with the package, split as ``autograd-nn train`` splits them: ``load_digits()``.

1,797 images of 8x8 pixels (UCI digits, CC BY 4.0; see data/README.md), read from the workbook inside
the package through importlib.resources, so it works after any install and from any folder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tables import bundled_digits, labels_to_digits, load_dataset, stratified_split

__all__ = ["DigitsData", "load_digits"]


@dataclass(frozen=True, repr=False)
class DigitsData:
    """The digits, split into a training part and a held-out test part.

    ``X_train`` (m_train, 64) and ``X_test`` (m_test, 64): float64 pixel values 0..16, as stored.
    ``y_train``, ``y_test``: int64, the digit each image shows, 0..9, which is also its class index
    (what ``ag.cross_entropy`` takes). ``scale``: the largest pixel value of the training part, so
    ``X / scale`` lies in [0, 1] (the tutorial's ``Network`` takes it as ``input_scale``).
    ``holdout`` and ``seed``: how the split was made.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    scale: float
    holdout: float
    seed: int

    @property
    def labels_train(self) -> np.ndarray:
        """``y_train`` as the course's labels 1..10, where 10 is the digit 0 (what the tutorial's
        ``Network`` and ``one_hot`` take)."""
        return _course_labels(self.y_train)

    @property
    def labels_test(self) -> np.ndarray:
        """``y_test`` as the course's labels 1..10, where 10 is the digit 0."""
        return _course_labels(self.y_test)

    def __repr__(self) -> str:
        return (
            f"DigitsData(X_train {self.X_train.shape}, X_test {self.X_test.shape}, digits 0..9, "
            f"scale={self.scale:g}, holdout={self.holdout:g}, seed={self.seed})"
        )


def load_digits(holdout: float = 0.2, seed: int = 0, *, cache: bool = True) -> DigitsData:
    """The bundled digits, with ``holdout`` of every digit held out (stratified, shuffled by ``seed``).

    The defaults give the rows ``autograd-nn train`` trains on and holds out (20%, seed 0: 1,438 and
    359). ``cache=False`` parses the workbook even when its parsed copy is cached (see data_cache.py).
    """
    with bundled_digits() as path:
        data = load_dataset(path, cache=cache)
    train, test = stratified_split(data, holdout=holdout, seed=seed)  # on the course's labels, as train does
    largest = float(np.max(np.abs(train.X))) if train.m else 0.0
    return DigitsData(
        X_train=train.X,
        y_train=labels_to_digits(train.y).astype(np.int64),
        X_test=test.X,
        y_test=labels_to_digits(test.y).astype(np.int64),
        scale=largest if largest > 0 else 1.0,
        holdout=float(holdout),
        seed=seed,
    )


def _course_labels(digits: np.ndarray) -> np.ndarray:
    return np.where(digits == 0, 10, digits)
