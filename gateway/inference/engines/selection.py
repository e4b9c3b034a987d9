"""Which engine runs a model: a native TensorRT engine or an ONNX Runtime session.

- ``platform: tensorrt_plan`` in model.yaml: native TensorRT, nothing else. Without TensorRT the
  version fails to load with the one-line install hint; with no cached engine for this GPU,
  TensorRT version and model (model.onnx and the files beside it, ``engine_cache.model_digest``),
  one is built at load (minutes, logged) and cached.
- ``platform: onnxruntime_onnx`` with ``tensorrt`` ahead of every provider this onnxruntime offers
  in ``inference.providers``: the native engine when ``edge-gateway build-engine`` has cached one
  that fits (profile covers the model's max batch, precision accepted by the config). Otherwise the
  reason is logged once (how to install TensorRT, or the build-engine command to run) and the
  version falls back to ONNX Runtime with the configured providers, in order. The reason is a
  warning only on a box with an NVIDIA GPU, where the user can act on it; without one it is info.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from gateway.config import ProviderName
from gateway.errors import ModelLoadError
from gateway.inference.engine_cache import (
    Device,
    EngineCache,
    EngineKey,
    Precision,
    model_digest,
    precisions_for,
    profile_for,
)
from gateway.inference.engines import tensorrt as native
from gateway.inference.engines.base import Engine, EngineFactory, EngineOptions
from gateway.inference.engines.cuda_runtime import import_cuda_runtime
from gateway.inference.engines.onnx import PROVIDERS, OnnxEngine, preferred_provider
from gateway.inference.engines.tensorrt_build import BuildProgress, BuildRequest, build_engine
from gateway.inference.gpu_presence import gpu_present

logger = logging.getLogger(__name__)


def current_device() -> Device:
    """This box's GPU and TensorRT; ModelLoadError (install hint, or no GPU) when unusable."""
    return native.current_device(native.import_tensorrt(), import_cuda_runtime())


@dataclass(frozen=True, slots=True)
class NativeRuntime:
    """The TensorRT side, as four calls: swapped for fakes only in unit tests of the choice logic."""

    device: Callable[[], Device] = current_device
    load: Callable[[Path], Engine] = native.TensorrtEngine
    build: Callable[[BuildRequest, BuildProgress], bytes] = build_engine
    gpu_present: Callable[[], bool] = gpu_present


def native_first(providers: tuple[ProviderName, ...], offered: set[str] | None = None) -> bool:
    """Whether ``tensorrt`` comes before every provider this onnxruntime can actually use."""
    offered = set(ort.get_available_providers()) if offered is None else offered
    for name in providers:
        if name == "tensorrt":
            return True
        if PROVIDERS[name] in offered:
            return False
    return False


def planned_provider(options: EngineOptions) -> str | None:
    """The provider sessions are expected to run on, for sizing the pool before any model loads."""
    if native_first(options.providers) and importlib.util.find_spec("tensorrt") is not None:
        return native.PROVIDER
    return preferred_provider(options)


class EngineSelector:
    """An ``EngineFactory``: native TensorRT or ONNX Runtime, per platform, providers and cache."""

    def __init__(self, runtime: NativeRuntime | None = None, onnx: EngineFactory = OnnxEngine) -> None:
        self._runtime = runtime or NativeRuntime()
        self._onnx = onnx
        self._lock = threading.Lock()
        self._said: set[str] = set()

    def __call__(self, path: Path, options: EngineOptions) -> Engine:
        config = options.model
        if config is not None and config.platform == "tensorrt_plan":
            return self._native(path, options, build=True)
        if native_first(options.providers):
            try:
                return self._native(path, options, build=False)
            except ModelLoadError as exc:
                fallback = preferred_provider(options) or "no available provider"
                self._say_once(f"native TensorRT not used: {exc}; falling back to {fallback}", path)
        return self._onnx(path, options)

    def _native(self, path: Path, options: EngineOptions, *, build: bool) -> Engine:
        config = options.model
        if config is None or options.engine_cache_dir is None:
            raise ModelLoadError("native TensorRT needs the model's config and an engine cache directory")
        device = self._runtime.device()
        try:
            onnx_sha256 = model_digest(path)
        except OSError as exc:
            raise ModelLoadError(f"{path}: {exc.strerror or exc}") from exc
        needed = profile_for(config, config.max_batch_size)
        precisions = precisions_for(options.tensorrt_fp16, options.tensorrt_int8)
        cache = EngineCache(options.engine_cache_dir)
        found = cache.find(device, onnx_sha256, precisions, needed)
        reference = model_reference(path)
        if found is not None:
            plan = found.path
        elif build:
            precision: Precision = "fp16" if options.tensorrt_fp16 else "fp32"
            logger.warning(
                "building a %s TensorRT engine for %s on %s (minutes; cached afterwards)",
                precision,
                reference,
                device.name,
                extra={"model": reference},
            )
            key = EngineKey(device, precision, needed, onnx_sha256)
            plan = cache.store(key, self._runtime.build(BuildRequest(path, precision, needed), LogProgress()))
        else:
            flag = " --fp16" if options.tensorrt_fp16 else ""
            raise ModelLoadError(
                f"no engine cached for {device.name} (sm {device.compute_capability}, TensorRT "
                f"{device.tensorrt_version}) accepting {'/'.join(precisions)}; run "
                f"`edge-gateway build-engine --model {reference}{flag}`"
            )
        engine = self._runtime.load(plan)
        logger.info("model %s runs on native TensorRT engine %s", reference, plan, extra={"model": reference})
        return engine

    def _say_once(self, message: str, path: Path) -> None:
        """Each distinct message once per process: a missing TensorRT is one line, not one per model
        and worker; a missing engine is one line per model (the message names it)."""
        with self._lock:
            if message in self._said:
                return
            self._said.add(message)
        level = logging.WARNING if self._runtime.gpu_present() else logging.INFO
        logger.log(level, "%s", message, extra={"model": model_reference(path)})


def model_reference(path: Path) -> str:
    """``name:version`` of ``<root>/<name>/<version>/model.onnx``."""
    return f"{path.parent.parent.name}:{path.parent.name}"


class LogProgress:
    """Build progress as log lines (top-level phases only): for builds triggered by a model load."""

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
        if parent is None:
            logger.info("TensorRT build: %s (%d steps)", phase, steps)

    def step_complete(self, phase: str, step: int) -> None:
        return None

    def phase_finish(self, phase: str) -> None:
        return None
