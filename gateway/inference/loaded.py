"""One loaded model version: its engines (one per worker), specs and config, reference-counted so
that a version replaced by hot reload is closed only after its in-flight batches finish."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

from gateway.domain import ModelRef, ModelState, ModelVersionStatus, TensorSpec
from gateway.errors import GatewayError, ModelLoadError
from gateway.heap import release_freed_memory
from gateway.inference import postprocess, preprocess
from gateway.inference.engines.base import Engine
from gateway.inference.model_config import ModelConfig, TensorConfig

logger = logging.getLogger(__name__)


class LoadedVersion:
    def __init__(self, ref: ModelRef, config: ModelConfig, engines: tuple[Engine, ...]) -> None:
        if not engines:
            raise ValueError("a loaded version needs at least one engine")
        self.ref = ref
        self.config = config
        self.engines = engines
        self.provider = engines[0].provider
        self.inputs = tuple(tensor.spec() for tensor in config.inputs)
        self.outputs = tuple(tensor.spec() for tensor in config.outputs)
        self.labels = output_labels(config)
        # What /v2 reports for this version while it serves: nothing in it changes until the version
        # is replaced, and every infer request reads it (building it costs a spec per tensor).
        self.status = ModelVersionStatus(
            name=ref.name,
            version=ref.version,
            state=ModelState.READY,
            reason=None,
            platform=config.platform,
            provider=self.provider,
            inputs=self.inputs,
            outputs=self.outputs,
            max_batch_size=config.max_batch_size,
        )
        self._lock = threading.Lock()
        self._in_flight = 0
        self._retired = False
        self._closed = False

    @property
    def max_batch_size(self) -> int:
        return self.config.max_batch_size

    def enter(self) -> bool:
        """Count one batch in flight; False once retired (the caller looks up the replacement)."""
        with self._lock:
            if self._retired:
                return False
            self._in_flight += 1
            return True

    def exit(self) -> None:
        with self._lock:
            self._in_flight -= 1
            close = self._retired and self._in_flight == 0 and not self._closed
            if close:
                self._closed = True
        if close:
            self._close_engines()

    @contextmanager
    def serving(self) -> Iterator[LoadedVersion]:
        """``enter``/``exit`` around one batch; the caller must have had ``enter`` return True."""
        try:
            yield self
        finally:
            self.exit()

    def retire(self) -> None:
        """No new batches; close the engines as soon as the in-flight ones finish."""
        with self._lock:
            self._retired = True
            close = self._in_flight == 0 and not self._closed
            if close:
                self._closed = True
        if close:
            self._close_engines()

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def _close_engines(self) -> None:
        for engine in _distinct(self.engines):
            engine.close()
        release_freed_memory()
        logger.info("closed %s", self.ref, extra={"model": str(self.ref)})


def output_labels(config: ModelConfig) -> Mapping[str, Sequence[str]]:
    """Class labels by output name, for Triton's classification extension: a raw-tensor model's
    (postprocess kind ``none``) ``labels`` name the classes of its postprocess output (the first by
    default). A detector's labels name class channels, not output indices: none then."""
    postprocess = config.postprocess
    if postprocess.kind != "none" or not postprocess.labels:
        return {}
    return {postprocess.output or config.outputs[0].name: postprocess.labels}


def takes_same_inputs(checked: LoadedVersion) -> Callable[[LoadedVersion], bool]:
    """Whether a version that replaced ``checked`` still takes the inputs checked against it."""
    return lambda loaded: loaded is checked or loaded.inputs == checked.inputs


def takes_same_frames(checked: LoadedVersion) -> Callable[[LoadedVersion], bool]:
    """Also whether it prepares frames as ``checked`` did and gives outputs of the same shapes: the
    item holds a frame made by ``checked``'s preprocess, and its finisher decodes with ``checked``'s
    postprocess (so a threshold edited in model.yaml fails no frame in flight; they are decoded as
    they would have been a moment earlier)."""

    def fits(loaded: LoadedVersion) -> bool:
        return loaded is checked or (
            loaded.inputs == checked.inputs
            and loaded.outputs == checked.outputs
            and loaded.config.preprocess == checked.config.preprocess
        )

    return fits


def check_signature(config: ModelConfig, engine: Engine) -> None:
    """The model file must take and give exactly what model.yaml declares, and the preprocess and
    postprocess sections must fit them; ModelLoadError if not. A model that would fail every frame
    fails here, at load, where ``models validate`` and the status show it."""
    _check_tensors("input", config.inputs, engine.inputs, config.max_batch_size)
    _check_tensors("output", config.outputs, engine.outputs, config.max_batch_size)
    if config.preprocess is not None:
        preprocess.check(config.preprocess)
    if config.preprocess is not None and config.postprocess.kind != "none":
        _check_frame_input(config, _known_dims(config.inputs, engine.inputs))
    postprocess.check(config.postprocess, _known_dims(config.outputs, engine.outputs))


def _known_dims(
    declared: tuple[TensorConfig, ...], actual: tuple[TensorSpec, ...]
) -> dict[str, tuple[int, ...]]:
    """One item's shape per tensor, in the model file's order (the order its outputs come back in):
    fixed where model.yaml or the file fixes it, -1 where both leave it dynamic."""
    dims = {tensor.name: tensor.dims for tensor in declared}
    return {
        spec.name: tuple(
            want if want != -1 else have for want, have in zip(dims[spec.name], spec.shape[1:], strict=True)
        )
        for spec in actual
    }


def _check_frame_input(config: ModelConfig, inputs: Mapping[str, tuple[int, ...]]) -> None:
    """Camera frames and /v1/detect feed the first input alone with what ``preprocess`` makes."""
    spec = config.preprocess
    assert spec is not None  # checked by the caller
    if len(config.inputs) != 1:
        raise ModelLoadError(
            f"postprocess kind {config.postprocess.kind} runs on frames, which fill one input; "
            f"the model has {len(config.inputs)}"
        )
    tensor = config.inputs[0]
    channels = preprocess.channels_of(spec)
    item = (
        (channels, spec.height, spec.width) if spec.layout == "NCHW" else (spec.height, spec.width, channels)
    )
    shape = inputs[tensor.name]
    if len(shape) != len(item) or any(
        have not in (-1, want) for want, have in zip(item, shape, strict=False)
    ):
        raise ModelLoadError(
            f"input {tensor.name!r} is {list(shape)} per item (-1: dynamic), where preprocess makes "
            f"{list(item)} ({spec.layout}, {spec.color}, {spec.width}x{spec.height})"
        )
    if tensor.datatype.value != spec.datatype:
        raise ModelLoadError(
            f"input {tensor.name!r} is {tensor.datatype.value}, where preprocess makes {spec.datatype}"
        )


def _check_tensors(
    kind: str, declared: tuple[TensorConfig, ...], actual: tuple[TensorSpec, ...], max_batch_size: int
) -> None:
    by_name = {spec.name: spec for spec in actual}
    declared_names = [tensor.name for tensor in declared]
    if sorted(declared_names) != sorted(by_name):
        raise ModelLoadError(
            f"model.yaml declares {kind}s {declared_names}, the model file has {sorted(by_name)}"
        )
    for tensor in declared:
        spec = by_name[tensor.name]
        if spec.datatype != tensor.datatype:
            raise ModelLoadError(
                f"{kind} {tensor.name!r}: model.yaml says {tensor.datatype.value}, "
                f"the model file has {spec.datatype.value}"
            )
        if len(spec.shape) != len(tensor.dims) + 1:
            raise ModelLoadError(
                f"{kind} {tensor.name!r}: model.yaml dims {list(tensor.dims)} plus the batch dimension "
                f"do not match the model file's shape {list(spec.shape)}"
            )
        batch, *dims = spec.shape
        if batch != -1 and batch < max_batch_size:
            raise ModelLoadError(
                f"{kind} {tensor.name!r}: the model file fixes the batch dimension at {batch}, "
                f"below max_batch_size {max_batch_size}; export it with a dynamic batch"
            )
        for position, (want, have) in enumerate(zip(tensor.dims, dims, strict=True), start=1):
            if want != -1 and have not in (-1, want):
                raise ModelLoadError(
                    f"{kind} {tensor.name!r}: dimension {position} is {have} in the model file, "
                    f"{want} in model.yaml"
                )


def warm_up(loaded: LoadedVersion, batches: int, largest_batch: int | None = None) -> float | None:
    """Run ``batches`` dummy batches through every engine (the largest batch the batcher will form
    first, then single items), so lazy allocations and provider graph builds happen before real
    traffic arrives. Returns the seconds per row of the last batch (None without warm-up): the
    model's first service time, before any real batch is measured.

    ``largest_batch`` (default: the model's max_batch_size) keeps ONNX Runtime's memory arena at the
    size real traffic needs: on CPU, where items are not merged, a batch of eight would grow it
    eightfold for nothing (measured: +47 MiB per face-detector session)."""
    rows_first = min(largest_batch or loaded.max_batch_size, loaded.max_batch_size)
    sizes = [rows_first, 1]
    per_row: float | None = None
    for engine in _distinct(loaded.engines):
        for number in range(batches):
            rows = sizes[number % len(sizes)]
            try:
                feeds = {
                    spec.name: np.zeros((rows, *_item_shape(loaded, spec)), spec.datatype.numpy_dtype)
                    for spec in loaded.inputs
                }
                started = time.perf_counter()
                outputs = engine.run(feeds)
            except GatewayError as exc:
                raise ModelLoadError(f"warm-up batch of {rows} failed: {exc}") from exc
            except MemoryError as exc:
                # numpy's _ArrayMemoryError is one: the version fails to load, the process goes on.
                raise ModelLoadError(
                    f"warm-up batch of {rows} does not fit in memory (lower max_batch_size): {exc}"
                ) from exc
            per_row = (time.perf_counter() - started) / rows
            _check_outputs(loaded, outputs, rows)
    return per_row


def _check_outputs(loaded: LoadedVersion, outputs: Mapping[str, npt.NDArray[np.generic]], rows: int) -> None:
    """A warm-up batch's outputs must have the shapes model.yaml declares and one row per input row:
    a model file whose output dimensions are symbolic passes ``check_signature`` whatever model.yaml
    says, and would then serve shapes its metadata does not announce (ModelLoadError)."""
    for spec in loaded.outputs:
        array = outputs.get(spec.name)
        if array is None:
            raise ModelLoadError(f"output {spec.name!r}: the model file gave none in a warm-up batch")
        shape = array.shape
        if (
            len(shape) != len(spec.shape)
            or shape[0] != rows
            or any(want not in (-1, have) for want, have in zip(spec.shape[1:], shape[1:], strict=True))
        ):
            raise ModelLoadError(
                f"output {spec.name!r}: a warm-up batch of {rows} gave shape {list(shape)}, where "
                f"model.yaml declares {[rows, *spec.shape[1:]]} (-1: any size)"
            )


def _distinct(engines: tuple[Engine, ...]) -> list[Engine]:
    """Each engine once: workers may share one thread-safe engine."""
    seen: list[Engine] = []
    for engine in engines:
        if not any(engine is other for other in seen):
            seen.append(engine)
    return seen


def _item_shape(loaded: LoadedVersion, spec: TensorSpec) -> tuple[int, ...]:
    """One item's shape for warm-up: dynamic image dimensions take the preprocess size (what camera
    frames will bring), any other dynamic dimension 1."""
    dims = list(spec.shape[1:])
    preprocess = loaded.config.preprocess
    if preprocess is not None and spec == loaded.inputs[0] and len(dims) == 3:
        channels = 1 if preprocess.color == "GRAY" else 3
        image = (
            (channels, preprocess.height, preprocess.width)
            if preprocess.layout == "NCHW"
            else (preprocess.height, preprocess.width, channels)
        )
        dims = [image[index] if dim == -1 else dim for index, dim in enumerate(dims)]
    return tuple(dim if dim > 0 else 1 for dim in dims)
