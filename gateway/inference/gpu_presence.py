"""Whether this box has an NVIDIA GPU, read from what the driver leaves on the file system.

No CUDA call and no import: it must be cheap and must not fail where nothing NVIDIA is installed.
It decides how loudly a TensorRT fallback is reported: with a GPU present, a missing TensorRT is
something the user must fix; with none, ONNX Runtime on the CPU is simply how the box runs.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["gpu_present"]

# The kernel driver of discrete GPUs (also what a container given a GPU sees), then Jetson's
# integrated GPU (nvgpu device nodes) and Jetson's release file.
_MARKERS = (
    "proc/driver/nvidia",
    "dev/nvidiactl",
    "dev/nvhost-ctrl-gpu",
    "dev/nvgpu",
    "etc/nv_tegra_release",
)


def gpu_present(root: Path = Path("/")) -> bool:
    """True when ``root`` (the file system root; a directory tree in tests) shows an NVIDIA GPU."""
    if any((root / marker).exists() for marker in _MARKERS):
        return True
    return any((root / "dev").glob("nvidia[0-9]*"))
