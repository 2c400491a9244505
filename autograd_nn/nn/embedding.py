"""Embedding: a table of vectors looked up by integer token ids."""

from __future__ import annotations

import numpy as np

from ..ops.embedding import embedding
from ..tensor import Tensor
from . import init
from .layers import _check_dtype, _check_positive
from .module import Module, Parameter


class Embedding(Module):
    """``weight[indices]``: weight (num_embeddings, embedding_dim), drawn from N(0, 1) as PyTorch's default;
    the input is an integer array of token ids of any shape, the output has one more axis."""

    def __init__(self, num_embeddings: int, embedding_dim: int, *, rng=None, dtype=np.float64) -> None:
        super().__init__()
        self.num_embeddings = _check_positive(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _check_positive(embedding_dim, "embedding_dim", "Embedding")
        dtype = _check_dtype(dtype, "Embedding")
        values = init.generator(rng).standard_normal((self.num_embeddings, self.embedding_dim))
        self.weight = Parameter(values.astype(dtype))

    def forward(self, indices) -> Tensor:
        return embedding(indices, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
