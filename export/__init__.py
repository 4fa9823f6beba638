"""Export trained models to self-contained ONNX files for render farms (`mcdenoise export`)."""

from mcdenoise.export.onnx_graph import OPSET, export_bytes, export_onnx

__all__ = ["OPSET", "export_bytes", "export_onnx"]
