"""The ``Engine`` protocol: one loaded model session that runs whole batches.

An engine whose ``thread_safe`` is False is owned by one worker thread (the repository loads one per
worker), so its ``run`` is never concurrent; one that is thread-safe (an ONNX Runtime session) is
loaded once per model version and shared by every worker, which keeps one copy of the weights and
one memory arena. ``close`` is called once, after the last ``run`` has returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gateway.config import ProviderName
from gateway.domain import TensorSpec
from gateway.inference.model_config import ModelConfig

Tensors = Mapping[str, npt.NDArray[np.generic]]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How sessions are created; built once from ``inference`` config."""

    providers: tuple[ProviderName, ...] = ("cpu",)
    """Wanted providers, first available wins."""
    intra_op_threads: int = 1
    tensorrt_fp16: bool = True
    tensorrt_cache_dir: Path | None = None
    """ONNX Runtime's TensorRT engine cache; building an engine takes minutes, so it must survive
    restarts."""
    tensorrt_int8: bool = False
    """Accept native int8 engines (built with ``build-engine --int8 --calib DIR``)."""
    engine_cache_dir: Path | None = None
    """Native TensorRT engines built by ``edge-gateway build-engine`` (see engine_cache)."""
    worker_nice: int = 0
    """``inference.worker_nice``: threads a session starts to run inference beside the workers
    (ONNX Runtime's intra-op threads) get the workers' priority."""
    model: ModelConfig | None = None
    """The model.yaml of the version being loaded; the repository sets it for each load."""


class Engine(Protocol):
    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """As the model file declares them, batch dimension included (-1 where dynamic)."""
        ...

    @property
    def outputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    def provider(self) -> str:
        """The execution provider that actually runs the model, e.g. ``CPUExecutionProvider``."""
        ...

    @property
    def thread_safe(self) -> bool:
        """Whether several workers may call ``run`` at once."""
        ...

    def run(self, feeds: Tensors) -> dict[str, npt.NDArray[np.generic]]:
        """Run one batch; raises InvalidInputError or InferenceError."""
        ...

    def close(self) -> None: ...


class EngineFactory(Protocol):
    def __call__(self, path: Path, options: EngineOptions) -> Engine:
        """Load ``path``; raises ModelLoadError naming the problem."""
        ...
