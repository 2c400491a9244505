"""ONNX stays optional: the package imports without onnx, and export without it says how to install it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_importing_the_package_does_not_import_onnx():
    done = run_python(
        "import sys, autograd_nn as ag\n"
        "assert callable(ag.export_onnx)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime')))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_export_without_onnx_names_the_extra_to_install():
    done = run_python(
        "import sys\n"
        "sys.modules['onnx'] = None  # as if onnx were not installed\n"
        "import numpy as np, autograd_nn as ag\n"
        "try:\n"
        "    ag.export_onnx(lambda x: x.exp(), np.ones((2, 3)), 'never.onnx')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "autograd-nn[onnx]"' in done.stdout
    assert not (ROOT / "never.onnx").exists()


def test_the_export_command_without_onnx_is_one_line(tmp_path):
    from autograd_nn.digits.network import Network

    weights = Network([4, 3, 2]).save(tmp_path / "w.npz")
    done = run_python(
        "import sys\n"
        "sys.modules['onnx'] = None\n"
        "from autograd_nn.digits.cli import main\n"
        f"sys.exit(main(['export', '--weights', {str(weights)!r}, '--out', {str(tmp_path / 'm.onnx')!r}]))\n"
    )
    assert done.returncode == 1
    assert done.stderr.startswith("autograd-nn export: error: export_onnx needs the onnx package")
    assert done.stderr.count("\n") == 1 and not (tmp_path / "m.onnx").exists()
