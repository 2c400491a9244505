"""Writing models out in other ecosystems' formats: ONNX (``export_onnx``)."""

from .onnx import ExportError, export_onnx

__all__ = ["ExportError", "export_onnx"]
