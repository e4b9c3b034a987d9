"""ONNX Runtime engine: TensorRT, CUDA or CPU execution provider, whichever configured one is first
available; onnxruntime's exceptions become gateway errors here and nowhere else.

Sessions use ``inter_op_num_threads=1`` and sequential execution: the pool runs one session per
worker, and measured on CPU one single-threaded session per core is the throughput ceiling (one
session with two intra-op threads reaches only 1.5-1.75x of one core).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from gateway.config import ProviderName
from gateway.domain import TensorSpec, TensorType
from gateway.errors import InferenceError, InvalidInputError, ModelLoadError
from gateway.inference.engine_cache import model_digest
from gateway.inference.engines.base import EngineOptions, Tensors
from gateway.inference.thread_priority import at_worker_priority
from gateway.private_files import make_private_directory

logger = logging.getLogger(__name__)

PROVIDERS: Mapping[ProviderName, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

_ORT_TYPES: Mapping[str, TensorType] = {
    "tensor(bool)": TensorType.BOOL,
    "tensor(uint8)": TensorType.UINT8,
    "tensor(uint16)": TensorType.UINT16,
    "tensor(uint32)": TensorType.UINT32,
    "tensor(uint64)": TensorType.UINT64,
    "tensor(int8)": TensorType.INT8,
    "tensor(int16)": TensorType.INT16,
    "tensor(int32)": TensorType.INT32,
    "tensor(int64)": TensorType.INT64,
    "tensor(float16)": TensorType.FP16,
    "tensor(float)": TensorType.FP32,
    "tensor(double)": TensorType.FP64,
    "tensor(string)": TensorType.BYTES,
}


def available_providers(options: EngineOptions) -> list[str]:
    """The configured providers this onnxruntime build offers, in configured order."""
    offered = set(ort.get_available_providers())
    return [PROVIDERS[name] for name in options.providers if PROVIDERS[name] in offered]


def preferred_provider(options: EngineOptions) -> str | None:
    """The provider sessions will run on, or None when no configured provider is available."""
    providers = available_providers(options)
    return providers[0] if providers else None


class OnnxEngine:
    """One ``onnxruntime.InferenceSession``, shared by every worker: ``InferenceSession.run`` is
    thread-safe, and with one intra-op thread each call runs on its caller's thread, so two workers
    on one session reach the throughput of two sessions (measured on face-detector, 2 cores: 62.1 vs
    60.7 items/s) with one copy of the weights and one arena (108 vs 128 MiB)."""

    def __init__(self, path: Path, options: EngineOptions) -> None:
        providers = available_providers(options)
        if not providers:
            offered = ", ".join(ort.get_available_providers())
            raise ModelLoadError(
                f"none of the configured providers {list(options.providers)} is available "
                f"(this onnxruntime offers {offered})"
            )
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = options.intra_op_threads
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Fatal only: every error comes back to us raised, and is logged, counted or answered from
        # there; ONNX Runtime's own copy of a failed run went to stderr too, in terminal colours.
        session_options.log_severity_level = 4

        configured = session_providers(providers, options, path)

        def open_session() -> ort.InferenceSession:
            # No fallback: where a session or a run fails, ONNX Runtime's own would print to stdout,
            # which carries the alerts when there is no broker, and would move the model to other
            # providers with only that said; the failure is raised to the gateway, which names it.
            # Releases before 1.23 ignore the keyword, so a failed load there still prints;
            # disable_fallback covers their runs.
            session = ort.InferenceSession(
                str(path),
                sess_options=session_options,
                providers=configured,
                enable_fallback=0,
            )
            session.disable_fallback()
            return session

        try:
            # One intra-op thread runs on the caller's (a worker's); more are started with the session.
            if options.intra_op_threads == 1:
                self._session = open_session()
            else:
                self._session = at_worker_priority(open_session, options.worker_nice)
        except Exception as exc:  # onnxruntime raises its own pybind types and plain RuntimeErrors
            raise ModelLoadError(f"{path}: ONNX Runtime cannot load it: {_load_failure(exc)}") from exc
        self._provider: str = self._session.get_providers()[0]
        if self._provider != providers[0]:
            logger.warning("%s: wanted %s, running on %s", path, providers[0], self._provider)
        self._inputs = tuple(_spec(argument) for argument in self._session.get_inputs())
        self._outputs = tuple(_spec(argument) for argument in self._session.get_outputs())
        self._output_names = [spec.name for spec in self._outputs]

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def thread_safe(self) -> bool:
        return True

    def run(self, feeds: Tensors) -> dict[str, npt.NDArray[np.generic]]:
        try:
            results = self._session.run(self._output_names, dict(feeds))
        except ort.capi.onnxruntime_pybind11_state.InvalidArgument as exc:
            raise InvalidInputError(_said(exc)) from exc
        except Exception as exc:  # any other runtime failure fails this batch only
            raise InferenceError(_said(exc)) from exc
        return dict(zip(self._output_names, results, strict=True))

    def close(self) -> None:
        # Dropping the last reference frees the session (and its GPU memory) deterministically.
        self._session = None


def session_providers(providers: list[str], options: EngineOptions, model_file: Path) -> list[Any]:
    """``providers`` with their options: TensorRT EP with fp16 from config and its engine and timing
    caches in state_dir; CUDA and CPU with onnxruntime's defaults.

    The TensorRT EP names its engines by a hash of the model file's name and the graph's input and
    node names (``TRTGenerateId``), never of the weights: every version is a ``model.onnx``, so a
    version whose weights were replaced, in the graph or beside it, loaded the engine built from the
    old ones. Its engines therefore go in a directory of their own per model
    (``engine_cache.model_digest``, as the native engines are keyed); the timing cache, which holds
    kernel timings and no weights, is shared."""
    configured: list[Any] = []
    for provider in providers:
        if provider == PROVIDERS["tensorrt"]:
            tensorrt: dict[str, Any] = {"trt_fp16_enable": options.tensorrt_fp16}
            if options.tensorrt_cache_dir is not None:
                cache = tensorrt_ep_cache_dir(options.tensorrt_cache_dir)
                try:
                    engines = cache / model_digest(model_file)[:32]
                except OSError as exc:
                    raise ModelLoadError(f"{model_file}: {exc.strerror or exc}") from exc
                make_private_directory(engines)  # engines loaded from it: the gateway's user's alone
                tensorrt.update(
                    trt_engine_cache_enable=True,
                    trt_engine_cache_path=str(engines),
                    trt_timing_cache_enable=True,
                    trt_timing_cache_path=str(cache),
                )
            configured.append((provider, tensorrt))
        else:
            configured.append(provider)
    return configured


def tensorrt_ep_cache_dir(root: Path) -> Path:
    """ONNX Runtime's TensorRT engine cache, one directory per onnxruntime version: its cache files
    are named by graph hash, precision and GPU architecture but not by TensorRT version, and each
    onnxruntime-gpu release is built against one TensorRT, so an upgrade starts a fresh cache
    instead of loading engines a different TensorRT built."""
    return root / f"onnxruntime-{ort.__version__}"


def _spec(argument: Any) -> TensorSpec:
    datatype = _ORT_TYPES.get(argument.type)
    if datatype is None:
        raise ModelLoadError(f"tensor {argument.name!r} has unsupported type {argument.type}")
    shape = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in argument.shape)
    return TensorSpec(argument.name, datatype, shape)


_SOURCE_PLACE = re.compile(r"/onnxruntime_src/\S+:\d+ (?:\S.*?\)(?: const)? )?")
"""Where in its C++ source ONNX Runtime raised, and the function's whole signature: "/onnxruntime_src/
onnxruntime/core/graph/model.cc:256 onnxruntime::Model::Model(onnx::ModelProto&&, const ...&)",
before the words that say what is wrong."""
_BARE_SOURCE_PLACE = re.compile(r"\b\w+\.cc:\d+ \w+ ")
"""The same written short, by the check it failed: "tensorprotoutils.cc:1730
ValidateEmbeddedTensorProtoDataSizeAndShape"."""
_STATUS = re.compile(r"\[ONNXRuntimeError\] : \d+ : \w+ : ")
"""ONNX Runtime's status code before its words ("[ONNXRuntimeError] : 1 : FAIL : "), written again
for each error it wraps; the error raised from it says as much (InvalidInputError, ModelLoadError)."""
_LOAD_FAILED = re.compile(r"^Load model from .*? failed:\s*")
"""ONNX Runtime's preamble to a load's failure, which names the file the message names already."""


def _said(exc: BaseException) -> str:
    """What ONNX Runtime says is wrong, on one line, without where in its source it raised."""
    if isinstance(exc, UnicodeDecodeError) and isinstance(exc.object, bytes):
        # ONNX Runtime's message named something of the model's that is not UTF-8 (a node's name),
        # and pybind11 raised this in its place: "'utf-8' codec can't decode byte 0xe4 in position 130".
        text = exc.object.decode("utf-8", "replace").strip()
    else:
        text = str(exc).strip() or type(exc).__name__
    line = _SOURCE_PLACE.sub("", text.splitlines()[0])
    return _STATUS.sub("", _BARE_SOURCE_PLACE.sub("", line))


def _load_failure(exc: BaseException) -> str:
    """Why ONNX Runtime could not load a model file: "Unsupported model IR version: 99, max supported
    IR version: 14" where it said that after its preamble, the file's path, its source file and line
    and a C++ signature of 280 characters."""
    said = _said(exc)
    return _LOAD_FAILED.sub("", said) or said
