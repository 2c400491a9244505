"""The names data set: 91,910 first names and surnames from the 1990 US Census, one a line, lowercase a-z.

Built by ``data/make_names.py`` (see ``data/README.md`` for the source and licence) and shipped inside the
package, so ``load_names()`` works from any folder after a wheel install.
"""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np

_RESOURCE = "names.txt"


class Names(NamedTuple):
    """Every name (sorted) and a seeded, disjoint train/validation/test split of them (shuffled)."""

    names: list[str]
    train: list[str]
    validation: list[str]
    test: list[str]

    def __repr__(self) -> str:  # not the 91,910 names themselves
        return (
            f"Names({len(self.names):,} names: train {len(self.train):,}, validation {len(self.validation):,}, "
            f"test {len(self.test):,})"
        )


def load_names(seed: int = 42, fractions: tuple[float, float] = (0.8, 0.1)) -> Names:
    """The names and a split: a permutation drawn with ``seed``, cut at ``fractions`` (train, validation);
    the test set is the rest. The same seed gives the same split on every machine."""
    train_fraction, validation_fraction = fractions
    if not (train_fraction > 0 and validation_fraction >= 0 and train_fraction + validation_fraction <= 1):
        raise ValueError(
            f"load_names: fractions {fractions} must be (train > 0, validation >= 0) adding up to at most 1"
        )
    text = resources.files(__package__).joinpath(_RESOURCE).read_text(encoding="ascii")
    names = text.split()
    order = np.random.default_rng(seed).permutation(len(names))
    shuffled = [names[i] for i in order]
    n_train = int(train_fraction * len(names))
    n_validation = int(validation_fraction * len(names))
    return Names(
        names=names,
        train=shuffled[:n_train],
        validation=shuffled[n_train : n_train + n_validation],
        test=shuffled[n_train + n_validation :],
    )
