"""A shipped model as the serving benchmarks send it: its folder and newest version, one seeded
binary request for its first input, and a scratch repository and config that serve it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.http_load import Request
from gateway.api.tensors import encode_binary_request
from gateway.inference.model_config import ModelConfig, load_model_config

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ShippedModel:
    name: str
    folder: Path
    config: ModelConfig

    @classmethod
    def named(cls, name: str) -> ShippedModel:
        """``models/<name>`` of this checkout."""
        folder = (ROOT / "models" / name).resolve()
        return cls(name, folder, load_model_config(folder / "model.yaml"))

    @property
    def version(self) -> int:
        return max(int(path.name) for path in self.folder.iterdir() if path.name.isdigit())

    @property
    def model_file(self) -> Path:
        return self.folder / str(self.version) / "model.onnx"

    def input_shape(self, size: int) -> list[int]:
        """One item of the first input, ``size`` for each dynamic dimension."""
        return [1, *(size if dim == -1 else dim for dim in self.config.inputs[0].dims)]

    def item(self, size: int) -> npt.NDArray[np.float32]:
        """One seeded item of the first input, the same on every call."""
        return np.random.default_rng(0).random(self.input_shape(size), dtype=np.float32)

    def request(self, size: int) -> Request:
        """An infer request of ``item(size)``, binary tensors."""
        body, headers = encode_binary_request({self.config.inputs[0].name: self.item(size)})
        return Request(f"/v2/models/{self.name}/infer", body, headers)

    def link_into(self, repository: Path) -> None:
        (repository / self.name).symlink_to(self.folder, target_is_directory=True)


def scratch_repository(scratch: Path) -> Path:
    """An empty model repository under ``scratch``."""
    repository = scratch / "models"
    repository.mkdir()
    return repository


def gateway_config(scratch: Path, device_id: str = "bench", **inference: Any) -> dict[str, Any]:
    """The default config but for where the models and the state live (under ``scratch``), every
    model loaded at start, CPU as the provider and ``inference`` overrides."""
    return {
        "device_id": device_id,
        "state_dir": str(scratch / "state"),
        "models": {"repository": str(scratch / "models"), "preload": "all"},
        "inference": {"providers": ["cpu"], **inference},
    }
