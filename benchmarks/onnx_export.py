"""What does ONNX export cost, and what does onnxruntime gain over the engine's own forward pass?

Run ``python benchmarks/onnx_export.py`` (needs the onnx extra: pip install -e ".[onnx]"). For two models,
the tutorial's 64-25-10 sigmoid network and a small CNN (Conv2d 1->8 3x3, ReLU, MaxPool2d 2, Flatten,
Linear 128->10) on 8x8 images, in float32 and float64, it reports:

1. **Export**: the time of ``ag.export_onnx`` (two traces, writing, ``check_model(full_check=True)``).
2. **Inference**: the forward pass at batch sizes 1, 64 and 1797 (the whole digits set), the engine under
   ``no_grad`` against ``onnxruntime`` (one session, CPU). Before anything is timed the two outputs must
   agree (1e-12 relative in float64, 1e-5 in float32) or the script stops with exit status 1. Each
   measurement is the median of ``--repeat`` runs after one warm-up.

``--quick`` runs fewer repeats (for the smoke test). Timings on a busy machine are noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.digits.network import Network

TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
BATCHES = (1, 64, 1797)


def models(dtype) -> dict:
    """name -> (model in eval mode, the shape of one example)."""
    cnn = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, rng=1, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10, rng=2, dtype=dtype),
    ).eval()
    return {
        "digits 64-25-10": (Network([64, 25, 10], dtype=dtype, input_scale=16.0).forward, (64,)),
        "cnn": (cnn, (1, 8, 8)),
    }


def median_seconds(run, repeat: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per measurement (default: 20)")
    parser.add_argument("--quick", action="store_true", help="3 repeats: a smoke run, not a measurement")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else args.repeat
    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp())
    print("| model | dtype | export (ms) | batch | engine (ms) | onnxruntime (ms) | engine / onnxruntime |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for dtype in (np.float32, np.float64):
        for name, (model, example_shape) in models(dtype).items():
            path = folder / f"{name.split()[0]}-{np.dtype(dtype).name}.onnx"
            example = rng.uniform(0, 16, size=(2, *example_shape)).astype(dtype)
            start = time.perf_counter()
            ag.export_onnx(model, example, path, input_names=["x"])
            export = f"{(time.perf_counter() - start) * 1e3:.0f}"
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for batch in BATCHES:
                x = rng.uniform(0, 16, size=(batch, *example_shape)).astype(dtype)
                with ag.no_grad():
                    want = model(ag.Tensor(x)).data
                got = session.run(None, {"x": x})[0]
                rtol = TOLERANCE[np.dtype(dtype)]
                if not np.allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max()):
                    print(f"{name} {np.dtype(dtype)} batch {batch}: onnxruntime disagrees with the engine")
                    return 1

                def engine(x=x, model=model):
                    with ag.no_grad():
                        model(ag.Tensor(x))

                def runtime(x=x, session=session):
                    session.run(None, {"x": x})

                ms_engine = median_seconds(engine, repeat) * 1e3
                ms_runtime = median_seconds(runtime, repeat) * 1e3
                print(
                    f"| {name} | {np.dtype(dtype).name} | {export} | {batch} | {ms_engine:.3f} | "
                    f"{ms_runtime:.3f} | {ms_engine / ms_runtime:.1f}x |"
                )
                export = ""  # shown once per model
    return 0


if __name__ == "__main__":
    sys.exit(main())
