"""Attention: softmax(q k^T * scale + mask) v over the last two axes, as PyTorch's
``F.scaled_dot_product_attention``; the masked softmax is one op with softmax's fused VJP."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import recording
from ..errors import ShapeError
from ..recording import _as_tensor, apply
from .elementwise import dropout
from .reductions import Softmax, _row_maxima, _row_sums, softmax

if TYPE_CHECKING:
    from ..recording import Tensor


class MaskedSoftmax(Softmax):
    """softmax(x) along ``axis`` taken only over the entries where ``keep`` (a boolean array broadcasting
    against x) is True; the others get probability 0 and no gradient. A row with nothing kept is NaN, as in
    PyTorch. The VJP is softmax's: out is 0 where masked."""

    __slots__ = ("keep",)
    name = "masked_softmax"

    def __init__(self, keep: np.ndarray, axis: int = -1) -> None:
        super().__init__(axis)
        self.keep = keep

    def forward(self, x):
        e = np.where(self.keep, x, x.dtype.type(-np.inf))
        with np.errstate(invalid="ignore"):  # a fully masked row: -inf - -inf is NaN, PyTorch's answer
            e -= _row_maxima(e, self.axis)
        np.exp(e, out=e)
        e /= _row_sums(e, self.axis)
        return e


def _check_qkv(q, k, v) -> tuple:
    shapes = [t.shape if isinstance(t, recording.Tensor) else np.shape(t) for t in (q, k, v)]
    (qs, ks, vs) = shapes
    if min(len(s) for s in shapes) < 2 or qs[-1] != ks[-1] or ks[-2] != vs[-2]:
        raise ShapeError(
            f"scaled_dot_product_attention: needs q (..., L, E), k (..., S, E) and v (..., S, Ev), got shapes "
            f"{qs}, {ks} and {vs}"
        )
    return qs, ks


def _swap_last(t):
    axes = (*range(t.ndim - 2), t.ndim - 1, t.ndim - 2)
    return t.transpose(axes)


def attention_weights(q, k, keep=None, add=None, scale=None):
    """softmax(q k^T scale + add) over the positions where ``keep`` holds (both optional)."""
    q, k = _as_tensor(q), _as_tensor(k)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q * q.dtype.type(scale)) @ _swap_last(k)  # q is the smaller of q and the scores: scale it
    if add is not None:
        scores = scores + add
    if keep is None:
        return softmax(scores, axis=-1)
    return apply(MaskedSoftmax(keep), scores)


def _masks(attn_mask, is_causal: bool, q_shape, k_shape, dtype):
    """(keep, add): a boolean mask of the positions that take part, and a float mask added to the scores."""
    keep = add = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, not both")
        keep = np.tril(np.ones((q_shape[-2], k_shape[-2]), dtype=bool))
    elif attn_mask is not None:
        mask = attn_mask.data if isinstance(attn_mask, recording.Tensor) else attn_mask
        mask = np.asarray(mask)
        if mask.dtype == bool:
            keep = mask
        elif mask.dtype.kind == "f":
            add = attn_mask if isinstance(attn_mask, recording.Tensor) else mask.astype(dtype, copy=False)
        else:
            raise TypeError(
                f"scaled_dot_product_attention: attn_mask must be boolean (True = takes part) or float (added "
                f"to the scores), got dtype {mask.dtype}"
            )
    return keep, add


def scaled_dot_product_attention(
    q, k, v, attn_mask=None, is_causal: bool = False, dropout_p: float = 0.0, scale=None, rng=None
) -> Tensor:
    """softmax(q k^T * scale + mask) v on (..., L, E) queries, (..., S, E) keys and (..., S, Ev) values, as
    PyTorch's: ``attn_mask`` boolean (True = takes part) or float (added to the scores), broadcasting against
    (..., L, S); ``is_causal`` keeps position j <= i; ``scale`` defaults to 1/sqrt(E); ``dropout_p`` drops
    attention weights (with ``rng``, a numpy Generator)."""
    q_shape, k_shape = _check_qkv(q, k, v)
    dtype = q.dtype if isinstance(q, recording.Tensor) else np.asarray(q).dtype
    keep, add = _masks(attn_mask, is_causal, q_shape, k_shape, dtype)
    weights = attention_weights(q, k, keep, add, scale)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, training=True, rng=rng)
    return weights @ v
