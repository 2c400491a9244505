"""Sampling from a distribution: ``multinomial``, as PyTorch's, for drawing the next token from a model's
probabilities. Samples are integer category indices, which have no gradient.
"""

from __future__ import annotations

import numpy as np

from .. import recording


def _generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"multinomial: rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}"
    )


def _check_weights(probs) -> np.ndarray:
    """The weights as a float64 array of 1 or 2 dimensions, every row non-negative, finite and not all 0."""
    weights = np.asarray(probs.data if isinstance(probs, recording.Tensor) else probs)
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"multinomial: probs must hold numbers, got dtype {weights.dtype}")
    weights = weights.astype(np.float64)
    if weights.ndim not in (1, 2) or weights.shape[-1] == 0:
        raise ValueError(
            f"multinomial: probs must be 1-D (categories,) or 2-D (rows, categories) with at least one "
            f"category, got shape {weights.shape}"
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"multinomial: probs of shape {weights.shape} has negative, infinite or NaN entries")
    empty = np.flatnonzero(weights.reshape(-1, weights.shape[-1]).sum(axis=-1) == 0)
    if empty.size:
        raise ValueError(
            f"multinomial: probs of shape {weights.shape} has rows that sum to 0 (row {int(empty[0])}); "
            "every row needs a positive weight"
        )
    return weights


def multinomial(probs, num_samples: int = 1, *, replacement: bool = False, rng=None) -> np.ndarray:
    """Draw ``num_samples`` category indices from each row of ``probs`` (weights, need not sum to 1).

    ``probs``: (categories,) -> result (num_samples,); (rows, categories) -> (rows, num_samples), int64.
    Without ``replacement`` each row's indices are distinct, drawn one after the other in proportion to the
    weights not drawn yet (so ``num_samples`` may not exceed a row's non-zero weights). ``rng``: a numpy
    Generator, an int seed, or None for a fresh unseeded generator.
    """
    weights = _check_weights(probs)
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"multinomial: num_samples must be a positive integer, got {num_samples!r}")
    rows = weights.reshape(-1, weights.shape[-1])
    rng = _generator(rng)
    if replacement:
        # Inverse CDF: the index of the first cumulative weight above a uniform draw; side="right" skips
        # zero-weight categories (their cumulative weight equals the one before).
        cdf = np.cumsum(rows / rows.sum(axis=-1, keepdims=True), axis=-1)
        cdf[:, -1] = 1.0  # the rounding of the sum must not leave a draw above the last category
        draws = rng.random((len(rows), int(num_samples)))
        samples = np.stack([np.searchsorted(c, u, side="right") for c, u in zip(cdf, draws, strict=True)])
    else:
        available = int(np.count_nonzero(rows, axis=-1).min())
        if num_samples > available:
            raise ValueError(
                f"multinomial: cannot draw {num_samples} distinct categories without replacement from probs of "
                f"shape {weights.shape}, whose sparsest row has {available} non-zero weight(s); "
                "pass replacement=True or draw fewer"
            )
        # Gumbel top-k: the categories with the largest log(weight) + Gumbel noise, largest first, are
        # distributed as draws one after another in proportion to the remaining weights.
        with np.errstate(divide="ignore"):
            keys = np.log(rows) + rng.gumbel(size=rows.shape)
        samples = np.argsort(-keys, axis=-1, kind="stable")[:, : int(num_samples)]
    samples = samples.astype(np.int64)
    return samples[0] if weights.ndim == 1 else samples
