"""The learner's path from the digits to a small GPT (examples/bigram.py ... char_gpt.py) runs end to end.

Each script runs as a user runs it, with a few training steps: its last line is ``validation loss: X.XXXX``,
finite and below the uniform guess log(27) (a few steps suffice for that; a broken gradient does not get there).
The checks each script makes of its own hand-derived gradients must pass. Nothing about speed is asserted.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
UNIFORM = math.log(27)  # the loss of guessing each of the 27 characters with equal probability


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=ENV,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def validation_loss(output: str) -> float:
    last = output.rstrip("\n").splitlines()[-1]
    match = re.fullmatch(r"validation loss: (\d+\.\d{4})", last)
    assert match, f"the last line is {last!r}"
    loss = float(match.group(1))
    assert math.isfinite(loss)
    return loss


def test_bigram_counts_and_the_one_layer_network_both_beat_the_uniform_guess():
    output = run("bigram.py", "--steps", "3")
    counts = float(
        re.search(r"^counts \(\+1 smoothing\): train loss [\d.]+, validation loss ([\d.]+)$", output, re.M)[1]
    )
    assert 2.4 < counts < 2.7  # the counts do not depend on --steps
    assert validation_loss(output) < UNIFORM
    assert re.search(r"^network - counts on validation: [+-][\d.]+$", output, re.M)


def test_makemore_mlp_trains_samples_and_reports_both_losses():
    output = run("makemore_mlp.py", "--steps", "100")
    assert "BatchNorm1d(200" in output and "Embedding(27, 10)" in output  # the model's repr is printed
    train = float(re.search(r"^train loss: ([\d.]+)$", output, re.M)[1])
    assert train < UNIFORM and validation_loss(output) < UNIFORM
    samples = re.search(r"^samples: (.*)$", output, re.M)[1].split()
    assert samples and all(re.fullmatch("[a-z]+", s) for s in samples)
    assert re.search(r"^step +70  lr 0\.100 ", output, re.M) and re.search(
        r"^step +80  lr 0\.010 ", output, re.M
    )


def test_char_rnn_checks_its_backprop_through_time_then_trains_with_clipping():
    output = run("char_rnn.py", "--steps", "20")
    assert "All 5 gradients agree with autodiff." in output  # hand-written BPTT, check_value_and_grad
    assert "All 6 gradients agree with autodiff." in output  # nn.RNN against the hand-written gradients
    assert re.search(r"after clip_grad_norm_\(max_norm=1\.0\) 1\.000$", output, re.M)
    assert re.search(r"^gradient clipping at 1: \d+ of 20 steps clipped", output, re.M)
    assert validation_loss(output) < UNIFORM


def test_char_gpt_trains_and_onnxruntime_samples_the_same_names():
    output = run("char_gpt.py", "--steps", "20")
    assert validation_loss(output) < UNIFORM
    engine = re.search(r"^samples: (.*)$", output, re.M)[1]
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        assert "ONNX: skipped" in output
        pytest.skip("onnxruntime is not installed: the ONNX half was skipped")
    onnx = re.search(r"^ONNX \([\d,]+ bytes\) sampled with onnxruntime, same seed: (.*)$", output, re.M)[1]
    assert onnx == engine and "ONNX: 10 of 10 names the same as the engine's" in output


@pytest.mark.parametrize("script", ["bigram.py", "makemore_mlp.py", "char_rnn.py", "char_gpt.py"])
def test_the_scripts_reject_a_step_count_below_one_in_the_options_words(script):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), "--steps", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=ENV,
    )
    assert done.returncode == 2 and "--steps" in done.stderr
