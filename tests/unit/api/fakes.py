"""Hand-written fakes of the API's ports (pure logic: affine y = 2x + 1) and request builders."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.api.ports import DetectOutput, InferenceOutput
from gateway.domain import (
    Alert,
    CameraState,
    CameraStatus,
    DeliveryState,
    DeliveryStatus,
    Detection,
    DropReason,
    EvidenceRecord,
    Image,
    ModelRef,
    ModelRouting,
    ModelState,
    ModelStatistics,
    ModelVersionStatus,
    TensorSpec,
    TensorType,
)
from gateway.errors import DeadlineExceededError, ModelNotFoundError, ModelNotReadyError
from gateway.inference.preprocess import decode_image
from gateway.inference.statistics import InferenceStatistics

AFFINE_INPUT = TensorSpec("INPUT0", TensorType.FP32, (-1, 4))
AFFINE_OUTPUT = TensorSpec("OUTPUT0", TensorType.FP32, (-1, 4))


def affine_status(
    version: int, state: ModelState = ModelState.READY, reason: str | None = None
) -> ModelVersionStatus:
    return ModelVersionStatus(
        name="affine",
        version=version,
        state=state,
        reason=reason,
        platform="onnxruntime_onnx",
        provider="CPUExecutionProvider" if state is ModelState.READY else None,
        inputs=(AFFINE_INPUT,),
        outputs=(AFFINE_OUTPUT,),
        max_batch_size=8,
    )


class FakeBackend:
    """Answers like InferenceService: errors raised synchronously, results and deadline expiry
    through futures completed on its own small thread pool."""

    def __init__(self) -> None:
        self.statuses: dict[tuple[str, int], ModelVersionStatus] = {
            ("affine", 1): affine_status(1),
            ("affine", 2): affine_status(2),
            ("affine", 3): affine_status(3, ModelState.FAILED, "model.onnx: protobuf parsing failed"),
        }
        self.is_ready = True
        self.fill = 0.0
        self.fills: list[float] = []
        """Successive answers of queue_fill() before falling back to ``fill``."""
        self.wait_s = 0.0
        """Seconds of work ahead of a new item, before the admitted-but-not-queued ones."""
        self.service_s: float | None = None
        """Every model's measured time per item (None: not measured)."""
        self.idle_s: float | None = None
        """The workers' idle seconds, summed over both; None: idle all the time, as a backend whose
        work takes no worker is."""
        self.pending_seen: list[dict[str, int]] = []
        self.delay_s = 0.0
        self.submit_error: Exception | None = None
        self.calls = 0
        self.detections: tuple[Detection, ...] = (Detection("person", 0.9, (0.1, 0.2, 0.3, 0.4)),)
        self.images: list[Image] = []
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fake-backend")

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def ready(self) -> bool:
        return self.is_ready

    def models(self) -> Sequence[ModelVersionStatus]:
        return list(self.statuses.values())

    def status(self, name: str, version: int | None) -> ModelVersionStatus:
        if version is None:
            versions = [v for (model, v), status in self.statuses.items() if model == name]
            if not versions:
                raise ModelNotFoundError(f"unknown model {name!r}")
            ready = [v for v in versions if self.statuses[(name, v)].state is ModelState.READY]
            version = max(ready or versions)
        status = self.statuses.get((name, version))
        if status is None:
            raise ModelNotFoundError(f"model {name!r} has no version {version}")
        return status

    def infer(
        self,
        name: str,
        version: int | None,
        inputs: Mapping[str, npt.NDArray[np.generic]],
        deadline: float | None,
        queue_deadline: float | None = None,
    ) -> Future[InferenceOutput]:
        status = self._admit(name, version)

        def run() -> InferenceOutput:
            x = np.asarray(inputs["INPUT0"])
            return InferenceOutput(status.ref, {"OUTPUT0": x * np.float32(2) + np.float32(1)})

        # No queue here to time out in: the earlier of the two ends the request alike.
        ends = [instant for instant in (deadline, queue_deadline) if instant is not None]
        return self._executor.submit(self._later, run, min(ends, default=None))

    def queue_settings(self) -> tuple[float, int]:
        return 0.002, 64

    def detect(
        self, name: str, version: int | None, image: Image, deadline: float | None
    ) -> Future[DetectOutput]:
        status = self._admit(name, version)
        self.images.append(image)
        return self._executor.submit(
            self._later, lambda: DetectOutput(status.ref, self.detections, 0.25), deadline
        )

    def detect_encoded(
        self, name: str, version: int | None, data: bytes, deadline: float | None
    ) -> Future[DetectOutput]:
        return self.detect(name, version, decode_image(data), deadline)

    def statistics(self, name: str | None, version: int | None) -> Sequence[ModelStatistics]:
        if name is not None:
            self.status(name, version)
        return [
            InferenceStatistics().of(status.ref)
            for (model, number), status in self.statuses.items()
            if name in (None, model) and version in (None, number)
        ]

    def queue_fill(self) -> float:
        return self.fills.pop(0) if self.fills else self.fill

    def expected_wait_s(self, pending: Mapping[str, int]) -> float:
        self.pending_seen.append(dict(pending))
        return self.wait_s + (self.service_s or 0.0) * sum(pending.values())

    def service_time_s(self, name: str) -> float | None:
        return self.service_s

    def worker_idle_s(self) -> tuple[float, int]:
        return (2 * time.monotonic() if self.idle_s is None else self.idle_s), 2

    def routing(self, name: str) -> ModelRouting:
        if not any(key[0] == name for key in self.statuses):
            raise ModelNotFoundError(f"unknown model {name!r}")
        return ModelRouting(default_version=None, canary_version=2, canary_weight=0.25)

    def _admit(self, name: str, version: int | None) -> ModelVersionStatus:
        self.calls += 1
        if self.submit_error is not None:
            raise self.submit_error
        status = self.status(name, version)
        if status.state is not ModelState.READY:
            raise ModelNotReadyError(f"model {status.ref} is {status.state.value}: {status.reason}")
        return status

    def _later(self, run: Callable[[], Any], deadline: float | None) -> Any:
        time.sleep(self.delay_s)
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineExceededError("expired in the queue")
        return run()


class FakeCameras:
    def __init__(self) -> None:
        self.status = CameraStatus(
            camera_id="gate",
            url="rtsp://10.0.0.5/stream1",
            state=CameraState.STREAMING,
            fps_in=25.0,
            fps_processed=5.0,
            drops={DropReason.SUPERSEDED: 3},
            reconnects=1,
            last_error=None,
            last_frame_at=1_764_000_000.5,
            detections=(Detection("person", 0.75, (0.1, 0.5, 0.2, 0.9), 42),),
            motion_changed=0.0031,
            motion_min_area=0.002,
        )
        self.jpeg: bytes | None = b"\xff\xd8\xff\xe0fake-jpeg"
        self.motion_asked: list[bool] = []
        self.longest_sides_asked: list[int | None] = []

    def cameras(self) -> Sequence[CameraStatus]:
        return [self.status]

    def camera(self, camera_id: str) -> CameraStatus | None:
        return self.status if camera_id == "gate" else None

    def snapshot_jpeg(
        self, camera_id: str, *, motion: bool = False, longest_side: int | None = None
    ) -> bytes | None:
        self.motion_asked.append(motion)
        self.longest_sides_asked.append(longest_side)
        return self.jpeg if camera_id == "gate" else None


class FakeEvents:
    def __init__(self, alerts: Sequence[Alert] = ()) -> None:
        self.alerts = list(alerts)
        self.asked: list[tuple[int, str | None]] = []
        self.before: list[int | None] = []

    def recent_alerts(
        self,
        limit: int,
        camera_id: str | None = None,
        before_seq: int | None = None,
        *,
        rule: str | None = None,
        label: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Sequence[Alert]:
        self.asked.append((limit, camera_id))
        self.before.append(before_seq)
        chosen = [
            alert
            for alert in self.alerts
            if (camera_id is None or alert.event.camera_id == camera_id)
            and (rule is None or alert.event.rule == rule)
            and (label is None or alert.event.label == label)
            and (since is None or alert.event.frame_ts >= since)
            and (until is None or alert.event.frame_ts < until)
            and (before_seq is None or alert.seq < before_seq)
        ]
        # Newest first, as the outbox answers (EventLog's contract).
        return sorted(chosen, key=lambda alert: alert.seq, reverse=True)[:limit]

    def alert(self, seq: int) -> Alert | None:
        return next((alert for alert in self.alerts if alert.seq == seq), None)

    def evidence(self, seq: int) -> EvidenceRecord | None:
        return None


def infer_body(
    values: Sequence[Sequence[float]], *, name: str = "INPUT0", datatype: str = "FP32"
) -> dict[str, Any]:
    array = np.asarray(values)
    return {
        "inputs": [
            {"name": name, "shape": list(array.shape), "datatype": datatype, "data": array.ravel().tolist()}
        ]
    }


def binary_infer_request(
    array: npt.NDArray[Any], *, outputs: Sequence[dict[str, Any]] | None = None, datatype: str = "FP32"
) -> tuple[bytes, dict[str, str]]:
    """A binary-extension request body and its headers, as tritonclient builds them."""
    raw = array.tobytes()
    header: dict[str, Any] = {
        "inputs": [
            {
                "name": "INPUT0",
                "shape": list(array.shape),
                "datatype": datatype,
                "parameters": {"binary_data_size": len(raw)},
            }
        ]
    }
    if outputs is None:
        header["parameters"] = {"binary_data_output": True}
    else:
        header["outputs"] = list(outputs)
    text = json.dumps(header).encode()
    return text + raw, {
        "Inference-Header-Content-Length": str(len(text)),
        "Content-Type": "application/octet-stream",
    }


def split_binary_response(body: bytes, header_length: int) -> tuple[dict[str, Any], bytes]:
    return json.loads(body[:header_length]), body[header_length:]


def model_ref(version: int) -> ModelRef:
    return ModelRef("affine", version)


class SteadyState:
    """The gateway's state as ``/v1/status`` reads it: one camera streaming, no problem, its alerts
    in the outbox only (no broker configured)."""

    def summary(self) -> str:
        return "1/1 cameras streaming"

    def health_problems(self) -> list[str]:
        return []

    def degraded(self) -> list[str]:
        return []

    def delivery_status(self) -> DeliveryStatus:
        return DeliveryStatus(DeliveryState.OUTBOX_ONLY, None, None, None, 7, None, 0)

    def pending_restart(self) -> list[str]:
        return []
