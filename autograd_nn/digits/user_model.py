"""A model of the user's own for the command line: ``--model FILE.py:NAME`` built, loaded, run and checked.

NAME is a function or class in FILE.py; calling it with no arguments returns an ``nn.Module`` that maps
rows of inputs (examples x features) to one score (logit) per class. Its weights are what ``Module.save``
wrote (a training run's ``weights.npz``). Every fault is a ``UserModelError`` whose one line names the
option, the file and, for weights, the key or shapes that do not fit.
"""

from __future__ import annotations

import importlib.util
import json
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import AutogradError
from ..grad_mode import no_grad
from ..nn import Module, StateDictError
from ..nn.init import manual_seed
from ..ops import cross_entropy
from ..tensor import Tensor
from .classes import classes_from_labels
from .data import SplitRecord


class UserModelError(AutogradError, ValueError):
    """A ``--model`` or ``--backprop`` file, or weights for it, that cannot be used; one line, option named."""


@dataclass
class UserModel:
    """The model built from ``--model``, and how messages name it."""

    module: Module
    spec: str  # as given: FILE.py:NAME

    @property
    def title(self) -> str:
        """``MLP (2,410 parameters, float64)``."""
        return f"{type(self.module).__name__} ({self.module.num_parameters():,} parameters, {self.dtype})"

    @property
    def dtype(self) -> np.dtype:
        first = next(self.module.parameters(), None)
        return np.dtype(np.float64) if first is None else first.dtype


def split_spec(spec: str, option: str, what: str) -> tuple[Path, str]:
    """FILE.py:NAME as (path, name), the file checked to exist."""
    path_text, colon, name = spec.rpartition(":")
    if not colon or not path_text or not name.isidentifier():
        raise UserModelError(f"{option}: expected FILE.py:{what}, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise UserModelError(f"{option}: {path}: no such file")
    return path, name


def import_file(path: Path, option: str) -> ModuleType:
    """The Python file at ``path``, run as a module of its own (the user's code: its faults are one line)."""
    module_spec = importlib.util.spec_from_file_location(f"_autograd_nn_user_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise UserModelError(f"{option}: {path}: not a Python file (.py)")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        raise UserModelError(f"{option}: {path}: loading it raised {where_raised(error, path)}") from None
    return module


def where_raised(error: BaseException, path: Path) -> str:
    """'ValueError: ... (line 12)': the error and the line of the user's file it came from."""
    line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    text = " ".join(str(error).split())
    return f"{type(error).__name__}{': ' + text if text else ''}" + (f" (line {line})" if line else "")


def load_callable(spec: str, option: str, placeholder: str, kind: str) -> tuple[Path, str, object]:
    """(path, name, the callable) for FILE.py:NAME given to ``option``; a missing name is one line that
    lists what the file does define."""
    path, name = split_spec(spec, option, placeholder)
    module = import_file(path, option)
    found = getattr(module, name, None)
    if not callable(found):
        defined = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        also = f"; it defines {', '.join(defined)}" if defined else ""
        raise UserModelError(f"{option}: {path} has no {kind} {name!r}{also}")
    return path, name, found


def build_model(spec: str, seed: int | None = None) -> UserModel:
    """Call NAME of FILE.py (after seeding ``nn.init``'s generator with ``seed``, so layers built without
    ``rng=`` start the same every time) and check that it returned an ``nn.Module`` with parameters."""
    path, name, factory = load_callable(spec, "--model", "NAME", "function or class")
    if seed is not None:
        manual_seed(seed)
    try:
        model = factory()
    except Exception as error:
        raise UserModelError(f"--model: {name}() in {path} raised {where_raised(error, path)}") from None
    if not isinstance(model, Module):
        raise UserModelError(
            f"--model: {name}() in {path} returned {type(model).__name__}, not an nn.Module; "
            "it must return the model, e.g. nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))"
        )
    if next(model.parameters(), None) is None:
        raise UserModelError(
            f"--model: {name}() in {path} returned a {type(model).__name__} with no parameters"
        )
    return UserModel(model, spec)


def load_weights(model: UserModel, weights: Path) -> None:
    """Fill the model with ``weights`` (in place, ``Module.load``); a file that does not fit names the
    option, the file and the key or shapes."""
    try:
        model.module.load(weights)
    except StateDictError as error:
        reason = str(error).removeprefix(f"{weights}: ")
        if "no such weights file" in reason or "not an .npz weights file" in reason:
            raise UserModelError(f"--weights {weights}: {reason}") from None
        with np.load(weights, allow_pickle=False) as stored:
            keys = list(stored.files)
        hint = ""
        if "sizes" in keys:  # what Network.save writes
            hint = " (these are the tutorial network's weights: leave out --model)"
        elif "missing key" in reason:
            hint = f"; the file holds {', '.join(map(repr, keys)) or 'no arrays'}"
        raise UserModelError(
            f"--weights {weights} does not fit --model {model.spec}: {reason}{hint}"
        ) from None


def scores(model: UserModel, X: np.ndarray, option: str = "--model") -> Tensor:
    """The model's class scores for the rows of X, in evaluation mode, recording nothing; a model that
    fails on them, or gives something other than one row of scores per example, is one line."""
    was_training = model.module.training
    model.module.eval()
    try:
        with no_grad():
            out = call(model, X, option)
    finally:
        model.module.train(was_training)
    return out


def call(model: UserModel, X, option: str = "--model") -> Tensor:
    """``model(X)`` with X cast to the model's dtype (recorded, unless under ``no_grad``), checked to be
    one row of scores per example."""
    X = np.asarray(X.data if isinstance(X, Tensor) else X).astype(model.dtype, copy=False)
    try:
        out = model.module(Tensor(X, name="X"))
    except Exception as error:
        raise UserModelError(
            f"{option} {model.spec}: the model raised {type(error).__name__}: {' '.join(str(error).split())} "
            f"on inputs of shape {X.shape}"
        ) from None
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != X.shape[0]:
        got = f"shape {out.shape}" if isinstance(out, Tensor) else type(out).__name__
        raise UserModelError(
            f"{option} {model.spec}: the model gave {got} for inputs of shape {X.shape}; "
            f"it must return one row of class scores per example, shape ({X.shape[0]}, classes)"
        )
    return out


def check_classes(model: UserModel, classes: int, num_labels: int, where: str) -> None:
    if classes != num_labels:
        raise UserModelError(
            f"--model {model.spec}: the model gives {classes} scores per example, but {where} has "
            f"{num_labels} labels"
        )


def cost(model: UserModel, X: np.ndarray, labels: np.ndarray, num_labels: int) -> Tensor:
    """The cost ``train`` minimises for a model: the cross-entropy of a softmax over its scores against the
    labels 1..K, as classes label mod K (class k is the digit k; see classes.py), averaged over the
    examples (no L2 term)."""
    logits = call(model, X)
    classes = classes_from_labels(labels, num_labels, tutorial=False)
    loss = cross_entropy(logits, classes)
    loss.name = "J"
    return loss


def split_beside(weights: Path) -> SplitRecord | None:
    """The split of the run whose folder holds ``weights``, from its ``summary.json`` (a model's weights
    file holds only its parameters); None when there is no readable summary."""
    summary = read_summary(weights)
    try:
        data, config = summary["data"], summary["config"]
        if not isinstance(data["sha256"], str):
            return None
        return SplitRecord(
            seed=int(config["seed"]),
            holdout=float(config["holdout"]),
            data_sha256=str(data["sha256"]),
            data_source=str(data["source"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def read_summary(weights: Path) -> dict:
    """The ``summary.json`` beside ``weights`` ({} when absent or unreadable)."""
    try:
        summary = json.loads((weights.parent / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}
