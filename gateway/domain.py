"""Typed values that flow between the parts of the gateway.

Everything here is a frozen, slotted dataclass or an enum: cheap to create on the hot path, safe to
share between threads, and free of I/O. JSON appears only at the edges (API, MQTT, outbox).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""A decoded frame: height x width x 3, BGR (OpenCV's order), uint8."""

Box = tuple[float, float, float, float]
"""``(x1, y1, x2, y2)`` normalised to 0..1 of the frame's width and height."""


def box_area(box: Box) -> float:
    """The share of the frame ``box`` covers (its part inside the frame)."""
    x1, y1, x2, y2 = box
    return max(0.0, min(x2, 1.0) - max(x1, 0.0)) * max(0.0, min(y2, 1.0) - max(y1, 0.0))


@dataclass(frozen=True, slots=True)
class Frame:
    camera_id: str
    seq: int
    captured_at: float
    """Wall-clock capture time, seconds since the epoch (UTC)."""
    monotonic_at: float
    """``time.monotonic()`` at capture, for latency and staleness."""
    image: Image = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model version that exists: what served a result."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_RULE = "1 to 64 ASCII letters, digits, '_', '.' or '-', starting with a letter or digit"
"""A model's (and any other) name in words, for the person who wrote it: a pattern is no answer."""


def ascii_integer(text: str, digits: int = 19) -> int | None:
    """``text`` as an integer when it is 1 to ``digits`` ASCII digits, else None: ``str.isdigit``
    also takes "²", which ``int`` refuses, and ``int`` refuses more than 4,300 digits."""
    if not 0 < len(text) <= digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


@dataclass(frozen=True, slots=True)
class ModelReference:
    """What a config or a request asks for: ``name`` (the newest ready version) or ``name:version``."""

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> ModelReference:
        """``name`` or ``name:version``; ValueError naming the problem otherwise."""
        name, _, version = text.partition(":")
        if not _MODEL_NAME.fullmatch(name):
            raise ValueError(f"model reference {text!r}: a model name is {NAME_RULE}")
        if not version:
            return cls(name)
        number = ascii_integer(version)
        if number is None or number < 1:
            raise ValueError(f"model reference {text!r}: version must be a positive integer")
        return cls(name, number)

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}:{self.version}"


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    score: float
    box: Box | None
    """None for frame-level results such as anomaly scores."""
    track_id: int | None = None
    """The camera tracker's id for the object, once tracked; None from a bare detector."""


@dataclass(frozen=True, slots=True)
class Track:
    """One object a camera's tracker follows across frames (ids are never reused on a camera)."""

    track_id: int
    label: str
    score: float
    box: Box
    """The box observed on this frame, or the last observed one while the object is missing."""
    observed: bool
    """False while the object is missing from detections (kept for ``max_lost_s``)."""
    first_seen_at: float
    """Capture time of the first frame the track was confirmed on."""
    origin: Box | None = None
    """The earliest box the tracker links to this object: where it was first detected, before it
    was confirmed, or further back along detections too weak to start a track (None: unknown). A
    rule that asks where the object came from (a line crossing) starts from here, so an object
    confirmed only after it crossed still counts."""
    peak_score: float | None = None
    """The highest score among the track's detections so far, those before it was confirmed
    included (None: unknown, as ``score``)."""
    origin_at: float | None = None
    """Capture time of the frame ``origin`` was detected on (None: unknown). A rule that asks how
    long the object has been somewhere (loiter) counts from here when ``origin`` was there too."""


@dataclass(frozen=True, slots=True)
class AnomalyMap:
    """A scene-anomaly model's coarse map of one frame: a rows x columns grid over the whole frame,
    each cell's score on the model's 0..1 scale; a cell at or above ``threshold`` is anomalous."""

    cells: npt.NDArray[np.float32] = field(repr=False, compare=False)
    threshold: float

    def cell_box(self, row: int, column: int) -> Box:
        """The cell as a normalised box."""
        rows, columns = self.cells.shape
        return (column / columns, row / rows, (column + 1) / columns, (row + 1) / rows)


@dataclass(frozen=True, slots=True)
class SceneChange:
    """A camera whose scene no longer matches its anomaly model: a lasting change became the new
    normal (a parked car), so the camera should be enrolled again."""

    camera_id: str
    since: float
    """Capture time at which the earliest current change became the new normal (epoch seconds)."""
    share: float
    """Share of the frame's cells that are new normal."""
    box: Box
    """Normalised box around every such cell."""


@dataclass(frozen=True, slots=True)
class FrameResult:
    camera_id: str
    frame_seq: int
    captured_at: float
    model: ModelRef
    detections: tuple[Detection, ...]
    anomaly_score: float | None = None
    """Frame-level anomaly score, for scene-anomaly models; None for detectors."""
    completed_at: float = 0.0
    """``time.monotonic()`` when the result was ready."""
    tracks: tuple[Track, ...] = ()
    """The camera's tracks after this frame (detector results only; set by the decider)."""
    anomaly_map: AnomalyMap | None = None
    """The scene-anomaly model's coarse map, when it has one; None for detectors."""


@dataclass(frozen=True, slots=True)
class InferenceOutput:
    model: ModelRef
    """The version that actually served the request (canary routing may pick another)."""
    outputs: Mapping[str, npt.NDArray[np.generic]]
    labels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Class labels by output name, from the model.yaml of the loaded version that ran the request
    (Triton's classification extension), never from a model.yaml read since: a reload that failed,
    or one not yet swapped in, would name classes by a file that does not serve."""


@dataclass(frozen=True, slots=True)
class DetectOutput:
    model: ModelRef
    detections: tuple[Detection, ...]
    anomaly_score: float | None
    anomaly_map: AnomalyMap | None = None


class AlertKind(str, enum.Enum):
    START = "start"
    UPDATE = "update"
    END = "end"
    INSTANT = "instant"
    """An event with no duration (a line crossing): no update, no end."""


class EndReason(str, enum.Enum):
    """Why an event ended: logged with the ``end`` alert and counted, not part of the alert itself."""

    CLEARED = "cleared"
    """The rule stopped holding for ``end_after_s`` (or the track left)."""
    MAX_DURATION = "max_duration"
    """Open for ``max_event_s``."""
    RULE_CHANGED = "rule_changed"
    """A reload removed the rule or changed what it means."""
    STOPPED = "stopped"
    """The gateway stopped (SIGTERM) with the event open."""
    RECOVERED = "recovered"
    """Found open at start: the gateway had been killed or lost power with the event open."""


class Direction(str, enum.Enum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class Evidence:
    """The digest and shape of an alert's evidence image; the bytes travel beside the alert."""

    sha256: str
    bytes: int
    type: str
    width: int
    height: int


EVIDENCE_TYPE = "image/jpeg"


@dataclass(frozen=True, slots=True)
class EvidenceImage:
    """An encoded evidence image and its digest: what travels beside an alert, committed with it."""

    evidence: Evidence
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """An alert's evidence as the outbox keeps it: the bytes, or when they were pruned."""

    seq: int
    data: bytes | None = field(repr=False)
    """None once pruned (delivered, then over ``outbox.max_bytes``)."""
    pruned_at: float | None
    """Wall-clock time it was pruned, seconds since the epoch; None while kept."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """What a rule decided; the outbox turns it into a numbered, chained, signed ``Alert``."""

    event_id: str
    kind: AlertKind
    camera_id: str
    rule: str
    label: str
    score: float
    zone: str | None
    box: Box | None
    frame_ts: float
    """Capture time of the frame, seconds since the epoch (UTC)."""
    model: ModelRef
    track_id: int | None = None
    direction: Direction | None = None
    count: int | None = None
    end_reason: EndReason | None = None
    """On ``end`` events: why. The device logs and counts it; the alert contract does not carry it."""
    evidence: Evidence | None = None
    schema_version: int = 2
    """1 for alerts decoded from alert v1 payloads (older devices); everything new is v2."""


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as committed to the outbox: the alert v2 contract of DESIGN.md (v1 when decoded)."""

    device_id: str
    seq: int
    event: AlertEvent
    prev_hash: str
    hash: str
    sig: str

    @property
    def alert_id(self) -> str:
        return f"{self.device_id}:{self.seq}"


class TensorType(str, enum.Enum):
    """Open Inference Protocol v2 datatypes with their numpy equivalents."""

    BOOL = "BOOL"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BYTES = "BYTES"

    @property
    def numpy_dtype(self) -> np.dtype[np.generic]:
        return np.dtype(_NUMPY_TYPES[self])

    @classmethod
    def from_numpy(cls, dtype: np.dtype[np.generic]) -> TensorType:
        for tensor_type, name in _NUMPY_TYPES.items():
            if np.dtype(name) == dtype:
                return tensor_type
        raise ValueError(f"no Open Inference Protocol datatype for numpy dtype {dtype}")


_NUMPY_TYPES: Mapping[TensorType, str] = {
    TensorType.BOOL: "bool",
    TensorType.UINT8: "uint8",
    TensorType.UINT16: "uint16",
    TensorType.UINT32: "uint32",
    TensorType.UINT64: "uint64",
    TensorType.INT8: "int8",
    TensorType.INT16: "int16",
    TensorType.INT32: "int32",
    TensorType.INT64: "int64",
    TensorType.FP16: "float16",
    TensorType.FP32: "float32",
    TensorType.FP64: "float64",
    TensorType.BYTES: "object",
}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    datatype: TensorType
    shape: tuple[int, ...]
    """Including the batch dimension; -1 where a dimension is dynamic."""


class ModelState(str, enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    UNLOADED = "unloaded"


@dataclass(frozen=True, slots=True)
class ModelVersionStatus:
    name: str
    version: int
    state: ModelState
    reason: str | None
    """Why the version is not ready (load error, warm-up failure), None when ready."""
    platform: str
    provider: str | None
    """The execution provider that actually runs it (e.g. ``CPUExecutionProvider``)."""
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.name, self.version)


@dataclass(frozen=True, slots=True)
class Duration:
    """How many, and their nanoseconds in all: a figure of Triton's statistics extension."""

    count: int = 0
    ns: int = 0


@dataclass(frozen=True, slots=True)
class BatchStatistics:
    """Batches of one size run since start: each step counted once per batch."""

    batch_size: int
    compute_input: Duration
    compute_infer: Duration
    compute_output: Duration


@dataclass(frozen=True, slots=True)
class ModelStatistics:
    """What one model version has run since start, as Triton's statistics extension reports it:
    requests and camera frames alike, each step counted once per request (a batch's steps count
    for every request in it), except ``batches``, which counts each batch once."""

    ref: ModelRef
    last_inference_ms: int
    """When its last batch finished, in milliseconds since the epoch; 0 before the first."""
    inference_count: int
    """Rows answered successfully (a request of 4 rows counts 4)."""
    execution_count: int
    """Batches run."""
    success: Duration
    fail: Duration
    queue: Duration
    compute_input: Duration
    compute_infer: Duration
    compute_output: Duration
    batches: tuple[BatchStatistics, ...]


@dataclass(frozen=True, slots=True)
class ModelRouting:
    """Where a request that names no version goes: ``default_version`` (None: the highest ready),
    and ``canary_weight`` of them to ``canary_version`` (None: no canary)."""

    default_version: int | None
    canary_version: int | None
    canary_weight: float


class CameraState(str, enum.Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


class DropReason(str, enum.Enum):
    """Why a camera frame never reached the rules; every drop is counted under one of these."""

    SUPERSEDED = "superseded"
    """Replaced by a newer frame before the sampler took it."""
    STALE = "stale"
    """Older than ``max_frame_age_s`` when sampled."""
    MOTION = "motion"
    """The scene is static (motion gating)."""
    BUSY = "busy"
    """The camera, or all cameras together, already had their share of frames at the detector."""
    OVERLOADED = "overloaded"
    """The detector's queue refused it."""
    DEADLINE = "deadline"
    """It expired in the detector's queue."""
    CANCELLED = "cancelled"
    """Cancelled at shutdown."""
    ERROR = "error"
    """The detector failed on it (logged)."""
    LATE = "late"
    """Its result arrived after the result of a newer frame of the same camera (the tracker and the
    rules only move forward in time)."""


@dataclass(frozen=True, slots=True)
class CameraStatus:
    camera_id: str
    url: str
    """With credentials removed."""
    state: CameraState
    fps_in: float
    fps_processed: float
    drops: Mapping[DropReason, int]
    """Frames dropped, by reason."""
    reconnects: int
    last_error: str | None
    last_frame_at: float | None
    """Wall-clock capture time of the newest frame, seconds since the epoch."""
    detections: tuple[Detection, ...] = ()
    """The newest judged frame's detections, with track ids where the camera tracks objects."""
    motion_changed: float | None = None
    """Share of the newest sampled frame that differed from motion gating's background (None before
    a second frame, or with gating off): set beside ``motion_min_area``, how near the scene is to
    motion, for tuning ``min_area`` and the mask."""
    motion_min_area: float | None = None
    """The camera's ``motion.min_area``; None with gating off."""


class DeliveryState(str, enum.Enum):
    OUTBOX_ONLY = "outbox-only"
    """No broker configured: alerts stay in the outbox and /v1/events."""
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    REFUSED = "refused"
    """The broker answered and said no (bad credentials, not authorised): needs a config fix."""
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """Where alerts stand: committed to the outbox and, with a broker, acknowledged by it."""

    state: DeliveryState
    last_error: str | None
    broker: str | None
    """The broker's address (no credentials); None when alerts stay in the outbox only."""
    connected_since: float | None
    last_seq: int
    last_acked_seq: int | None
    inflight: int
