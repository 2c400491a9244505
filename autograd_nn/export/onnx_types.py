"""The ONNX numbers both writers (``onnx.py`` and ``recurrent.py``) use: the element type of each dtype the
engine exports, and int64's bounds, which a Slice takes as an open end."""

from __future__ import annotations

import numpy as np

ELEMENT_TYPES = {np.dtype(np.float32): 1, np.dtype(np.float64): 11}  # TensorProto.FLOAT, DOUBLE
INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)
