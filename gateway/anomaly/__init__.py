"""Per-camera scene-anomaly models: learned from the camera's own normal frames (numpy), exported as
ONNX graphs (onnx.helper) that the model repository serves like any other model."""
