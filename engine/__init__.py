"""StyleCast runtime engine: sources -> stylizer (ONNX Runtime) -> sinks.

Imports numpy, onnxruntime, opencv and PyAV only: never torch, never Qt.
Frames are numpy uint8 H x W x 3 RGB, C-contiguous, everywhere in this package.
"""
__version__ = "0.1.0"
