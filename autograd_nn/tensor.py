"""The Tensor: a NumPy array that records the operations applied to it, and reverse-mode backward.

Recording: every operation goes through ``recording.apply``, which runs the op's forward on arrays and,
when an input requires grad, stores the op as the result's node. A node keeps only what its VJP reads
(input tensors, or its output array), holds other intermediate inputs as the nodes that computed
them, and never holds its output tensor: intermediates nobody needs are freed as soon as the user
drops them, and dropping the loss frees the whole graph by reference counting.

Backward: an iterative topological sort from the output over nodes and leaves, then one pass in
reverse order that asks each node's op for its vector-Jacobian products. Gradients reaching an operand are summed back to
the operand's shape in ONE place (``broadcasting._unbroadcast``), fan-out contributions are added, and only
buffers the engine allocated itself are ever added into in place.

Layering: this module imports the ops (the Tensor's methods call them); the ops import ``recording`` and
``broadcasting``, below both, never this module.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence
from copy import deepcopy

import numpy as np

from . import numpy_dispatch, ops, recording
from .broadcasting import _unbroadcast
from .errors import AnomalyError, AutogradError, LeftTheGraphWarning, ShapeError
from .grad_mode import STATE
from .recording import _as_float_array, _first_bad, _new, _target, _trace_source, _TracedMask, apply


class Tensor:
    """An n-dimensional float array that remembers how it was computed, for ``backward()``.

    ``data`` is float64 unless a float32 array is given (ints and bools become float64); an ndarray
    of either float type is used as it is, not copied. ``requires_grad=True`` marks a leaf whose
    gradient ``backward()`` accumulates into ``.grad`` (an ndarray of the same shape).
    ``_version`` counts the in-place changes made through the engine (``t += 1``, optimizer steps),
    so backward can tell when a value a node saved has changed since the forward pass. A tensor
    whose array is a view of another's (``w.T``, ``x[0]``, ``x.reshape(...)``, ``t.detach()``)
    has that tensor as ``_base``, and the base's version is the one that counts for both.
    """

    __slots__ = (
        "__weakref__",
        "_base",
        "_grad",
        "_name",
        "_op",
        "_requires_grad",
        "_version",
        "data",
        "scope",
    )
    __hash__ = object.__hash__  # by identity, although == compares elementwise (as in PyTorch)

    def __init__(self, data, requires_grad: bool = False, name: str | None = None) -> None:
        self._base = None
        if isinstance(data, Tensor):
            if data.data.dtype in (np.float32, np.float64):  # the array is shared, not copied
                self._base = data._owner()
            data = data.data
        self.data = _as_float_array(data, "Tensor")
        if STATE.tape is not None and isinstance(data, np.ndarray) and type(data) is not np.ndarray:
            _trace_source(self.data, data)  # Tensor(h > 0) while compile traces: it checks the source
        self._requires_grad = bool(requires_grad)
        self._grad = None
        self._op = None
        self._version = 0
        self.name = name
        self.scope = STATE.scope

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._op is not None and not value:
            raise AutogradError(
                f"requires_grad: {self._describe()} was computed by {self._op.label()}, so it is not a leaf "
                "and cannot stop requiring grad; use .detach() for a tensor cut from the graph"
            )
        self._requires_grad = bool(value)

    @property
    def grad(self):
        """The gradient ``backward()`` accumulated: an ndarray of this tensor's shape (a Tensor after
        ``backward(create_graph=True)``), or None. A non-leaf keeps one only after ``retain_grad()``:
        reading it otherwise warns (as PyTorch does), since None there is not "no gradient yet"."""
        if self._grad is None and self._op is not None and not self._retains_grad():
            warnings.warn(
                f".grad of {self._describe()} computed by {self._op.label()} (not a leaf) is None: backward "
                "keeps the gradients of leaves only. Call .retain_grad() on it before backward, or get "
                "its gradient with ag.grad(output, tensor)",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    def _retains_grad(self) -> bool:
        hooks = _HOOKS.get(id(self._op))
        return hooks is not None and hooks.retains and hooks.target() is self._op

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, (np.ndarray, np.generic, Tensor)):
                raise TypeError(f"grad: expected an ndarray, a Tensor or None, got {type(value).__name__}")
            if value.shape != self.data.shape:
                raise ShapeError(
                    f"grad: an array of shape {value.shape} cannot be the gradient of "
                    f"{self._describe()}, whose shape is {self.data.shape}"
                )
        self._grad = value

    def _describe(self) -> str:
        """'tensor 'w'' or 'a tensor', for messages."""
        return f"tensor {self._name!r}" if self._name is not None else "a tensor"

    @property
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"Tensor: name must be a string or None, got {type(value).__name__}")
        self._name = value
        if self._op is not None:  # the node remembers it: a drawing may outlive this tensor
            self._op.output_name = value

    # ------------------------------------------------------------ facts about the array
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def op(self) -> ops.Op | None:
        """The recorded operation that produced this tensor; None for leaves and untracked results."""
        return self._op

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(
                f"item: only a tensor with one element has an item; this one has shape {self.shape}"
            )
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph (requires no grad)."""
        t = _new(self.data, False)
        t._name = self._name
        t._base = self._owner()  # the same array: an in-place change of either counts for both
        return t

    def _owner(self) -> Tensor:
        """The tensor whose version counts for this one's array: its base, or itself."""
        return self if self._base is None else self._base

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.grad`` becomes None)."""
        self.grad = None

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Conversion (``np.asarray(t)`` shares the array, ``np.array(t)`` copies it): the result is a plain
        array that leaves the graph. NumPy also converts without asking the Tensor (``X.dot(t)``,
        ``a[...] = t``, ``np.vectorize``, ``np.r_``, a list of Tensors), so while recording a tensor that
        requires grad says so once per place; ``t.detach()`` or ``t.numpy()`` leave the graph without a word."""
        if self._requires_grad and STATE.enabled:
            warnings.warn(
                f"NumPy converted {self._describe()} of shape {self.shape}, which requires grad, to a plain "
                "array: what it computes from it gets no gradient. Write the recorded form (np.dot(X, t) or "
                "X @ t for X.dot(t); np.stack/np.concatenate for a list; np.where for a[mask] = t), or "
                "t.detach() / t.numpy() to leave the graph on purpose",
                LeftTheGraphWarning,
                stacklevel=2,
            )
        return np.array(self.data, dtype=dtype, copy=copy)

    # NumPy's ufuncs and functions on Tensors (NEP 13, NEP 18): looked up in numpy_dispatch's tables, which
    # record the engine's ops (``np.exp(t)``, ``ndarray * t``, ``np.dot(X, t)``, ``np.sum(t)``) or refuse
    # with a TypeError naming the NumPy function. Tensor's own operators never come through here.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:  # ndarray * t, np.exp(t): straight to the op, 0.06 µs less
            op_class = numpy_dispatch.UFUNC_OPS.get(ufunc)
            if op_class is not None:
                return apply(op_class(), *inputs)
        return numpy_dispatch.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return numpy_dispatch.array_function(func, types, args, kwargs)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = []
        if self.dtype != np.float64:
            extras.append(f"dtype={self.dtype}")
        if self._op is not None:
            extras.append(f"op={self._op.label()}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name is not None:
            extras.append(f"name={self.name!r}")
        return f"Tensor({', '.join([body, *extras])})"

    # ------------------------------------------------------------ operators
    def __add__(self, other) -> Tensor:
        return apply(ops.Add(), self, other)

    def __radd__(self, other) -> Tensor:
        return apply(ops.Add(), other, self)

    def __sub__(self, other) -> Tensor:
        return apply(ops.Sub(), self, other)

    def __rsub__(self, other) -> Tensor:
        return apply(ops.Sub(), other, self)

    def __mul__(self, other) -> Tensor:
        return apply(ops.Mul(), self, other)

    def __rmul__(self, other) -> Tensor:
        return apply(ops.Mul(), other, self)

    def __truediv__(self, other) -> Tensor:
        return apply(ops.Div(), self, other)

    def __rtruediv__(self, other) -> Tensor:
        return apply(ops.Div(), other, self)

    def __matmul__(self, other) -> Tensor:
        return apply(ops.MatMul(), self, other)

    def __rmatmul__(self, other) -> Tensor:
        return apply(ops.MatMul(), other, self)

    def __neg__(self) -> Tensor:
        return apply(ops.Neg(), self)

    def __pow__(self, exponent) -> Tensor:
        if isinstance(exponent, (int, float, np.integer, np.floating)) and not isinstance(exponent, bool):
            return apply(ops.Pow(exponent), self)  # a fixed number: the common case
        return apply(ops.Power(), self, exponent)  # a Tensor or an array: differentiable in both

    def __rpow__(self, base) -> Tensor:
        return apply(ops.Power(), base, self)

    def __getitem__(self, index) -> Tensor:
        op = ops.Index(index)
        if STATE.tape is not None:  # the op holds a boolean mask as positions: compile checks the mask
            _trace_source(op.index, index)
        return apply(op, self)

    # ------------------------------------------------------------ comparisons: boolean ndarrays
    # Masks for indexing and ``where``, not differentiable. ``t in some_list`` therefore compares
    # elementwise, as in PyTorch; hashing stays by identity, so tensors are still set and dict keys.
    def _compare(self, other, ufunc) -> np.ndarray:
        if isinstance(other, Tensor):
            other = other.data
        elif not isinstance(other, (int, float, np.ndarray, np.generic, list, tuple)):
            return NotImplemented  # e.g. None or a string: Python falls back to identity
        result = np.asarray(ufunc(self.data, other))
        if STATE.tape is not None:  # ag.compile is tracing: mark the mask, which a replay cannot recompute
            result = result.view(_TracedMask)
        return result

    def __eq__(self, other) -> np.ndarray:
        return self._compare(other, np.equal)

    def __ne__(self, other) -> np.ndarray:
        return self._compare(other, np.not_equal)

    def __lt__(self, other) -> np.ndarray:
        return self._compare(other, np.less)

    def __le__(self, other) -> np.ndarray:
        return self._compare(other, np.less_equal)

    def __gt__(self, other) -> np.ndarray:
        return self._compare(other, np.greater)

    def __ge__(self, other) -> np.ndarray:
        return self._compare(other, np.greater_equal)

    # ------------------------------------------------------------ in-place operators
    # ``t += x`` writes into ``t.data`` (same tensor, dtype and leaf status) and bumps ``_version``.
    # Allowed only where nothing is recorded: under no_grad, or when no operand requires grad.
    def __iadd__(self, other) -> Tensor:
        return self._update_in_place(other, np.add, "+=")

    def __isub__(self, other) -> Tensor:
        return self._update_in_place(other, np.subtract, "-=")

    def __imul__(self, other) -> Tensor:
        return self._update_in_place(other, np.multiply, "*=")

    def __itruediv__(self, other) -> Tensor:
        return self._update_in_place(other, np.true_divide, "/=")

    def _update_in_place(self, other, ufunc, symbol: str) -> Tensor:
        other_records = isinstance(other, Tensor) and other._requires_grad
        owner = self._owner()
        if STATE.enabled and owner is not self and owner._requires_grad and self.data is not owner.data:
            # A view (``a[:]``, ``a.T``) made before ``a`` required grad, or under no_grad: writing
            # through it would change what the graph reads. (``detach()`` shares the very array and
            # stays allowed, as in PyTorch; the version counter guards the values backward saved.)
            kind = "a leaf that requires grad" if owner._op is None else f"computed by {owner._op.label()}"
            raise AutogradError(
                f"{symbol}: {self._describe()} is a view of {owner._describe()}, which is {kind}; "
                "change it inside `with no_grad():`, or write `y = y "
                f"{symbol[0]} x` (a new tensor) instead"
            )
        if STATE.enabled and (self._requires_grad or other_records):
            if self._op is not None:
                problem = (
                    f"{self._describe()} was computed by {self._op.label()} and is part of a recorded graph"
                )
                advice = f"write `y = y {symbol[0]} x` (a new tensor) instead"
            elif self._requires_grad:
                problem = f"{self._describe()} is a leaf that requires grad"
                advice = "for a parameter update, write it inside `with no_grad():`"
            else:
                problem = "the right-hand side requires grad, but an in-place result is not recorded"
                advice = f"write `y = y {symbol[0]} x` (a new tensor) instead"
            raise AutogradError(f"{symbol}: {problem}; {advice}")
        if not self.data.flags.writeable:
            raise ValueError(f"{symbol}: the array of {self._describe()} is read-only (a broadcast view?)")
        value = other.data if isinstance(other, Tensor) else other
        try:
            ufunc(self.data, value, out=self.data)
        except ValueError:
            shape = np.shape(value)
            raise ShapeError(
                f"{symbol}: an operand of shape {shape} cannot be written into {self._describe()} "
                f"of shape {self.data.shape} (the result would not keep the tensor's shape)"
            ) from None
        self._version += 1
        if owner is not self:  # a view: the change is the base's change too
            owner._version += 1
        if owner._op is not None and owner._op.keeps_output:
            owner._op.output_version = owner._version  # its node saved this very array
        return self

    # ------------------------------------------------------------ copies: leaves only
    def __deepcopy__(self, memo: dict) -> Tensor:
        self._refuse_copy("copy.deepcopy")
        data, grad = deepcopy(self.data, memo), deepcopy(_grad_array(self._grad), memo)
        copy = memo[id(self)] = _rebuild_leaf(type(self), data, self._requires_grad, self._name, grad)
        copy.scope = self.scope
        if getattr(self, "__dict__", None):  # a subclass's own attributes
            copy.__dict__.update(deepcopy(self.__dict__, memo))
        return copy

    def __reduce__(self):
        self._refuse_copy("pickle (or copy.copy)")
        leaf = (type(self), self.data, self._requires_grad, self._name, _grad_array(self._grad))
        return _rebuild_leaf, leaf, getattr(self, "__dict__", None) or None

    def _refuse_copy(self, what: str) -> None:
        if self._op is not None:
            raise AutogradError(
                f"{what}: {self._describe()} was computed by {self._op.label()}; only leaves can be copied "
                "(a copy of a whole graph is neither cheap nor connected to the original). Copy t.detach() instead"
            )

    # ------------------------------------------------------------ shapes (NumPy's meanings and keywords)
    @property
    def T(self) -> Tensor:
        return apply(ops.Transpose(None), self)

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped (a batch of matrices transposed), as ``ndarray.mT``."""
        if self.data.ndim < 2:
            raise ShapeError(f"mT: needs at least 2 dimensions, got a tensor of shape {self.shape}")
        return ops.swapaxes(self, -2, -1)

    def transpose(self, *axes) -> Tensor:
        """Permute axes as ``ndarray.transpose``: no axes reverses them. Two axes of a tensor with more
        than two is PyTorch's ``transpose(a, b)``: an error that says ``swapaxes(a, b)``."""
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        if not axes:
            return apply(ops.Transpose(None), self)
        return numpy_dispatch.transpose("Tensor.transpose", self, axes)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Two axes exchanged, as ``ndarray.swapaxes`` (PyTorch's ``transpose(a, b)``)."""
        return ops.swapaxes(self, axis1, axis2)

    def reshape(self, *shape) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return apply(ops.Reshape(tuple(shape)), self)

    def ravel(self) -> Tensor:
        """One axis, in C order (a view where NumPy gives one)."""
        return ops.ravel(self)

    def flatten(self) -> Tensor:
        """One axis, in C order, always a copy (as ``ndarray.flatten``)."""
        return apply(ops.Flatten("flatten", (self.data.size,)), self)

    def squeeze(self, axis=None, **more) -> Tensor:
        """Without its size-1 axes (only those in ``axis`` when given), as ``ndarray.squeeze``."""
        if more:
            numpy_dispatch.check_keywords("Tensor.squeeze", self, **more)
        return ops.squeeze(self, axis)

    def expand_dims(self, axis, **more) -> Tensor:
        """With a new size-1 axis at ``axis`` (an int or a tuple), as ``np.expand_dims``."""
        numpy_dispatch.check_keywords("Tensor.expand_dims", self, **more)
        return ops.expand_dims(self, axis)

    def unsqueeze(self, axis=None, **more) -> Tensor:
        """PyTorch's name for ``expand_dims`` (with NumPy's keyword: ``axis=``, not ``dim=``)."""
        numpy_dispatch.check_keywords("Tensor.unsqueeze", self, **more)
        if axis is None:
            raise TypeError("Tensor.unsqueeze: give the axis of the new size-1 axis, e.g. t.unsqueeze(0)")
        return ops.expand_dims(self, axis)

    def split(self, sections_or_indices, axis: int = 0, **more) -> list[Tensor]:
        """Pieces along ``axis``, NumPy's meaning: an int N gives N equal pieces, a list the split points
        (PyTorch's ``split(size)`` gives pieces of that size: a different meaning, so ``dim=`` is refused)."""
        if more:
            numpy_dispatch.check_keywords("Tensor.split", self, **more)
        return ops.split(self, sections_or_indices, axis)

    # ------------------------------------------------------------ reductions and functions
    # NumPy's signatures: sum(axis, dtype, out, keepdims), max(axis, out, keepdims), ... The keywords the
    # engine cannot honour (out=, a dtype= other than the tensor's, where=) and PyTorch's spellings
    # (dim=, keepdim=) raise a TypeError that says what to write instead.
    def sum(self, axis=None, dtype=None, out=None, keepdims: bool = False, **more) -> Tensor:
        if dtype is not None or out is not None or more:
            return numpy_dispatch.reduction(ops.Sum, "Tensor.sum", self, axis, dtype, out, keepdims, **more)
        return apply(ops.Sum(axis, keepdims), self)

    def mean(self, axis=None, dtype=None, out=None, keepdims: bool = False, **more) -> Tensor:
        if dtype is not None or out is not None or more:
            return numpy_dispatch.reduction(ops.Mean, "Tensor.mean", self, axis, dtype, out, keepdims, **more)
        return apply(ops.Mean(axis, keepdims), self)

    def prod(self, axis=None, dtype=None, out=None, keepdims: bool = False, **more) -> Tensor:
        return numpy_dispatch.reduction(ops.Prod, "Tensor.prod", self, axis, dtype, out, keepdims, **more)

    def max(self, axis=None, out=None, keepdims: bool = False, **more) -> Tensor:
        if out is not None or more:
            return numpy_dispatch.extreme(ops.Max, "Tensor.max", self, axis, out, keepdims, **more)
        return apply(ops.Max(axis, keepdims), self)

    def min(self, axis=None, out=None, keepdims: bool = False, **more) -> Tensor:
        if out is not None or more:
            return numpy_dispatch.extreme(ops.Min, "Tensor.min", self, axis, out, keepdims, **more)
        return apply(ops.Min(axis, keepdims), self)

    def var(self, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False, **more) -> Tensor:
        return numpy_dispatch.spread(ops.Var, "Tensor.var", self, axis, dtype, out, ddof, keepdims, **more)

    def std(self, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False, **more) -> Tensor:
        return numpy_dispatch.spread(ops.Std, "Tensor.std", self, axis, dtype, out, ddof, keepdims, **more)

    def cumsum(self, axis=None, dtype=None, out=None, **more) -> Tensor:
        """Running sums along ``axis`` (of the flattened tensor when None), as ``ndarray.cumsum``."""
        return numpy_dispatch.cumsum("Tensor.cumsum", self, axis, dtype, out, **more)

    def dot(self, b, out=None) -> Tensor:
        """``np.dot(self, b)``, as ``ndarray.dot``."""
        if out is not None:
            numpy_dispatch.check_keywords("Tensor.dot", self, None, out)
        return ops.dot(self, b)

    def logsumexp(self, axis=None, keepdims: bool = False) -> Tensor:
        return ops.logsumexp(self, axis, keepdims)

    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def sigmoid(self) -> Tensor:
        return ops.sigmoid(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def relu(self) -> Tensor:
        return ops.relu(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return ops.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return ops.log_softmax(self, axis)

    def argmax(self, axis=None) -> np.ndarray:
        """The index of the maximum (over all entries, or along ``axis``): an integer ndarray, not a Tensor."""
        return np.asarray(self.data.argmax(axis=axis))

    def abs(self) -> Tensor:
        return ops.abs(self)

    def sqrt(self) -> Tensor:
        return ops.sqrt(self)

    def clip(self, min=None, max=None, out=None, **more) -> Tensor:
        """Limited to [min, max], as ``ndarray.clip`` (``t.clip(lo, hi)`` positionally, as ``ag.clip``)."""
        if "lo" in more or "hi" in more:  # this engine's earlier keyword names
            min, max = more.pop("lo", min), more.pop("hi", max)
        return numpy_dispatch.clip("Tensor.clip", self, min, max, out, **more)

    # ------------------------------------------------------------ differentiation
    def backward(self, grad=None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        A single-valued output needs no ``grad``; any other needs one of its own shape (the
        vector in the vector-Jacobian product). ``create_graph=True`` records the backward pass
        itself, so the leaves' ``.grad`` become Tensors that can be differentiated again.
        """
        seed = _seed(self, grad, create_graph, "backward")
        _backpropagate(self, seed, create_graph, wanted=None)

    # ------------------------------------------------------------ hooks
    def retain_grad(self) -> None:
        """Keep this intermediate's gradient in ``.grad`` after ``backward()``, accumulating across
        calls as a leaf's does (a no-op on a leaf, whose gradient is kept anyway)."""
        _hook_list(self, "retain_grad").retains = True

    def register_hook(self, fn) -> HookHandle:
        """Call ``fn(grad)`` when this tensor's gradient is complete during a backward pass.

        ``fn`` may return a replacement (same shape), which is what flows on to the inputs (and into
        ``.grad``); returning None keeps the gradient. ``fn`` must not change ``grad`` in place (the
        engine may share the array); return a new one. Hooks run in the order registered, before
        ``retain_grad`` stores the gradient. The returned handle's ``.remove()`` unregisters it.
        """
        if not callable(fn):
            raise TypeError(f"register_hook: expected a callable, got {type(fn).__name__}")
        hooks = _hook_list(self, "register_hook")
        hooks.append(fn)
        return HookHandle(hooks, fn)


def _rebuild_leaf(cls: type, data: np.ndarray, requires_grad: bool, name: str | None, grad) -> Tensor:
    """The leaf ``Tensor.__reduce__`` describes (for pickle and copy), of the same class."""
    t = cls.__new__(cls)
    Tensor.__init__(t, data, requires_grad, name)
    t._grad = grad
    return t


def _grad_array(grad):
    """A gradient as a copyable array: a recorded gradient (create_graph) without its graph."""
    return grad.data if isinstance(grad, Tensor) else grad


recording._use_tensor_class(Tensor)  # what apply() makes its results of; the ops reach Tensor through it


# ---------------------------------------------------------------- backward


def _seed(root: Tensor, grad, create_graph: bool, where: str):
    """The gradient backward starts from: ones for a single value, else the caller's ``grad``."""
    if not isinstance(root, Tensor):
        raise TypeError(f"{where}: expected a Tensor output, got {type(root).__name__}")
    if not root.requires_grad:
        raise AutogradError(
            f"{where}: the output does not require grad (no leaf with requires_grad=True leads to it, "
            "or it was computed under no_grad), so there is nothing to differentiate"
        )
    if grad is None:
        if root.data.size != 1:
            raise ShapeError(
                f"{where}: the output has shape {root.shape}, not a single value, so a gradient is needed: "
                f"pass grad=, an array of the output's shape {root.shape}"
            )
        seed = np.ones_like(root.data)
    else:
        seed = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=root.dtype)
        if seed.shape != root.shape:
            raise ShapeError(
                f"{where}: the gradient has shape {seed.shape} but the output has shape {root.shape}"
            )
    if create_graph:
        seed = grad if isinstance(grad, Tensor) else _new(seed, False)
        return seed if seed.dtype == root.dtype else apply(ops.Cast(root.dtype), seed)
    return seed if seed.dtype == root.dtype else seed.astype(root.dtype)  # gradients keep the value's dtype


def _reverse_topological_order(root: Tensor | ops.Op) -> list[Tensor | ops.Op]:
    """Every node and leaf that leads to ``root``, each before the ones it was computed from.

    Iterative depth-first search (no recursion limit), linear in the size of the graph. Nodes and
    tensors hash by identity, so they are their own keys.
    """
    order: list[Tensor | ops.Op] = []
    visited: set[Tensor | ops.Op] = set()
    stack: list[tuple[Tensor | ops.Op, bool]] = [(root, False)]
    while stack:
        item, inputs_done = stack.pop()
        if inputs_done:
            order.append(item)
        elif item not in visited:
            visited.add(item)
            stack.append((item, True))
            if not isinstance(item, Tensor):  # a node; leaves have no inputs
                stack.extend((t, False) for t in item.targets if t is not None and t not in visited)
    order.reverse()
    return order


def _leading_to(order: list, wanted: set) -> list:
    """The items of ``order`` (a reverse topological order) from which a target in ``wanted`` is
    reached by going to inputs: a requested input itself, or a node with one among its inputs' inputs.
    Past a requested input nothing is kept unless another requested input lies further on."""
    leads: set = set()
    for item in reversed(order):  # inputs before the nodes that read them
        if item in wanted or (
            not isinstance(item, Tensor) and any(t is not None and t in leads for t in item.targets)
        ):
            leads.add(item)
    return [item for item in order if item in leads]


def _versions_now(op: ops.Op) -> tuple:
    """The versions now of the inputs ``op`` kept (None for the others), as ``op.input_versions``."""
    saved = op.input_versions
    return tuple(  # (indexing, not zip: this runs once per such node in every backward)
        [
            None if saved[i] is None else t._version if t._base is None else t._base._version
            for i, t in enumerate(op.parents)
        ]
    )


def _recorded_vjp_arguments(op: ops.Op) -> tuple:
    """What ``op.vjp`` gets besides g under create_graph: its output and inputs as Tensors, so the
    VJP is recorded. Values the node did not keep are passed as nodes, which only tell shapes."""
    out = op
    if op.keeps_output:  # the saved array as a Tensor computed by op, so it stays differentiable
        out = _new(op.output, True)
        out._op = op
    return (out, *op.parents)


def _backpropagate(root: Tensor, seed, create_graph: bool, wanted: set | None, observe=None) -> dict:
    """Reverse mode from ``root``. With ``wanted`` None, accumulate into the leaves' ``.grad``;
    otherwise return the gradients collected at the targets (nodes or leaves) in ``wanted``, and
    touch no ``.grad``. ``observe(op, sent)``, when given, is called after each op's VJP with
    ``sent``, the ``(input index, target, gradient)`` it passes on (drawings step through these).
    """
    start = _target(root)
    grads: dict = {start: seed}  # target -> the gradient summed so far
    owned: set = set()  # targets whose gradient buffer the engine allocated here (safe to add into)
    found: dict = {}
    order = _reverse_topological_order(start)
    reached = None  # (ag.grad) the items whose gradient is wanted or leads to a wanted one
    if wanted is not None:  # ag.grad: only what leads to a requested input runs, and nothing past them
        order = _leading_to(order, wanted)
        reached = set(order)
    recording, anomaly = STATE.enabled, STATE.anomaly
    STATE.enabled = create_graph  # the backward pass is itself recorded only on request
    try:
        for item in order:
            g = grads.pop(item, None)
            if g is None:
                continue
            if _HOOKS and id(item) in _HOOKS:  # register_hook / retain_grad: the gradient is complete here
                g = _run_hooks(item, g, create_graph, wanted is None, owned)
            if isinstance(item, Tensor):  # a leaf (a Tensor or a subclass, e.g. nn.Parameter)
                if wanted is None:
                    _accumulate_into_leaf(item, g, item in owned, create_graph)
                else:
                    found[item] = g
                continue
            op = item
            if wanted is not None and item in wanted:
                found[item] = g  # complete: every use of the value was processed before it
                if not any(t is not None and t in reached for t in op.targets):
                    continue  # no requested input lies further on: stop here
            if op.keeps_inputs:
                saved = op.input_versions
                if None in saved:  # (Op.vjp_reads: some inputs were not kept) the kept ones
                    now = _versions_now(op)
                else:
                    now = tuple([t._version if t._base is None else t._base._version for t in op.parents])
                if now != saved:
                    raise _changed_in_place(op)
            if op.keeps_output and op.output_version:
                raise _changed_in_place(op)
            if create_graph:
                input_grads = op.vjp(g, *_recorded_vjp_arguments(op))
            else:  # arrays; a value the node did not keep goes as the node, which tells its shape
                out = op.output if op.keeps_output else op
                input_grads = op.vjp(g, out, *[p.data if isinstance(p, Tensor) else p for p in op.parents])
            sent = None if observe is None else []
            for i, target in enumerate(op.targets):
                pg = input_grads[i]
                if target is None or pg is None or (reached is not None and target not in reached):
                    continue
                if pg.shape != target.shape:
                    pg = _unbroadcast(pg, target.shape, op)
                if not create_graph:
                    if type(pg) is not np.ndarray or pg.dtype != target.dtype:
                        pg = np.asarray(pg, dtype=target.dtype)
                elif pg.dtype != target.dtype:  # (float32 leaves met float64 arrays): a recorded cast
                    pg = apply(ops.Cast(target.dtype), pg)
                if anomaly:
                    _check_backward(op, i, pg)
                if sent is not None:
                    sent.append((i, target, pg))
                held = grads.get(target)
                if held is None:
                    grads[target] = pg
                elif target in owned:
                    np.add(held, pg, out=held)
                elif create_graph:
                    grads[target] = held + pg
                else:
                    grads[target] = np.asarray(held + pg)
                    owned.add(target)
            if sent is not None:
                observe(op, sent)
    finally:
        STATE.enabled = recording
    return found


# ---------------------------------------------------------------- hooks and retain_grad

# Where each value's gradient is collected (the node that computed it, or the leaf), by id -> its
# hooks. Keyed by id, not by the object: tensors compare elementwise, so they cannot be dict keys
# that are compared. Entries hold their value weakly and vanish with it, so registering a hook never
# keeps a graph alive. Empty in most programs: backward then pays one truth test per value.
_HOOKS: dict[int, _HookList] = {}


class _HookList(list):
    """The hooks of one value, and the tensor that retains its gradient (both held weakly)."""

    __slots__ = ("retains", "target", "tensor")

    def __init__(self, target, tensor: Tensor) -> None:
        super().__init__()
        key = id(target)
        self.target = weakref.ref(target, lambda _, key=key: _HOOKS.pop(key, None))
        self.tensor = weakref.ref(tensor)
        self.retains = False


class HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook (calling it twice is harmless)."""

    __slots__ = ("_fn", "_hooks")

    def __init__(self, hooks: _HookList, fn) -> None:
        self._hooks, self._fn = hooks, fn

    def remove(self) -> None:
        if self._fn is not None:
            self._hooks.remove(self._fn)
            self._fn = None


def _hook_list(t: Tensor, where: str) -> _HookList:
    if not t.requires_grad:
        raise AutogradError(f"{where}: the tensor does not require grad, so backward never reaches it")
    target = _target(t)
    hooks = _HOOKS.get(id(target))
    if hooks is None or hooks.target() is not target:
        hooks = _HOOKS[id(target)] = _HookList(target, t)
    return hooks


def _run_hooks(target, g, create_graph: bool, storing: bool, owned: set):
    """Apply ``target``'s hooks to its complete gradient ``g`` and keep it for ``retain_grad``."""
    hooks = _HOOKS[id(target)]
    for fn in list(hooks):
        replacement = fn(g)
        if replacement is None:
            continue
        data = replacement.data if isinstance(replacement, Tensor) else np.asarray(replacement)
        if data.shape != target.shape:
            raise ShapeError(
                f"register_hook: the hook {getattr(fn, '__name__', fn)!r} returned a gradient of shape "
                f"{data.shape} for a tensor of shape {target.shape}"
            )
        if create_graph:
            g = replacement if isinstance(replacement, Tensor) else _new(data, False)
        else:
            g = data.astype(target.dtype, copy=False)
        owned.discard(target)  # the replacement belongs to the hook: never add into it in place
    tensor = hooks.tensor()
    if storing and hooks.retains and tensor is not None and not isinstance(target, Tensor):
        if create_graph:
            tensor.grad = g + 0 if tensor._grad is None else tensor._grad + g
        else:
            held = tensor._grad
            tensor.grad = np.array(g) if held is None else _add_in_place(held, g, target.dtype)
    return g


def _accumulate_into_leaf(leaf: Tensor, g, owned: bool, create_graph: bool) -> None:
    """Add ``g`` to ``leaf.grad``: in place into the array ``.grad`` holds (as PyTorch does: a
    reference taken earlier sees the sum), or as a new recorded sum under ``create_graph``.

    The first gradient stored is an array of the leaf's own (``owned``: the engine allocated it
    here, else a copy), never one the caller or another leaf holds, so adding into it later is safe.
    The sum keeps the leaf's dtype whatever dtype a ``.grad`` set by the user has."""
    held = leaf._grad
    if create_graph:
        # The first gradient as a recorded copy (``g + 0``): g may be shared (``add`` hands both of
        # its operands the same one) or be the caller's grad= tensor.
        g = g + 0 if held is None else held + g
        leaf._grad = g if g.dtype == leaf.data.dtype else apply(ops.Cast(leaf.data.dtype), g)
    elif held is None:
        leaf._grad = g if owned else g.copy()
    else:
        leaf._grad = _add_in_place(held, g, leaf.data.dtype)


def _add_in_place(held, g, dtype: np.dtype):
    """``held + g`` written into ``held`` when it is a writable array of ``dtype`` (``.grad``
    accumulating); otherwise (a Tensor from create_graph, another dtype, a read-only array the user
    set) a new array of ``dtype``."""
    if type(held) is np.ndarray and held.dtype == dtype and held.flags.writeable:
        np.add(held, g, out=held)
        return held
    previous = held.data if isinstance(held, Tensor) else held
    return np.asarray(previous + g, dtype=dtype)  # (0-d sums are NumPy scalars)


def grad(
    output: Tensor,
    inputs: Tensor | Sequence[Tensor],
    grad_output=None,
    create_graph: bool = False,
    allow_unused: bool = False,
):
    """The gradients of ``output`` with respect to ``inputs``, returned rather than stored in ``.grad``.

    Inputs may be leaves or intermediate results; the backward pass stops at them (no hook or VJP
    past a requested input runs, unless it leads to another requested input). With ``create_graph=True`` the results are
    Tensors that can be differentiated again (Hessian-vector products); otherwise ndarrays. An
    input that does not lead to the output is an error unless ``allow_unused`` (then None).
    """
    single = isinstance(inputs, Tensor)
    requested = [inputs] if single else list(inputs)
    if not requested:
        raise AutogradError(
            "grad: no inputs were given; pass the tensor (or a list of the tensors) whose gradients you want"
        )
    for i, t in enumerate(requested):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise AutogradError(f"grad: input {i} is not a Tensor that requires grad")
    seed = _seed(output, grad_output, create_graph, "grad")
    found = _backpropagate(output, seed, create_graph, wanted={_target(t) for t in requested})
    results = []
    for i, t in enumerate(requested):
        g = found.get(_target(t))
        if g is None and not allow_unused:
            label = f" ({t.name})" if t.name else ""
            raise AutogradError(f"grad: input {i}{label} does not lead to the output; pass allow_unused=True")
        results.append(g if g is None or create_graph else np.array(g))
    return results[0] if single else results


def _changed_in_place(op: ops.Op) -> AutogradError:
    """The error for a value ``op`` saved in the forward pass that an in-place change altered since."""
    if op.keeps_output and op.output_version:
        what = f"its output (version {op.output_version}, saved at version 0)"
    else:
        index, tensor = next(
            (i, t)
            for i, t in enumerate(op.parents)
            if op.input_versions[i] is not None and t._owner()._version != op.input_versions[i]
        )
        name = f"{tensor._name!r}, " if tensor._name is not None else ""
        owner = tensor._owner()
        if owner is not tensor:  # a view: name the tensor whose array it shows, and whose version counts
            base = (
                f"tensor {owner._name!r}" if owner._name is not None else f"a tensor of shape {owner.shape}"
            )
            name += f"a view of {base}, "
        what = (
            f"its input {index} ({name}shape {tensor.data.shape}, version {owner._version}, "
            f"saved at version {op.input_versions[index]})"
        )
    origin = getattr(op, "origin", "")
    return AutogradError(
        f"backward: {op.label()}{origin} needs {what}, which was modified by an in-place operation "
        "after the forward pass; run the forward pass again after changing it (or change a copy)"
    )


# ---------------------------------------------------------------- anomaly detection


def _check_backward(op: ops.Op, index: int, g) -> None:
    problem = _first_bad(g.data if isinstance(g, Tensor) else g)
    if problem is not None:
        origin = getattr(op, "origin", "")
        raise AnomalyError(f"backward of {op.label()}{origin}: the gradient for its input {index}: {problem}")
