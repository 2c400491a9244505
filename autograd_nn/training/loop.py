"""The training loop for any model: per-epoch costs and held-out accuracy, a progress bar, early
stopping, divergence and Ctrl-C, each run recorded in a ``TrainResult`` (``runs.py`` writes its folder).

The loop asks nothing of a model but to be an ``nn.Module`` mapping rows of X to one score (logit) per
class. A model may also tell the loop about itself through these optional methods (the tutorial's
``Network``, in ``autograd_nn.digits``, defines them all; any other model needs none):

- ``training_logits(X)``: its class scores before any output activation (default: ``model(X)``);
- ``classes_from_labels(labels, num_labels)``: which output column stands for each label 1..K
  (default: class = label mod K, so the last label K is class 0: for the digits class k is the digit k);
- ``keep_split(split)``: called with the run's ``SplitRecord`` before training, to keep with its weights;
- ``run_facts()`` and ``run_title()``: its entry in a run's summary.json and its cost curve's title
  (``runs.py``; default: its class name and parameter count).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from ..compile import compile as compile_function
from ..datasets.tables import Dataset, SplitRecord, fingerprint, stratified_split
from ..grad_mode import no_grad
from ..nn import Dropout, Module
from ..optim import make_optimizer
from ..tensor import Tensor
from .cost import l2_penalty, tutorial_loss


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; with ``seed`` fixed, a run is reproducible.

    ``hidden``, ``scale_inputs`` and ``dtype`` describe the model for a function that builds it, such as
    the tutorial network's (``autograd_nn.digits.train``); a model given as it is ignores them and trains
    in the dtype of its parameters. ``seed`` draws the split and the order of the batches (and may seed
    the model a function builds).
    """

    hidden: tuple[int, ...] = (25,)
    epochs: int = 300
    lr: float = 0.003
    lam: float = 0.3
    batch_size: int | None = 64  # None: full batch, as in the tutorial
    optimizer: str = "adam"  # "gd" (the tutorial's rule), "momentum" or "adam"
    seed: int = 0
    holdout: float = 0.2
    patience: int | None = None  # stop after this many epochs without a better held-out cost
    scale_inputs: bool = True  # divide inputs by the training set's largest |value|
    dtype: str = "float64"
    compile: bool = True  # replay each step with ag.compile (False: eager, the same results, slower)

    def __post_init__(self) -> None:
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden: give one or more positive layer sizes, got {self.hidden}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.lam < 0:
            raise ValueError(f"lambda must be zero or positive, got {self.lam}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1 (or None for full batch), got {self.batch_size}")
        if self.seed < 0:
            raise ValueError(f"seed must be zero or positive, got {self.seed}")
        if not 0 <= self.holdout < 1:
            raise ValueError(f"holdout must be in [0, 1), got {self.holdout}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")
        if self.patience is not None and self.holdout == 0:
            raise ValueError("early stopping (patience) needs a held-out split; set holdout above 0")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")


@dataclass
class History:
    """Per-epoch measurements; held-out values are NaN when there is no held-out split.

    Costs are the loss without the L2 term (for the tutorial's, the cross-entropy part of J), on the
    whole train or held-out set.
    """

    epoch: list[int] = field(default_factory=list)
    train_cost: list[float] = field(default_factory=list)
    heldout_cost: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    heldout_accuracy: list[float] = field(default_factory=list)

    def append(self, **values: float) -> None:
        for name, value in values.items():
            getattr(self, name).append(value)

    def rows(self) -> list[dict[str, float]]:
        columns = asdict(self)
        return [{name: columns[name][i] for name in columns} for i in range(len(self.epoch))]


@dataclass
class TrainResult:
    network: Module  # the trained model
    history: History
    config: TrainConfig
    train_set: Dataset
    heldout_set: Dataset
    seconds: float
    stopped_early: bool
    best_epoch: int  # the epoch whose parameters the network holds (0: the initial ones)
    stop_reason: str = "finished"  # "finished", "early stopping", "interrupted" or "diverged"
    split: SplitRecord | None = None  # how the data was split (also given to the model's keep_split)

    @property
    def final(self) -> dict[str, float] | None:
        """The measurements of the epoch whose parameters were kept (None if no epoch was)."""
        return self.history.rows()[self.best_epoch - 1] if self.best_epoch else None

    @property
    def interrupted(self) -> bool:
        """Whether Ctrl-C (KeyboardInterrupt) ended the run before its last epoch."""
        return self.stop_reason == "interrupted"

    @property
    def diverged(self) -> bool:
        """Whether the run stopped because the cost stopped being a finite number."""
        return self.stop_reason == "diverged"


Loss = Callable[[Tensor, np.ndarray], Tensor]  # (logits of a batch, its classes 0..K-1) -> the batch's cost


def classes_for(model: Module, labels: np.ndarray, num_labels: int) -> np.ndarray:
    """The classes 0..K-1 the model's outputs stand for, of labels 1..K: the model's own
    ``classes_from_labels`` if it has one (the tutorial ``Network``: label - 1), else label mod K
    (the last label, K, is class 0; for the digits class k is the digit k)."""
    own = getattr(model, "classes_from_labels", None)
    return own(labels, num_labels) if own is not None else np.asarray(labels) % num_labels


def logits_of(model: Module, X: np.ndarray) -> Tensor:
    """A model's class scores before any output activation: its own ``training_logits(X)`` if it has
    one (the tutorial ``Network``'s forward ends in a sigmoid), else ``model(X)``."""
    own = getattr(model, "training_logits", None)
    return own(X) if own is not None else model(X)


def evaluate(model: Module, dataset: Dataset, loss: Loss = tutorial_loss) -> tuple[float, float]:
    """(cost, accuracy) of the model on a dataset, without recording anything.

    The cost is ``loss`` without the L2 term, as in the course's learning curves, so train and
    held-out costs measure the same thing and can be compared. A prediction is the argmax of the
    model's logits; it is right when it is the class of the example's label (``classes_for``).
    """
    if dataset.m == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()  # layers such as Dropout are off while measuring
    try:
        with no_grad():
            z = logits_of(model, dataset.X.astype(_dtype_of(model), copy=False))  # once, for both
            classes = classes_for(model, dataset.y, dataset.num_labels)
            cost = loss(z, classes).item()
    finally:
        model.train(was_training)
    # Labels 1..K and classes 0..K-1 correspond one to one, so argmax == class is predicted label == label
    accuracy = float(np.mean(np.argmax(z.data, axis=1) == classes))
    return cost, accuracy


def _built(build: Callable[[Dataset], Module], train_set: Dataset) -> Module:
    """The model a function builds from the training rows, checked to be one."""
    if not callable(build):
        raise TypeError(
            "train_network: model must be an nn.Module or a function building one from the training "
            f"rows, got {type(build).__name__}"
        )
    model = build(train_set)
    if not isinstance(model, Module):
        raise TypeError(f"train_network: model={build!r} built a {type(model).__name__}, not an nn.Module")
    return model


def _dtype_of(model: Module) -> np.dtype:
    first = next(model.parameters(), None)
    return np.dtype(np.float64) if first is None else first.dtype


def train_network(
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    model: Module | Callable[[Dataset], Module],
    loss: Loss | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> TrainResult:
    """Split ``dataset`` (stratified), then train a model on the training part.

    ``model``: any ``nn.Module`` mapping rows of X to one logit per class, or a function building one
    from the training part of the split (called after splitting, so a model can be sized or scaled by
    the rows it trains on; ``autograd_nn.digits.train`` builds the tutorial ``Network`` so). The model
    gets the rows unscaled, in the dtype of its parameters. ``loss(logits, classes)``: the batch's
    cost, classes 0..K-1: class = label mod K, so class k is the digit k as ``load_digits().y_train``
    gives it, unless the model numbers its classes itself (``classes_for``; the tutorial ``Network``:
    label k is class k-1, the course's numbering); default: ``tutorial_loss``. With ``config.lam``,
    ``l2_penalty`` is added. The fields ``hidden`` and ``scale_inputs`` of ``config`` are for a
    function building the model; the loop itself reads neither.

    Each step is the forward code ``(loss(logits, classes) + penalty).backward()`` and an optimizer step;
    after every epoch the train cost, held-out cost and held-out accuracy are recorded (shown live
    on the progress bar, and passed to ``on_epoch`` as a dict). With ``patience``, training stops
    once the held-out cost has not improved for that many epochs, and the network keeps the best
    epoch's parameters.

    Nothing is lost when a run goes wrong: a train cost above the starting cost is reported through
    ``on_warning`` (default: ``warnings.warn``) while it happens; a cost that is no longer finite
    stops the run (``stop_reason == "diverged"``) and Ctrl-C stops it (``"interrupted"``), each
    keeping the parameters of the last finished epoch (the best one with ``patience``).
    """
    config = config or TrainConfig()
    warn = on_warning or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=3))
    started = time.perf_counter()
    train_set, heldout_set = stratified_split(dataset, config.holdout, seed=config.seed)
    batch = train_set.m if config.batch_size is None else min(config.batch_size, train_set.m)
    if not isinstance(model, Module):
        model = _built(model, train_set)
    dtype = _dtype_of(model)
    split = SplitRecord(config.seed, config.holdout, fingerprint(dataset), dataset.source)
    if hasattr(model, "keep_split"):
        model.keep_split(split)
    loss = loss or tutorial_loss
    network = model  # the name the rest of the loop and TrainResult use
    optimizer = make_optimizer(config.optimizer, network.parameters(), config.lr)

    X = train_set.X.astype(dtype)
    classes = classes_for(network, train_set.y, dataset.num_labels)
    m = train_set.m
    rng = np.random.default_rng(config.seed)
    history = History()
    best_cost, best_epoch, stale = np.inf, 0, 0
    kept = [p.data.copy() for p in network.parameters()]  # the parameters of the epoch to keep
    stop_reason = "finished"
    start_cost, _ = evaluate(network, train_set, loss)
    warn_above = start_cost  # warn when the train cost climbs past this, then past 10 times the last warning

    def step_cost(X_batch, classes_batch):
        cost = loss(logits_of(network, X_batch), classes_batch)
        return cost + l2_penalty(network, config.lam, m) if config.lam else cost

    # Traced once per batch size, then replayed (same results, a fraction of the time). A model with
    # dropout runs eagerly: its masks are drawn anew every step, which a replay cannot do.
    if config.compile and not any(isinstance(layer, Dropout) for layer in network.modules()):
        step_cost = compile_function(step_cost)

    from tqdm.auto import tqdm  # here: importing the library's lighter parts (cost.py) need not load tqdm

    # disable=None: the bar shows on a terminal only, so logs and pipes get no carriage-return noise
    bar = tqdm(range(1, config.epochs + 1), desc="training", unit="epoch", disable=None if progress else True)
    # NumPy's overflow warnings would repeat on every step of a diverging run; on_warning says it once
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            for epoch in bar:
                order = rng.permutation(m) if batch < m else np.arange(m)
                for start in range(0, m, batch):
                    rows = order[start : start + batch]
                    optimizer.zero_grad()
                    cost = step_cost(X[rows], classes[rows])
                    cost.backward()
                    optimizer.step()
                train_cost, train_accuracy = evaluate(network, train_set, loss)
                heldout_cost, heldout_accuracy = evaluate(network, heldout_set, loss)
                row = dict(
                    epoch=epoch,
                    train_cost=train_cost,
                    heldout_cost=heldout_cost,
                    train_accuracy=train_accuracy,
                    heldout_accuracy=heldout_accuracy,
                )
                history.append(**row)
                bar.set_postfix(
                    cost=f"{train_cost:.4f}",
                    heldout_cost=f"{heldout_cost:.4f}",
                    heldout_acc=f"{heldout_accuracy:.2%}",  # as the lines printed after training
                )
                if not np.isfinite(train_cost):
                    stop_reason = "diverged"
                    break
                if train_cost > warn_above:
                    warn(
                        f"epoch {epoch}: the train cost {train_cost:.6g} is above the starting cost "
                        f"{start_cost:.6g}; training is diverging"
                    )
                    warn_above = 10 * train_cost
                # kept first, then best_epoch: a Ctrl-C between the two leaves them consistent
                if config.patience is None:
                    kept = [p.data.copy() for p in network.parameters()]
                    best_epoch = epoch
                elif heldout_cost < best_cost:
                    kept = [p.data.copy() for p in network.parameters()]
                    best_cost, best_epoch, stale = heldout_cost, epoch, 0
                else:
                    stale += 1
                    if stale >= config.patience:
                        stop_reason = "early stopping"
                if on_epoch is not None:  # after the bookkeeping: what it reports is what a Ctrl-C keeps
                    on_epoch(row)
                if stop_reason == "early stopping":
                    break
        except KeyboardInterrupt:
            stop_reason = "interrupted"
        finally:
            bar.close()
    for parameter, saved in zip(network.parameters(), kept, strict=True):
        parameter.data = saved
    return TrainResult(
        network=network,
        history=history,
        config=config,
        train_set=train_set,
        heldout_set=heldout_set,
        seconds=time.perf_counter() - started,
        stopped_early=stop_reason == "early stopping",
        best_epoch=best_epoch,
        stop_reason=stop_reason,
        split=split,
    )
