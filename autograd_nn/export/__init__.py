"""Writing models out in other ecosystems' formats: ONNX (``export_onnx``), from a traced forward."""

from .onnx import export_onnx
from .trace import ExportError

__all__ = ["ExportError", "export_onnx"]
