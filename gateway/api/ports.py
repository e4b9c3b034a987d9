"""The narrow interfaces the HTTP API needs from the running gateway.

The app factory receives objects that satisfy these protocols; ``pipeline.py`` hands it the real
ones, unit tests hand it small fakes. Nothing here imports the parts that implement them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gateway.domain import (
    Alert,
    CameraStatus,
    DeliveryStatus,
    DetectOutput,
    Image,
    InferenceOutput,
    ModelVersionStatus,
    SceneChange,
)

__all__ = [
    "CameraDirectory",
    "DetectOutput",
    "EventLog",
    "GatewayState",
    "InferenceBackend",
    "InferenceOutput",
    "SceneAdvisor",
]


class InferenceBackend(Protocol):
    """Model repository + batcher + pool, as the API sees them.

    ``deadline`` is a ``time.monotonic()`` instant or None. ``infer``/``detect`` raise
    ModelNotFoundError, ModelNotReadyError, InvalidInputError or OverloadedError synchronously; the
    returned future fails with DeadlineExceededError or InferenceError.
    """

    def ready(self) -> bool: ...

    def models(self) -> Sequence[ModelVersionStatus]: ...

    def status(self, name: str, version: int | None) -> ModelVersionStatus: ...

    def infer(
        self,
        name: str,
        version: int | None,
        inputs: Mapping[str, npt.NDArray[np.generic]],
        deadline: float | None,
    ) -> Future[InferenceOutput]: ...

    def detect(
        self, name: str, version: int | None, image: Image, deadline: float | None
    ) -> Future[DetectOutput]: ...

    def detect_encoded(
        self, name: str, version: int | None, data: bytes, deadline: float | None
    ) -> Future[DetectOutput]:
        """``detect`` on a JPEG or PNG body; InvalidInputError when it is neither or is corrupt."""
        ...

    def queue_fill(self) -> float:
        """Items waiting over capacity, 0..1, for the admission watermark."""
        ...


class CameraDirectory(Protocol):
    def cameras(self) -> Sequence[CameraStatus]: ...

    def camera(self, camera_id: str) -> CameraStatus | None: ...

    def snapshot_jpeg(self, camera_id: str) -> bytes | None:
        """Newest frame with its latest detections and zones drawn, or None before the first frame."""
        ...


class GatewayState(Protocol):
    def summary(self) -> str:
        """One line: cameras streaming, models ready, alert delivery."""
        ...

    def health_problems(self) -> list[str]:
        """Empty while every part makes progress (the systemd watchdog's view)."""
        ...

    def delivery_status(self) -> DeliveryStatus: ...


class EventLog(Protocol):
    def recent_alerts(self, limit: int, camera_id: str | None = None) -> Sequence[Alert]: ...


class SceneAdvisor(Protocol):
    def scene_changes(self) -> Sequence[SceneChange]:
        """Cameras whose scene departed from their anomaly model for good: due for a re-enroll."""
        ...
