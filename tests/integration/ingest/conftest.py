"""Fixtures for the ingest integration tests: the real RTSP server, scripted clips, a real ONNX model."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from gateway.domain import Detection, DetectOutput, Frame, ModelRef, ModelReference
from gateway.errors import DeadlineExceededError, OverloadedError
from tests.support import clips
from tests.support.rtsp_server import RtspServer

EVENT_RANGE = range(25, 38)
CLIP_LENGTH = 50


def brightness_model_bytes() -> bytes:
    """A real ONNX graph: mean brightness of a uint8 HxWx3 image, 0..1."""
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Cast", ["image"], ["image_float"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["image_float"], ["mean"], keepdims=0),
            helper.make_node("Div", ["mean", "full_scale"], ["brightness"]),
        ],
        name="brightness",
        inputs=[helper.make_tensor_value_info("image", TensorProto.UINT8, ["height", "width", 3])],
        outputs=[helper.make_tensor_value_info("brightness", TensorProto.FLOAT, [])],
        initializer=[onnx.numpy_helper.from_array(np.array(255.0, dtype=np.float32), "full_scale")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


class OnnxDetector:
    """The pipeline's detector contract on a real ONNX Runtime session, with a bounded queue.

    Frames brighter than ``threshold`` get one frame-level "bright" detection. ``runs`` counts model
    executions, which is what the motion-gating tests assert on.
    """

    def __init__(self, capacity: int = 8, threshold: float = 0.3, delay_s: float = 0.0) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            brightness_model_bytes(), options, providers=["CPUExecutionProvider"]
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-detector")
        self._capacity = capacity
        self._threshold = threshold
        self._delay_s = delay_s
        self._pending = 0
        self._lock = threading.Lock()
        self.runs = 0
        self.models: list[ModelReference] = []

    def __call__(self, model: ModelReference, frame: Frame, deadline: float | None) -> Future[DetectOutput]:
        with self._lock:
            if self._pending >= self._capacity:
                raise OverloadedError("test detector queue full")
            self._pending += 1
            self.models.append(model)
        return self._executor.submit(self._run, model, frame, deadline)

    def _run(self, model: ModelReference, frame: Frame, deadline: float | None) -> DetectOutput:
        try:
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceededError("expired in the queue")
            (brightness,) = self._session.run(None, {"image": frame.image})
            if self._delay_s:
                time.sleep(self._delay_s)
            with self._lock:
                self.runs += 1
            score = float(brightness)
            detections = (Detection("bright", score, None),) if score > self._threshold else ()
            return DetectOutput(ModelRef(model.name, model.version or 1), detections, None)
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def detector() -> Iterator[OnnxDetector]:
    instance = OnnxDetector()
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def event_spec(clip_dir: Path) -> str:
    frames = clips.event_clip(length=CLIP_LENGTH, event=EVENT_RANGE)
    return clips.write_raw_i420(frames, clip_dir / "event.yuv")


@pytest.fixture
def rtsp_server(event_spec: str) -> Iterator[RtspServer]:
    with RtspServer(
        {"pattern": "pattern", "pattern2": "pattern", "fast": "fast-pattern", "event": event_spec}
    ) as server:
        yield server


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
