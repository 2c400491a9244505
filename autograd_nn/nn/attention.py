"""MultiheadAttention with PyTorch's parameter layout and forward, so weights move both ways unchanged."""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..ops.attention import attention_weights
from ..tensor import Tensor
from . import init
from .layers import Linear, _check_dtype, _check_positive
from .module import Module, Parameter


class MultiheadAttention(Module):
    """Attention of ``num_heads`` heads of size embed_dim / num_heads, as PyTorch's ``nn.MultiheadAttention``.

    Parameters: ``in_proj_weight`` (3E, E) (the query, key and value projections stacked in that order, Xavier
    uniform), ``in_proj_bias`` (3E,) (zeros), ``out_proj.weight`` (E, E) and ``out_proj.bias`` (zeros).
    Inputs are (L, N, E) sequence-first, or (N, L, E) with ``batch_first=True``, or (L, E) unbatched.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = False,
        *,
        rng=None,
        dtype=np.float64,
    ) -> None:
        super().__init__()
        where = "MultiheadAttention"
        self.embed_dim = _check_positive(embed_dim, "embed_dim", where)
        self.num_heads = _check_positive(num_heads, "num_heads", where)
        if self.embed_dim % self.num_heads:
            raise ValueError(f"{where}: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        self.head_dim = self.embed_dim // self.num_heads
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"{where}: dropout must be in [0, 1), got {dropout!r}")
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        dtype = _check_dtype(dtype, where)
        rng = init.generator(rng)
        e = self.embed_dim
        self.in_proj_weight = Parameter(np.empty((3 * e, e), dtype=dtype))
        init.xavier_uniform_(self.in_proj_weight, rng=rng)
        self.in_proj_bias = Parameter(np.zeros(3 * e, dtype=dtype)) if bias else None
        self.out_proj = Linear(e, e, bias=bias, rng=rng, dtype=dtype)
        if bias:
            self.out_proj.bias.data[...] = 0
        self.rng = np.random.default_rng(rng.integers(2**63))  # dropout masks

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights: bool = True,
        attn_mask=None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        """(output, weights or None) as PyTorch's: a boolean ``attn_mask`` (L, S) or (N * heads, L, S) and
        ``key_padding_mask`` (N, S) say with True where a query may NOT attend; a float mask is added to the
        scores. ``is_causal`` without ``attn_mask`` applies the causal mask. The weights are averaged over
        the heads unless ``average_attn_weights=False``."""
        query, key, value = (t if isinstance(t, Tensor) else Tensor(t) for t in (query, key, value))
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (t.reshape(1, *t.shape) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = np.asarray(key_padding_mask)[None]
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (t.transpose((1, 0, 2)) for t in (query, key, value))
        n, length, e = query.shape
        if e != self.embed_dim:
            raise ValueError(
                f"MultiheadAttention: expected embed_dim {self.embed_dim}, got query of shape {query.shape}"
            )
        source = key.shape[1]
        q, k, v = self._projections(query, key, value)
        h, d = self.num_heads, self.head_dim
        q = q.reshape(n, length, h, d).transpose((0, 2, 1, 3))
        k = k.reshape(n, source, h, d).transpose((0, 2, 1, 3))
        v = v.reshape(n, source, h, d).transpose((0, 2, 1, 3))
        keep, add = self._masks(attn_mask, key_padding_mask, is_causal, n, length, source, query.dtype)
        weights = attention_weights(q, k, keep, add, 1 / math.sqrt(d))
        if self.training and self.dropout > 0:
            weights = ops.dropout(weights, self.dropout, training=True, rng=self.rng)
        out = (weights @ v).transpose((0, 2, 1, 3)).reshape(n, length, e)
        out = self.out_proj(out)
        if unbatched:
            out = out.reshape(length, e)
        elif not self.batch_first:
            out = out.transpose((1, 0, 2))
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, (weights.reshape(weights.shape[1:]) if unbatched else weights)

    def _projections(self, query, key, value):
        """query, key and value through their thirds of in_proj_weight (one product for self-attention)."""
        e, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:
            qkv = query @ w.T
            if b is not None:
                qkv = qkv + b
            return qkv[..., :e], qkv[..., e : 2 * e], qkv[..., 2 * e :]
        results = []
        for i, t in enumerate((query, key, value)):
            p = t @ w[i * e : (i + 1) * e].T
            results.append(p if b is None else p + b[i * e : (i + 1) * e])
        return results

    def _masks(self, attn_mask, key_padding_mask, is_causal, n, length, source, dtype):
        """(keep, add) for ``attention_weights``: a boolean mask of the pairs that take part (broadcasting
        against (N, heads, L, S)), and a float mask added to the scores."""
        keep = add = None
        if attn_mask is None and is_causal:
            attn_mask = ~np.tril(np.ones((length, source), dtype=bool))
        for mask, name in ((attn_mask, "attn_mask"), (key_padding_mask, "key_padding_mask")):
            if mask is None:
                continue
            mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
            if name == "attn_mask":
                if mask.ndim == 3:  # (N * heads, L, S)
                    mask = mask.reshape(n, self.num_heads, length, source)
                elif mask.shape != (length, source):
                    raise ValueError(
                        f"MultiheadAttention: attn_mask must have shape ({length}, {source}) or "
                        f"({n * self.num_heads}, {length}, {source}), got {mask.shape}"
                    )
            else:
                if mask.shape != (n, source):
                    raise ValueError(
                        f"MultiheadAttention: key_padding_mask must have shape ({n}, {source}), got {mask.shape}"
                    )
                mask = mask[:, None, None, :]
            if mask.dtype == bool:
                keep = ~mask if keep is None else keep & ~mask
            elif mask.dtype.kind == "f":
                mask = mask.astype(dtype, copy=False)
                add = mask if add is None else add + mask
            else:
                raise TypeError(
                    f"MultiheadAttention: {name} must be boolean or float, got dtype {mask.dtype}"
                )
        if keep is not None and add is not None:  # mixed: the boolean one as -inf added (PyTorch's merge)
            add = np.where(keep, add, -np.inf).astype(dtype)
            keep = None
        return keep, add

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
            + (f", dropout={self.dropout}" if self.dropout else "")
            + (", batch_first=True" if self.batch_first else "")
        )
