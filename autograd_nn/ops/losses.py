"""Losses: binary and softmax cross-entropy (from logits, so never log(0)), negative log-likelihood, MSE."""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from .. import recording
from ..broadcasting import _sum_into
from ..errors import ShapeError
from ..recording import apply
from .base import Op, _is_array
from .elementwise import _quiet, _sigmoid, _sigmoid_into
from .reductions import log_softmax
from .shapes import _broadcast_to, _scatter_add

if TYPE_CHECKING:
    from ..recording import Tensor

# 0 * inf gives NaN (set to 0 in _bce_terms); e^-|z| underflows to 0 for |z| > 745, the right value;
# a sum above the largest float is inf, the rounded value. One errstate per call for all of them.
_QUIET = {"invalid": "ignore", "over": "ignore", "under": "ignore"}


@_quiet(**_QUIET)
def bce_with_logits_elementwise(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """softplus(z) - y z, elementwise, to a few ulps for every z (±inf included) and y in [0, 1].

    Written as (1 - y) max(z, 0) + y max(-z, 0) + log1p(e^-|z|): three non-negative terms, so
    nothing cancels (for y = 1 it is softplus(-z), for y = 0 softplus(z)). A zero weight times an
    infinite logit counts 0. No warnings; two temporaries, updated in place.
    """
    dtype = np.result_type(z, y)
    return _bce_terms(z, y, np.empty(np.shape(y), dtype), np.empty(z.shape, dtype))[0]


_ZEROS = {np.dtype(t): np.zeros((), t) for t in (np.float16, np.float32, np.float64, np.longdouble)}
for _zero in _ZEROS.values():
    _zero.flags.writeable = False


def _zero_like(a: np.ndarray):
    """0 in ``a``'s dtype: a pre-built 0-d array saves a ufunc converting 0.0 each call (0.31 vs 0.51 µs)."""
    return _ZEROS.get(a.dtype, 0)


def _bce_terms(z, y, loss, e) -> tuple[np.ndarray, np.generic]:
    """``bce_with_logits_elementwise`` into ``loss`` (y's shape) using a buffer ``e`` of z's shape, and
    its sum; loss is a new array when y broadcasts against z. Call it under ``np.errstate(**_QUIET)``.

    Nine passes. The first two terms are one product, z (H(z) - y) with H(z) = 1 for z > 0, else 0:
    (1 - y) z for z > 0 and (-y) z otherwise, each term's own rounding (the same bits as computing
    them apart) and never negative. The sum also tells whether a zero weight met an infinite logit
    (0 * inf is NaN; that term counts 0, and there the last term, log1p(e^-inf), is 0 too).
    """
    np.greater(z, _zero_like(z), out=e)  # H(z): 1.0 or 0.0
    loss = np.subtract(e, y, out=loss if np.shape(y) == z.shape else None)
    loss *= z  # (1 - y) max(z, 0) + y max(-z, 0)
    np.abs(z, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.log1p(e, out=e)
    loss += e
    total = loss.sum()
    if total != total:  # NaN: an infinite logit with a zero weight (or a NaN input)
        weight = np.where(z >= 0, 1 - y, y)
        np.copyto(loss, 0, where=(weight == 0) & np.isinf(z))
        total = loss.sum()
    return loss, total


_bce_terms_quiet = _quiet(**_QUIET)(_bce_terms)  # what forward_into runs for reduction "none"


@_quiet(**_QUIET)
def _bce_reduced(z, y, mean: bool, loss, e):
    """The sum (or mean) of ``bce_with_logits_elementwise``, computed in the buffers ``loss`` and ``e``
    (pairwise, NumPy's sum). A sum that overflowed gives the mean from the elementwise loss."""
    loss, total = _bce_terms(z, y, loss, e)
    if not mean:
        return total
    if math.isinf(total) and np.isfinite(loss).all():  # the sum overflowed but the mean does not
        return (loss / loss.size).sum()
    return total / loss.size


@_quiet(over="ignore", under="ignore")
def _sigmoid_minus_target(z: np.ndarray, y, scale, out: np.ndarray | None = None) -> np.ndarray:
    """(σ(z) - y) scale, the gradient in z, into ``out`` (new when None): ``stable_sigmoid`` and the
    two in-place passes under its one errstate, so a subnormal σ(z) or product is just rounded."""
    gz = _sigmoid_into(z, np.empty_like(z) if out is None else out)
    gz -= y
    gz *= scale
    return gz


class BCEWithLogits(Op):
    """Binary cross-entropy of sigmoid(z) against targets y, from the logits z, never log(0).

    Per element: -y log σ(z) - (1-y) log(1-σ(z)) = softplus(z) - y z, whose derivative in z is
    σ(z) - y; computed so that it is accurate to a few ulps for any z (see
    ``bce_with_logits_elementwise``), and summed pairwise (NumPy's sum). ``reduction`` is "sum",
    "mean" or "none".
    """

    __slots__ = ("reduction",)
    name = "bce_with_logits"

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("sum", "mean", "none"):
            raise ValueError(f"bce_with_logits: reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
        self.reduction = reduction

    def details(self) -> str:
        return self.reduction

    def forward(self, z, y):
        if self.reduction == "none":
            return bce_with_logits_elementwise(z, y)
        dtype = np.result_type(z, y)
        loss, e = np.empty(np.shape(y), dtype), np.empty(z.shape, dtype)
        return _bce_reduced(z, y, self.reduction == "mean", loss, e)

    def forward_scratch(self, z, y) -> tuple:
        """The buffers ``forward_into`` works in (when y has z's shape): the elementwise loss's, unless
        that is the output, and one for log1p(e^-|z|)."""
        if z.shape != y.shape:
            return ()
        spec = (z.shape, np.result_type(z.dtype, y.dtype))
        return (spec,) * (1 if self.reduction == "none" else 2)

    def forward_into(self, out, z, y, scratch=()):
        """``forward`` in planned scratch buffers: no allocation when y has z's shape."""
        if not scratch:
            out[...] = self.forward(z, y)
        elif self.reduction == "none":
            _bce_terms_quiet(z, y, out, *scratch)
        else:
            out[...] = _bce_reduced(z, y, self.reduction == "mean", *scratch)

    def vjp(self, g, out, z, y):
        need_z, need_y = self.needs_grad
        if self.reduction != "none" and _is_array(g) and z.shape == y.shape:  # one value: a scale
            g = g / z.size if self.reduction == "mean" else g  # as vjp_into: no broadcast view
            in_place = True
        else:
            if self.reduction != "none":  # g is one value: spread it over the elementwise loss's shape
                shape = np.broadcast_shapes(z.shape, y.shape)  # z's or y's, whichever broadcasts larger
                g = _broadcast_to(g / int(np.prod(shape)) if self.reduction == "mean" else g, shape)
            in_place = _is_array(g) and z.shape == g.shape
        if need_z and in_place:  # plain backward: one buffer, in place
            gz = _sigmoid_minus_target(z, y, g)
        else:
            gz = g * (_sigmoid(z) - y) if need_z else None
        gy = -(g * z) if need_y else None
        return gz, gy

    def vjp_into(self, grads, g, out, z, y):
        gz, gy = grads
        if z.shape != y.shape:  # broadcast targets: the plain VJP, summed into the buffers
            for buffer, value in zip(grads, self.vjp(g, out, z, y), strict=True):
                if buffer is not None:
                    _sum_into(buffer, value)
            return
        scale = g / z.size if self.reduction == "mean" else g  # one value, or g itself for "none"
        if gy is not None:  # first: gz may be z itself (vjp_in_place)
            np.multiply(scale, z, out=gy)
            np.negative(gy, out=gy)
        if gz is not None:
            _sigmoid_minus_target(z, y, scale, gz)

    vjp_in_place = (0,)


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean") -> Tensor:
    """Cross-entropy of sigmoid(logits) against targets in [0, 1], stable for any logit.

    ``reduction``: "mean" over all elements (PyTorch's default), "sum", or "none" (elementwise).
    """
    return apply(BCEWithLogits(reduction), logits, targets)


# ---------------------------------------------------------------- round two: multiclass and regression losses


def _check_reduction(op: str, reduction: str) -> str:
    if reduction not in ("sum", "mean", "none"):
        raise ValueError(f"{op}: reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
    return reduction


def _reduce(loss: np.ndarray, reduction: str):
    return loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())


def _spread(g, shape: tuple[int, ...], reduction: str, count: int | None = None):
    """The VJP of ``_reduce``: g stretched back over the per-example losses of ``shape`` (for "mean", g over
    ``count``, by default every one of them)."""
    if reduction == "none":
        return g
    count = int(np.prod(shape)) if count is None else count
    return _broadcast_to(g / count if reduction == "mean" and count else g, shape)


class NLLLoss(Op):
    """-log_probs[..., label]: the negative log-likelihood of integer class labels, classes along the
    last axis, with PyTorch's ``ignore_index`` and ``label_smoothing`` = e: per row
    -(1 - e) log_probs[..., label] - e/K sum_k log_probs[..., k], and 0 for a row whose label is
    ``ignore_index``; "mean" divides the sum by the number of rows not ignored.

    The labels are part of the op (not an input): nothing flows back to them. The forward finds the
    ignored rows and checks the other labels from ``labels`` at every call, as a compiled replay hands
    the op each call's labels without calling ``cross_entropy`` again; what it finds is ``saved``."""

    __slots__ = ("caller", "ignore_index", "labels", "picks", "reduction", "smoothing", "weights")
    saved = ("picks", "weights")  # the labels to pick (0 where ignored), the kept rows' 0/1 weights or None
    keeps_inputs = False  # the VJP needs only the input's shape
    name = "nll_loss"

    def __init__(
        self,
        labels: np.ndarray,
        reduction: str = "mean",
        ignore_index: int | None = None,
        smoothing: float = 0.0,
        caller: str = "nll_loss",
    ) -> None:
        self.labels, self.reduction = labels, _check_reduction(caller, reduction)
        self.ignore_index, self.smoothing, self.caller = ignore_index, smoothing, caller
        self.picks = self.weights = None

    def details(self) -> str:
        details = [self.reduction]
        if self.ignore_index not in (None, -100):  # (-100: cross_entropy's default)
            details.append(f"ignore_index={self.ignore_index}")
        if self.smoothing:
            details.append(f"smoothing={self.smoothing:g}")
        return ", ".join(details)

    def forward(self, log_probs):
        self.picks, self.weights = _picks(self.labels, log_probs.shape, self.ignore_index, self.caller)
        picked = log_probs[(*_rows(self.picks.shape), self.picks)]
        if self.weights is None and not self.smoothing:  # the common case: every row, no smoothing
            return _reduce(-picked, self.reduction)
        e, k, dtype = self.smoothing, log_probs.shape[-1], log_probs.dtype.type
        per_row = picked * dtype(-(1 - e))
        if e:
            per_row -= log_probs.sum(axis=-1) * dtype(e / k)
        if self.weights is not None:
            per_row *= self.weights.astype(log_probs.dtype, copy=False)
        if self.reduction == "none":
            return per_row
        total = per_row.sum()
        if self.reduction == "sum":
            return total
        with np.errstate(invalid="ignore", divide="ignore"):  # every row ignored: NaN, as PyTorch
            return total / dtype(self._count())

    def vjp(self, g, out, log_probs):
        e, k, shape = self.smoothing, log_probs.shape[-1], self.picks.shape
        per_row = _spread(g, shape, self.reduction, self._count())
        if self.weights is not None:
            per_row = per_row * self.weights.astype(per_row.dtype, copy=False)
        picked = per_row * -(1 - e) if e else -per_row
        index = (*_rows(shape), self.picks)
        if _is_array(picked):  # each (row, label) pair appears once: plain assignment suffices
            result = np.zeros(log_probs.shape, dtype=picked.dtype)
            if e:
                result += (per_row * -(e / k))[..., None]
                result[index] += picked
            else:
                result[index] = picked
            return (result,)
        result = _scatter_add(picked, index, log_probs.shape)
        if e:
            result = result + (per_row * -(e / k)).reshape((*shape, 1))
        return (result,)

    def _count(self) -> int:
        """How many rows "mean" averages over: those not ignored."""
        return self.picks.size if self.weights is None else int(self.weights.sum())


@functools.lru_cache(maxsize=16)
def _rows(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The sparse grid ``np.indices(shape, sparse=True)``, read-only and cached: with the labels, it picks
    log_probs[..., label] by fancy indexing (faster than take_along_axis, or than positions in the flattened
    array, at (64, 10); 2 µs slower than the latter at (1024, 27)). Not held by the op, so ``ag.compile``
    never takes it for an array computed from the labels (a grid equal to the labels, arange(N), would be)."""
    grid = np.indices(shape, sparse=True)
    for axis in grid:
        axis.setflags(write=False)
    return tuple(grid)


def _picks(labels: np.ndarray, shape: tuple[int, ...], ignore_index: int | None, op: str):
    """(the labels to pick, with the ignored ones as 0; 0/1 float weights of the rows kept, None when every
    row is kept), for log-probabilities of ``shape``; a ValueError for a label outside 0..K-1 that is not
    ``ignore_index``."""
    classes = shape[-1]
    # Seen as unsigned, a negative label is huge: one max() finds any label outside 0..K-1.
    in_range = labels.size == 0 or labels.view(labels.dtype.str.replace("i", "u")).max() < classes
    a_class_ignored = ignore_index is not None and 0 <= ignore_index < classes  # (ignore_index=0: padding)
    if in_range and not (a_class_ignored and (labels == ignore_index).any()):
        return labels, None  # the common case, in one pass
    ignored = labels == ignore_index if ignore_index is not None else np.zeros(labels.shape, bool)
    bad = ((labels < 0) | (labels >= classes)) & ~ignored
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{op}: labels must be in 0..{classes - 1} (inputs of shape {shape} have {classes} "
            f"classes), got {labels[where]} at index {where}"
        )
    if not ignored.any():
        return labels, None
    return np.where(ignored, 0, labels), (~ignored).astype(np.float64)


class SoftNLLLoss(Op):
    """-sum(target * log_probs) over the last axis: the cross-entropy against class probabilities."""

    __slots__ = ("reduction",)
    name = "soft_nll_loss"

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = _check_reduction(self.name, reduction)

    def details(self) -> str:
        return self.reduction

    def forward(self, log_probs, target):
        return _reduce(-(target * log_probs).sum(axis=-1), self.reduction)

    def vjp(self, g, out, log_probs, target):
        need_log_probs, need_target = self.needs_grad
        g = -_spread(g, log_probs.shape[:-1], self.reduction).reshape((*log_probs.shape[:-1], 1))
        return (g * target if need_log_probs else None), (g * log_probs if need_target else None)


class MSELoss(Op):
    """(pred - target)**2, averaged (or summed) over every element."""

    __slots__ = ("reduction",)
    name = "mse_loss"

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = _check_reduction(self.name, reduction)

    def details(self) -> str:
        return self.reduction

    def forward(self, pred, target):
        if pred.shape != target.shape:
            raise ShapeError(
                f"mse_loss: pred of shape {pred.shape} and target of shape {target.shape} differ; "
                "reshape one to match (broadcasting them is almost always a mistake)"
            )
        diff = pred - target
        return _reduce(diff * diff, self.reduction)

    def vjp(self, g, out, pred, target):
        need_pred, need_target = self.needs_grad
        g2diff = 2 * _spread(g, pred.shape, self.reduction) * (pred - target)
        return (g2diff if need_pred else None), (-g2diff if need_target else None)


def _labels(labels, log_probs_shape: tuple[int, ...], op: str, ignore_index: int | None = None) -> np.ndarray:
    """``labels`` checked: integers in 0..K-1 (or ``ignore_index``), one per row of ``log_probs_shape``
    (K along the last axis)."""
    if isinstance(labels, recording.Tensor):
        raise TypeError(
            f"{op}: labels must be an integer ndarray (a Tensor holds floats); for class probabilities "
            f"give a tensor of the logits' shape {log_probs_shape}"
        )
    array = np.asarray(labels)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: labels must hold integers 0..K-1, got dtype {array.dtype}"
            + (" (use labels.astype(int))" if array.dtype.kind == "f" else "")
        )
    if len(log_probs_shape) == 0 or array.shape != log_probs_shape[:-1]:
        raise ShapeError(
            f"{op}: labels of shape {array.shape} do not fit inputs of shape {log_probs_shape}: "
            f"expected one label per row, shape {log_probs_shape[:-1]}"
        )
    _picks(array, log_probs_shape, ignore_index, op)  # raises here, before any op runs (NLLLoss checks again)
    return array  # any integer dtype indexes; no copy (ag.compile reads each call's labels through it)


def _shape(value) -> tuple[int, ...]:
    return value.shape if isinstance(value, recording.Tensor) else np.shape(value)


def nll_loss(log_probs, labels, reduction: str = "mean") -> Tensor:
    """The negative log-likelihood -log_probs[i, labels[i]], averaged over the examples by default.

    ``log_probs`` (N, K) (or any (..., K)) holds log-probabilities, classes along the last axis;
    ``labels`` integers 0..K-1 of shape (N,). ``reduction``: "mean", "sum" or "none".
    """
    return apply(NLLLoss(_labels(labels, _shape(log_probs), "nll_loss"), reduction), log_probs)


def mse_loss(pred, target, reduction: str = "mean") -> Tensor:
    """The squared error (pred - target)**2: "mean" over every element (the default), "sum" or "none".

    ``pred`` and ``target`` must have the same shape: a broadcast here is almost always a bug.
    """
    return apply(MSELoss(reduction), pred, target)


def cross_entropy(
    logits, target, reduction: str = "mean", ignore_index: int = -100, label_smoothing: float = 0.0
) -> Tensor:
    """The softmax cross-entropy of ``logits`` (N, K), classes along the last axis, from log_softmax
    (never log(0)).

    ``target``: integer class labels 0..K-1 of shape (N,), or class probabilities of the logits'
    shape (a Tensor target gets a gradient too). ``reduction``: "mean" over the examples, "sum" or
    "none" (one loss per example). As PyTorch's: a label equal to ``ignore_index`` contributes 0 and
    "mean" averages over the other examples only; ``label_smoothing`` = e mixes the target with the
    uniform distribution, (1 - e) target + e / K.
    """
    logits_shape, target_shape = _shape(logits), _shape(target)
    if len(logits_shape) == 0:
        raise ShapeError("cross_entropy: logits must have a class axis, got a 0-d tensor")
    if isinstance(label_smoothing, bool) or not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    label_smoothing = float(label_smoothing)
    if len(target_shape) == len(logits_shape):  # probabilities (labels have one axis fewer)
        if target_shape != logits_shape:
            raise ShapeError(
                f"cross_entropy: target probabilities of shape {target_shape} must have the logits' shape "
                f"{logits_shape} (integer labels have shape {logits_shape[:-1]})"
            )
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / logits_shape[-1]
        op = SoftNLLLoss(reduction)
        return apply(op, log_softmax(logits, axis=-1), target)
    ignore_index = int(ignore_index)
    labels = _labels(target, logits_shape, "cross_entropy", ignore_index)
    op = NLLLoss(labels, reduction, ignore_index, label_smoothing, caller="cross_entropy")
    return apply(op, log_softmax(logits, axis=-1))
