"""Modules: a model written as forward code, whose parameters find themselves.

A ``Module`` registers every ``Parameter`` and every sub-``Module`` assigned to one of its attributes, in the
order they were assigned. From that tree come the dotted parameter names (``hidden.weight``, which also
become the tensors' names in drawings), ``parameters()`` for an optimizer, ``state_dict()`` and ``save``/``load``
(``.npz``, no pickle), ``train()``/``eval()`` and a readable ``repr``. ``register_buffer`` keeps state that is not
trained (running statistics): in ``state_dict`` and files after the parameters, converted by ``to(dtype)``. Calling a module calls its ``forward``
inside a ``name_scope`` named after its dotted name, so the ops of ``model.hidden`` fall in scope ``hidden``
and drawings frame and collapse a model by layer. A module called by its parent's forward nests inside the
parent's scope by the rest of its name (``features/0`` for ``features.0``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..errors import AutogradError
from ..files import read_arrays, write_arrays
from ..grad_mode import STATE, name_scope
from ..tensor import Tensor


class StateDictError(AutogradError, ValueError):
    """A state dict or weights file that does not fit the model: missing, unexpected or wrongly shaped keys."""


class Parameter(Tensor):
    """A Tensor with ``requires_grad=True`` that a Module registers when it is assigned to an attribute."""

    __slots__ = ()

    def __init__(self, data, name: str | None = None) -> None:
        super().__init__(data, requires_grad=True, name=name)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]


def _bump_version(tensor: Tensor) -> None:
    """Count an in-place change of ``tensor.data``, for engines whose tensors carry a version counter."""
    if hasattr(tensor, "_version"):
        tensor._version += 1


class Module:
    """Base class of every layer and model: subclass it, assign layers and Parameters, write ``forward``.

    ``__init__`` of a subclass must call ``super().__init__()`` before assigning attributes.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})  # local name -> Parameter, in assignment order
        object.__setattr__(self, "_modules", {})  # local name -> Module, in assignment order
        object.__setattr__(self, "_buffers", {})  # local name -> ndarray (register_buffer), in order
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_path", None)  # its dotted name in the model it was assigned into

    # ------------------------------------------------------------ registration
    def __setattr__(self, name: str, value) -> None:
        registry = self.__dict__.get("_parameters")
        if registry is None:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attribute {name!r}"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:  # assigning a registered buffer replaces its array
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(
                    f"{type(self).__name__}: buffer {name!r} must be an ndarray or None, got {type(value).__name__}"
                )
            buffers[name] = value
        if isinstance(value, Parameter):
            self._parameters[name] = value
            value.name = name
        elif isinstance(value, Module):
            self._modules[name] = value
            for inner, module in value.named_modules():  # like the parameters' names
                object.__setattr__(module, "_path", f"{name}.{inner}" if inner else name)
            for inner, parameter in value.named_parameters():  # names say where the parameter lives
                parameter.name = f"{name}.{inner}"
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array) -> None:
        """Keep ``array`` (an ndarray, or None) as state that is not a parameter: running statistics, say.

        A buffer is an attribute (``self.name``), is saved in ``state_dict()`` and by ``save``/``load`` after
        the parameters, and ``to(dtype)`` converts it when it holds floats; optimizers never see it.
        """
        if not isinstance(name, str) or not name.isidentifier() or "." in name:
            raise ValueError(f"register_buffer: the name must be an identifier, got {name!r}")
        if name in self._parameters or name in self._modules:
            raise ValueError(
                f"register_buffer: {type(self).__name__} already has a parameter or module {name!r}"
            )
        if array is not None and (isinstance(array, Tensor) or not isinstance(array, np.ndarray)):
            raise TypeError(
                f"register_buffer: {name!r} must be an ndarray (or None), got {type(array).__name__}; a "
                "tensor to train is a Parameter"
            )
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: a Module subclass must define forward()")

    def __call__(self, *args, **kwargs):
        running = STATE.modules  # this thread's: the caller, if any, is the last
        scope = self._scope_in(running[-1] if running else None)
        running.append(self)
        try:
            if scope is None:  # a model called on its own opens no frame around everything
                return self.forward(*args, **kwargs)
            with name_scope(scope):
                return self.forward(*args, **kwargs)
        finally:
            running.pop()

    def _scope_in(self, caller: Module | None) -> str | None:
        """The scope this module's ops go in when ``caller``'s forward calls it: the rest of its dotted name
        below the caller's (nested in the caller's scope), or its whole dotted name; None for a model."""
        path = getattr(self, "_path", None)
        outer = None if caller is None else getattr(caller, "_path", None)
        if path is not None and outer is not None and path.startswith(outer + "."):
            return path[len(outer) + 1 :]
        return path

    # ------------------------------------------------------------ walking the tree
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module (name ``prefix``) and every module below it, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:  # iterative, depth first, in assignment order
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child}" if name else child, m) for child, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, each once."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) for every parameter, e.g. ``("hidden.weight", W)``; a shared one once."""
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for local, parameter in module._parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield (f"{prefix}.{local}" if prefix else local), parameter

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """(dotted name, array) for every buffer that is not None, e.g. ``("norm.running_mean", m)``."""
        for prefix, module in self.named_modules():
            for local, array in module._buffers.items():
                if array is not None:
                    yield (f"{prefix}.{local}" if prefix else local), array

    def buffers(self) -> Iterator[np.ndarray]:
        """Every buffer's array, in the order of ``named_buffers``."""
        for _, array in self.named_buffers():
            yield array

    def parameters(self) -> Iterator[Parameter]:
        """Every parameter, each once, in the order of ``named_parameters`` (what an optimizer updates)."""
        for _, parameter in self.named_parameters():
            yield parameter

    def num_parameters(self) -> int:
        """How many numbers the parameters hold."""
        return sum(p.size for p in self.parameters())

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for parameter in self.parameters():
            parameter.grad = None

    # ------------------------------------------------------------ modes and dtype
    def train(self, mode: bool = True) -> Module:
        """Put this module and all below it in training mode (``mode=False``: evaluation mode)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: layers such as Dropout become the identity."""
        return self.train(False)

    def to(self, dtype) -> Module:
        """Convert every parameter to ``dtype`` (float32 or float64), in place; gradients are dropped."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"{type(self).__name__}.to: dtype must be float32 or float64, got {dtype}")
        for parameter in self.parameters():
            if parameter.dtype != dtype:
                parameter.data = parameter.data.astype(dtype)
                parameter.grad = None
                _bump_version(parameter)
        for module in self.modules():
            for name, array in module._buffers.items():
                if array is not None and array.dtype.kind == "f" and array.dtype != dtype:
                    setattr(module, name, array.astype(dtype))
        return self

    # ------------------------------------------------------------ state: dicts and files
    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: a copy of the parameter's array}, in the order of ``named_parameters``, then the
        buffers' (``named_buffers``)."""
        state = {name: parameter.data.copy() for name, parameter in self.named_parameters()}
        state.update((name, np.array(array)) for name, array in self.named_buffers())
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy the arrays of ``state`` into the parameters of the same names.

        Every key is checked before anything changes. ``strict``: keys missing from ``state`` or unknown to
        the model are errors; otherwise they are ignored. A wrongly shaped array is always an error.
        """
        self._load_state(state, strict, where=f"{type(self).__name__}.load_state_dict")

    def _load_state(self, state: dict, strict: bool, where: str) -> None:
        own = {**dict(self.named_parameters()), **dict(self.named_buffers())}
        if strict:
            missing = [name for name in own if name not in state]
            if missing:
                raise StateDictError(f"{where}: missing key(s) {', '.join(map(repr, missing))}")
            unexpected = [name for name in state if name not in own]
            if unexpected:
                raise StateDictError(
                    f"{where}: unexpected key(s) {', '.join(map(repr, unexpected))}; "
                    f"the model has {', '.join(map(repr, own))}"
                )
        updates = []
        for name, parameter in own.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.dtype.kind not in "biuf":
                raise StateDictError(f"{where}: {name!r} holds {value.dtype} values, not numbers")
            if value.shape != np.shape(parameter):
                raise StateDictError(
                    f"{where}: {name!r} has shape {value.shape}, but the model's parameter has shape "
                    f"{np.shape(parameter)}"
                )
            updates.append((parameter, value))
        for parameter, value in updates:
            if isinstance(parameter, np.ndarray):  # a buffer: in place too (an op may hold the array)
                parameter[...] = value
                continue
            parameter.data[...] = value  # in place: whoever holds the array sees the new values
            _bump_version(parameter)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write ``state_dict()`` to an ``.npz`` file atomically; refuse to replace a file unless asked."""
        return write_arrays(path, self.state_dict(), overwrite=overwrite)

    def load(self, path: str | os.PathLike, *, strict: bool = True) -> Module:
        """Load parameters written by ``save`` into this model, checked against its structure (no pickle)."""
        path = Path(path)
        try:
            state = read_arrays(path)
        except FileNotFoundError:
            raise StateDictError(f"{path}: no such weights file") from None
        except ValueError as error:
            raise StateDictError(f"{path}: not an .npz weights file ({error})") from None
        self._load_state(state, strict, where=str(path))
        return self

    # ------------------------------------------------------------ showing the tree
    def extra_repr(self) -> str:
        """The settings shown in brackets after the module's name, e.g. ``64, 32`` for a Linear."""
        return ""

    def __repr__(self) -> str:
        total = self.num_parameters()
        return self._repr_lines() + f"\n{total:,} parameters"

    def _repr_lines(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()})"
        own = [f"{name} {tuple(p.shape)}" for name, p in self._parameters.items()]
        if own:
            count = sum(p.size for p in self._parameters.values())
            head += f"  [{', '.join(own)}: {count:,} params]"
        if not self._modules:
            return head
        body = [
            f"  ({name}): " + module._repr_lines().replace("\n", "\n  ")
            for name, module in self._modules.items()
        ]
        return head + "\n" + "\n".join(body)


def _check_modules(modules: Iterable, where: str) -> list[Module]:
    modules = list(modules)
    for i, module in enumerate(modules):
        if not isinstance(module, Module):
            raise TypeError(f"{where}: item {i} is a {type(module).__name__}, not a Module")
    return modules


class ModuleList(Module):
    """A list of modules, registered under the names "0", "1", ... (for layers built in a loop)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        object.__setattr__(self, "_items", [])
        self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        (module,) = _check_modules([module], f"{type(self).__name__}.append")
        setattr(self, str(len(self._items)), module)
        self._items.append(module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in _check_modules(modules, f"{type(self).__name__}"):
            self.append(module)
        return self

    def __getitem__(self, index: int) -> Module:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items)


class Sequential(ModuleList):
    """Modules applied one after the other: ``Sequential(Linear(64, 32), Tanh(), Linear(32, 10))``."""

    def __init__(self, *modules: Module) -> None:
        super().__init__(modules)

    def forward(self, x):
        for module in self._items:
            x = module(x)
        return x


class ModuleDict(Module):
    """Modules by name (``ModuleDict({"wte": Embedding(...), "h": ModuleList(...)})``), registered under those
    names in insertion order, as PyTorch's: ``d["wte"]``, ``d.keys()``, ``d.items()``, ``len(d)``, ``in``."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"ModuleDict: keys must be identifiers (they become dotted names), got {key!r}")
        (module,) = _check_modules([module], f"ModuleDict[{key!r}]")
        setattr(self, key, module)

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules) -> None:
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module
