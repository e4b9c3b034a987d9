"""The narrow interfaces the HTTP API needs from the running gateway.

The app factory receives objects that satisfy these protocols; ``pipeline.py`` hands it the real
ones, unit tests hand it small fakes. Nothing here imports the parts that implement them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gateway.config import CameraConfig, LineConfig, Point, ZoneConfig
from gateway.domain import (
    Alert,
    CameraStatus,
    DeliveryStatus,
    DetectOutput,
    EvidenceRecord,
    Image,
    InferenceOutput,
    ModelRouting,
    ModelStatistics,
    ModelVersionStatus,
    SceneChange,
)

__all__ = [
    "CameraDirectory",
    "ConfigReadOnlyError",
    "DetectOutput",
    "EventLog",
    "GatewayState",
    "GeometryEditor",
    "InferenceBackend",
    "InferenceOutput",
    "SceneAdvisor",
    "SystemFacts",
    "SystemInfo",
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
        queue_deadline: float | None = None,
    ) -> Future[InferenceOutput]:
        """``queue_deadline`` is Triton's ``timeout``: a request still queued then fails with
        DeadlineExceededError, counted as timed out, apart from one whose ``deadline`` passed."""
        ...

    def queue_settings(self) -> tuple[float, int]:
        """The dynamic batcher's ``max_queue_delay`` in seconds and its queue's capacity (items),
        for Triton's model configuration."""
        ...

    def detect(
        self, name: str, version: int | None, image: Image, deadline: float | None
    ) -> Future[DetectOutput]: ...

    def detect_encoded(
        self, name: str, version: int | None, data: bytes, deadline: float | None
    ) -> Future[DetectOutput]:
        """``detect`` on a JPEG or PNG body; InvalidInputError when it is neither or is corrupt."""
        ...

    def statistics(self, name: str | None, version: int | None) -> Sequence[ModelStatistics]:
        """What every version of ``name`` (every model's, with None) or ``name:version`` has run
        since start; ModelNotFoundError for a model or version that does not exist."""
        ...

    def queue_fill(self) -> float:
        """Items waiting over capacity, 0..1, for the admission watermark."""
        ...

    def expected_wait_s(self, pending: Mapping[str, int]) -> float:
        """Seconds until a worker would take an item submitted now: behind the running batches,
        the queue and ``pending`` (model name -> items admitted but not yet submitted)."""
        ...

    def service_time_s(self, name: str) -> float | None:
        """Measured seconds per item of model ``name``; None before any was measured."""

    def worker_idle_s(self) -> tuple[float, int]:
        """Seconds the inference workers have spent idle since they started, summed over them, and
        how many there are."""
        ...

    def routing(self, name: str) -> ModelRouting:
        """The model's default version and canary share; ModelNotFoundError for an unknown model."""
        ...


class CameraDirectory(Protocol):
    def cameras(self) -> Sequence[CameraStatus]: ...

    def camera(self, camera_id: str) -> CameraStatus | None: ...

    def snapshot_jpeg(
        self, camera_id: str, *, motion: bool = False, longest_side: int | None = None
    ) -> bytes | None:
        """Newest frame with its latest detections and zones drawn, or None before the first frame;
        ``motion``: with where the motion gate last saw change outlined; ``longest_side``: the frame
        scaled down first to at most that many pixels on its longest side (None: its own size)."""
        ...


class GatewayState(Protocol):
    def summary(self) -> str:
        """One line: cameras streaming, models ready, alert delivery."""
        ...

    def health_problems(self) -> list[str]:
        """Empty while every part makes progress (the systemd watchdog's view)."""
        ...

    def degraded(self) -> list[str]:
        """Problems an operator must see that do not wedge the gateway (a camera that stays down)."""
        ...

    def delivery_status(self) -> DeliveryStatus: ...

    def pending_restart(self) -> list[str]:
        """The changes the config asks for that wait for a restart (a camera's source, a camera
        added or removed, ``http.port``, ...), one line each as ``degraded`` lists them; empty when
        all apply."""
        ...


class EventLog(Protocol):
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
        """``limit`` alerts unless fewer remain, newest first: of ``camera_id``, ``rule`` and
        ``label`` when given, whose ``frame_ts`` is at or after ``since`` and before ``until`` (seconds
        since the epoch) when given, and older than ``before_seq`` when given (the next page back). A
        stored alert that cannot be read is left out and the next older read in its place."""
        ...

    def alert(self, seq: int) -> Alert | None:
        """The alert ``seq``; None when it was never committed or has been pruned."""
        ...

    def evidence(self, seq: int) -> EvidenceRecord | None:
        """The evidence image of alert ``seq`` (bytes, or when pruned); None when there is none."""
        ...


class ConfigReadOnlyError(Exception):
    """The running config cannot be saved to (the embedded default, a read-only file), or a camera's
    geometry would not apply (a change of the camera waits for a restart): HTTP 409."""


class GeometryEditor(Protocol):
    """The console's zone and line editor, on the config file the gateway was started with."""

    def read_only_reason(self, camera_id: str) -> str | None:
        """Why edits of the camera's geometry cannot be saved, or None when they can: the config is
        not a writable file, or the camera keeps its previous config until a restart (the line
        ``/v1/status`` shows for it). It looks at the file: call it off the event loop; HungFileError
        (``gateway.config.bounded_read``) when the look does not finish in time."""
        ...

    def camera_config(self, camera_id: str) -> CameraConfig | None:
        """The camera as the running config has it."""
        ...

    def save_geometry(
        self,
        camera_id: str,
        zones: Sequence[ZoneConfig],
        lines: Sequence[LineConfig],
        mask: Sequence[Sequence[Point]] | None = None,
        check: Callable[[CameraConfig | None, bool], None] = lambda _camera, _on_disk: None,
    ) -> CameraConfig:
        """Validate the whole config with the new geometry (its motion mask too, unless ``mask`` is
        None), write the file back atomically and apply it like SIGHUP; returns the camera as now
        running. ``check`` is given the camera as running (and False) once no reload can apply
        the file until the save ends, then as the file has it (and True; None where it has none,
        and not called for a file that does not validate as it is), and raises to save nothing.
        ConfigError for a config that does not validate (nothing is written), ConfigReadOnlyError
        when the config is not a writable file or when the camera would keep its previous geometry:
        its file config has a change that waits for a restart (nothing is written either),
        HungFileError when the file does not answer in time (a hung mount)."""
        ...


@dataclass(frozen=True, slots=True)
class SystemFacts:
    device_id: str
    uptime_s: float
    """Seconds since the gateway started, on the monotonic clock: a wall clock stepped since (NTP's
    first sync on a box without a battery-backed clock) does not count."""
    outbox_stored: int | None
    """Alerts held in the outbox; None when the outbox cannot be read (``degraded`` names why)."""
    outbox_pending: int | None
    """Alerts not yet acknowledged by the broker (all of them when running outbox-only); None as
    ``outbox_stored``."""

    def started_at(self, now: float) -> float:
        """When the gateway started, on the wall clock as it reads ``now``."""
        return now - self.uptime_s


class SystemInfo(Protocol):
    def system_facts(self) -> SystemFacts: ...


class SceneAdvisor(Protocol):
    def scene_changes(self) -> Sequence[SceneChange]:
        """Cameras whose scene departed from their anomaly model for good: due for a re-enroll."""
        ...

    def frame_mismatches(self) -> Mapping[str, str]:
        """Per camera whose anomaly frames are not scored (they do not match what its model was
        enrolled on: grey night frames for a colour enrollment): why."""
        ...
