"""On a box whose GPU CUDA can use, the driver's marks on the file system say so (gpu_presence.py),
so that a missing TensorRT there is reported as something to fix, not as how the box runs."""

from __future__ import annotations

import pytest

from gateway.errors import ModelLoadError
from gateway.inference.engines.cuda_runtime import gpu_identity, import_cuda_runtime
from gateway.inference.gpu_presence import gpu_present

pytestmark = pytest.mark.gpu


def test_a_gpu_cuda_can_use_is_present() -> None:
    try:
        name, _ = gpu_identity(import_cuda_runtime())
    except ModelLoadError as exc:
        pytest.fail(f"this gpu test needs cuda-python and a GPU: {exc}")
    assert gpu_present(), f"CUDA uses {name}, but none of the driver's marks is on the file system"
