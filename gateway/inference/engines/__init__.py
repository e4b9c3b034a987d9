"""Inference engines: the only place third-party runtimes (onnxruntime, TensorRT) are imported."""
