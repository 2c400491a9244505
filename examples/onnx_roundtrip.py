"""Train the digits network briefly, export it to ONNX, and predict the held-out digits in onnxruntime.

Run from the project root (needs the onnx extra: pip install -e ".[onnx]"):
    python examples/onnx_roundtrip.py [model.onnx]
Without an argument the model is written to a temporary folder. Exits with status 1 if onnxruntime
and the engine disagree on any prediction.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime

import autograd_nn as ag
from autograd_nn.digits.data import load_dataset
from autograd_nn.digits.train import train_network
from autograd_nn.training import TrainConfig

ROOT = Path(__file__).resolve().parent.parent

# 1. A short training run of the tutorial's network (64-25-10 sigmoid, Adam, seed 0).
data = load_dataset(ROOT / "data" / "digits.xlsx")
result = train_network(data, TrainConfig(epochs=30), progress=False)
network, heldout = result.network, result.heldout_set
engine_accuracy = network.accuracy(heldout.X, heldout.y)
sizes = "-".join(str(s) for s in network.sizes)
print(
    f"1. trained the {sizes} network for 30 epochs: held-out accuracy {engine_accuracy:.2%} ({heldout.m} digits)"
)

# 2. Export its forward pass: raw pixels in (the input scaling is part of the graph), scores out.
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "digits.onnx"
example = heldout.X[:1].astype(network.dtype)  # one row is enough: the batch dimension stays symbolic
model = ag.export_onnx(
    network.forward, example, out, input_names=["X"], output_names=["scores"], overwrite=True
)
operators = " ".join(node.op_type for node in model.graph.node)
print(f"2. exported {out.name}: {operators}")

# 3. onnxruntime, knowing nothing of autograd_nn, predicts all held-out digits in one batch.
session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
scores = session.run(None, {"X": heldout.X.astype(network.dtype)})[0]
onnx_labels = np.argmax(scores, axis=1) + 1  # label 10 is digit 0, as in the tutorial's data
onnx_accuracy = float(np.mean(onnx_labels == heldout.y))
print(f"3. onnxruntime on the {heldout.m} held-out digits: accuracy {onnx_accuracy:.2%}")

# 4. The same predictions, and scores equal to float64 rounding.
same = int(np.sum(onnx_labels == network.predict(heldout.X)))
engine_scores = network.forward(heldout.X).data
gap = float(np.max(np.abs(scores - engine_scores) / np.abs(engine_scores)))
closeness = "within 1e-12 relative" if gap < 1e-12 else f"apart by up to {gap:.1e} relative"
print(f"4. the same label as the engine for {same} of {heldout.m} digits; scores {closeness}")
sys.exit(0 if same == heldout.m and onnx_accuracy == engine_accuracy and gap < 1e-12 else 1)
