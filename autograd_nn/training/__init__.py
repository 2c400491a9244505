"""The training loop for any model, and the folder a run writes.

``loop.py``: ``train_network`` splits a ``Dataset`` (stratified), trains any ``nn.Module`` with a progress bar,
early stopping, divergence and Ctrl-C handling, and returns a ``TrainResult``; ``evaluate`` measures a model.
``cost.py``: its default cost (``tutorial_loss``) and L2 term (``l2_penalty``). ``runs.py``: ``write_run``
writes a run folder (history.csv, cost_curve.png, weights.npz, summary.json). The tutorial's network is
trained through the same loop by ``autograd_nn.digits.train``, which adds it as the default model.
"""

from .cost import l2_penalty, tutorial_loss
from .loop import History, Loss, TrainConfig, TrainResult, classes_for, evaluate, logits_of, train_network
from .runs import check_run_folder, write_run, write_run_elsewhere

__all__ = [
    "History",
    "Loss",
    "TrainConfig",
    "TrainResult",
    "check_run_folder",
    "classes_for",
    "evaluate",
    "l2_penalty",
    "logits_of",
    "train_network",
    "tutorial_loss",
    "write_run",
    "write_run_elsewhere",
]
