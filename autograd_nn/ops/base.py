"""The op base class and the small helpers VJPs share.

An op is a small class. ``forward(*arrays)`` computes the result from NumPy arrays;
``vjp(g, out, *inputs)`` returns, for each input, the gradient of the loss with respect to that
input, given ``g``, the gradient with respect to ``out``. VJPs are written with operators and
methods that NumPy arrays and Tensors share (``*``, ``@``, ``.sum``, ``.reshape``, ...), so the
same line runs as plain NumPy during an ordinary backward pass and is recorded as new graph nodes
under ``backward(create_graph=True)``; the few functions the two do not share are small helpers
(``_exp`` here, ``_sigmoid`` in elementwise, ``_broadcast_to`` and ``_scatter_add`` in shapes, ``_run``
for an op that is its own adjoint). NumPy's ufuncs and functions in ``numpy_dispatch``'s tables are shared
too: ``np.cos(x)`` in a VJP computes on an array and records ``cos`` on a Tensor.
A VJP may return a gradient with broadcast extra axes: the engine sums it back to the input's
shape in one place (``broadcasting._unbroadcast``). An op instance is also the graph node. It declares
what its VJP reads (``keeps_inputs``, ``keeps_output``, and per input ``vjp_reads``) and the engine
keeps just that; an input value it does not keep reaches the VJP as the node that computed it, which
still tells ``shape`` and ``ndim``.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..broadcasting import _ones
from ..errors import ShapeError


class Op:
    """A primitive operation; an instance is one node of a recorded graph.

    A recorded node keeps only what its VJP reads. ``keeps_inputs``: the input values (otherwise
    an intermediate input is held as the node that produced it, so its array can be freed as soon
    as the user drops it). ``keeps_output``: the output array (``output``). ``shape`` and
    ``dtype`` describe the output, so a VJP that only needs ``x.shape`` works on a node too.
    ``targets`` says where each input's gradient goes: the node that computed the input, the leaf
    tensor itself, or None when the input needs no gradient. ``input_versions`` (with
    ``keeps_inputs``; None for an input not kept) and ``output_version`` (with ``keeps_output``) let
    backward check that no in-place change touched what the node saved.

    ``vjp_reads`` (with ``keeps_inputs``) says, for each input, which inputs' values the VJP reads to
    compute that input's gradient: ``((1,), (0,))`` for a product. Recording then keeps only the
    inputs read for the inputs that need a gradient: ``y * 2`` keeps the 2, not y, so y's array is
    freed once the user drops y. None: any gradient may read every input. (Constant inputs stay
    referenced either way: drawings, ``compare_gradients`` and ONNX export read their values.)
    """

    __slots__ = (
        "__weakref__",
        "dtype",
        "input_versions",
        "kept",
        "origin",
        "output",
        "output_name",
        "output_version",
        "parents",
        "scope",
        "shape",
        "targets",
    )
    name = "op"
    keeps_inputs = True
    keeps_output = False
    vjp_reads: tuple[tuple[int, ...], ...] | None = None
    # From vjp_reads: for each pattern of inputs requiring grad (a tuple of bools), the inputs the
    # VJP does not read
    drops_for: dict | None = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        reads = cls.__dict__.get("vjp_reads")
        if reads is not None:  # worked out once per class, so recording pays one dict lookup
            cls.drops_for = {}
            for needs in itertools.product((False, True), repeat=len(reads)):
                kept = {j for need, read in zip(needs, reads, strict=True) if need for j in read}
                cls.drops_for[needs] = tuple([j for j in range(len(reads)) if j not in kept])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def needs_grad(self) -> tuple[bool, ...]:
        """For each input, whether a gradient must flow to it (VJPs skip the others' work)."""
        return tuple([target is not None for target in self.targets])

    # Optional fast paths for ag.compile's replay (compile/backward.py picks them); an op without them
    # replays through forward and vjp, which is always correct. They only save allocations and temporaries.
    # forward_into(out, *xs): write forward(*xs) into out, a buffer of the output's shape and dtype.
    # forward_in_place: out may then be one of the xs (same shape and dtype) the replay no longer needs.
    # forward_scratch(*xs) -> ((shape, dtype), ...): buffers forward_into needs only while it runs (the xs
    # tell just shape and dtype); the planner lends them and passes them as forward_into(..., scratch=).
    # vjp_into(grads, g, out, *xs): input i's gradient, summed to its shape, into grads[i] (None: unneeded).
    # vjp_passes_g: the inputs whose gradient vjp gives as g itself (add, subtract's first operand): the
    # replay passes g on, or sums it to the input's shape, without calling vjp.
    # vjp_in_place: what grads[0] may be: "g" (then every array the VJP gets may be overwritten) or an
    # input's index (then that input may be overwritten), when the replay no longer needs them.
    forward_into = None
    forward_in_place = False
    forward_scratch = None
    vjp_into = None
    vjp_in_place: tuple = ()
    vjp_passes_g: tuple = ()

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def vjp(self, g, out, *xs) -> tuple:
        raise NotImplementedError

    def details(self) -> str:
        """Parameters worth showing beside the op's name in a drawing or repr, e.g. ``axis=1``."""
        return ""

    def label(self) -> str:
        details = self.details()
        return f"{self.name}({details})" if details else self.name

    def shape_error(self, *shapes: tuple[int, ...]) -> str:
        joined = " and ".join(str(s) for s in shapes)
        return f"{self.name}: operands of shapes {joined} cannot be broadcast together"

    def __repr__(self) -> str:
        return f"<{self.label()}>"


# Helpers shared by VJPs: each takes an ndarray (plain backward) or a Tensor (recorded backward)
# and returns the same kind.


def _is_array(v) -> bool:
    return isinstance(v, (np.ndarray, np.generic))  # arithmetic on 0-d arrays gives NumPy scalars


def _data(v) -> np.ndarray:
    return v if _is_array(v) else v.data


def _exp(v):
    return np.exp(v) if _is_array(v) else v.exp()


def _log(v):
    return np.log(v) if _is_array(v) else v.log()


def _swap_last_two(v):
    axes = (*range(v.ndim - 2), v.ndim - 1, v.ndim - 2)
    return v.transpose(axes)


def _normalize_axes(axis, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple) as sorted non-negative ints, checked against ``ndim``."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normalized = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            rank = "a 0-d tensor" if ndim == 0 else f"a tensor with {ndim} dimensions"
            raise ShapeError(f"{op}: axis {a!r} is out of range for {rank}")
        normalized.append(int(a) % ndim)
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(normalized))


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _reduction_details(axis, keepdims: bool) -> str:
    parts = [] if axis is None else [f"axis={axis}"]
    if keepdims:
        parts.append("keepdims")
    return ", ".join(parts)


def _fits(buffer: np.ndarray, g) -> bool:
    """Whether a VJP may compute straight into ``buffer``: g's shape (nothing to sum) and g's dtype (the
    eager VJP rounds to the input's dtype only at the end)."""
    return buffer.shape == g.shape and buffer.dtype == g.dtype


def _sum_trailing(x: np.ndarray, count: int) -> np.ndarray:
    """``x`` summed over its last ``count`` axes, kept as size-1 axes (softmax and layer-norm rows).
    On a C-contiguous array it is one matrix-vector product with ones: NumPy's sum walks short rows one by
    one (measured 5-10x slower on rows of 32-64 values, the attention and layer-norm rows of a small GPT)."""
    kept = x.shape[: x.ndim - count] + (1,) * count
    if x.flags.c_contiguous and x.size:
        width = x.size // max(1, int(np.prod(kept)))
        return (x.reshape(-1, width) @ _ones(width, x.dtype)).reshape(kept)
    return x.sum(axis=tuple(range(x.ndim - count, x.ndim)), keepdims=True)
