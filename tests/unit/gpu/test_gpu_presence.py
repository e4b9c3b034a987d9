"""The GPU probe on file-system trees laid out as each kind of box leaves them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.inference.gpu_presence import gpu_present


def tree(root: Path, *paths: str) -> Path:
    for relative in paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


@pytest.mark.parametrize(
    "paths",
    [
        ("proc/driver/nvidia/version", "dev/nvidiactl", "dev/nvidia0"),  # x86 server with the driver
        ("dev/nvidia0", "dev/nvidia-uvm"),  # a container handed one GPU
        ("dev/nvidia3",),
        ("dev/nvhost-ctrl-gpu", "etc/nv_tegra_release"),  # Jetson
        ("dev/nvgpu/igpu0/ctrl",),
    ],
    ids=["driver", "container", "fourth-gpu", "jetson", "jetson-nvgpu"],
)
def test_a_box_with_an_nvidia_gpu_is_seen(tmp_path: Path, paths: tuple[str, ...]) -> None:
    assert gpu_present(tree(tmp_path, *paths))


@pytest.mark.parametrize(
    "paths",
    [(), ("dev/null", "dev/dri/card0", "proc/driver/rtc"), ("dev/nvidia-uvm", "dev/nvidia-modeset")],
    ids=["empty", "other-devices", "modules-without-a-gpu"],
)
def test_a_box_without_one_is_not(tmp_path: Path, paths: tuple[str, ...]) -> None:
    assert not gpu_present(tree(tmp_path, *paths))
