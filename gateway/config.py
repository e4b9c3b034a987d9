"""The gateway's configuration: validated once, frozen, with errors that point at file:line.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting.
Runtime state (camera toggles, model readiness) never lives here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.domain import ModelReference
from gateway.errors import ConfigError, ConfigProblem

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Point = tuple[Fraction, Fraction]


def _model_reference(value: object) -> ModelReference:
    if isinstance(value, ModelReference):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a model name or name:version")
    return ModelReference.parse(value)


ModelReferenceField = Annotated[
    ModelReference, PlainValidator(_model_reference), PlainSerializer(str, return_type=str)
]
"""``name`` or ``name:version`` in the file, parsed once into a ``ModelReference``."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpConfig(Section):
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    tokens_file: Path | None = Field(
        None, description="File of bearer tokens, one per line; required for a non-loopback host."
    )
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Largest request body accepted.")

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class ModelsConfig(Section):
    repository: Path = Field(Path("models"), description="Model repository: <name>/model.yaml, <name>/<v>/.")
    poll_interval_s: PositiveFloat = Field(2.0, description="How often files are checked for hot reload.")
    warmup_batches: int = Field(2, ge=0, description="Dummy batches run before a version is ready.")
    preload: Literal["cameras", "all"] = Field(
        "cameras",
        description="Models loaded at start: those the cameras use (the others load on their first "
        "request, which waits for the load), or all.",
    )


ProviderName = Literal["tensorrt", "cuda", "cpu"]


class InferenceConfig(Section):
    workers: int | None = Field(
        None, ge=1, le=64, description="Worker threads, each owning its sessions; default by provider."
    )
    intra_op_threads: int = Field(1, ge=0, description="ONNX Runtime intra-op threads per session (0: ORT).")
    queue_capacity: int = Field(64, ge=1, description="Frames and requests waiting for a batch, at most.")
    max_batch_size: int = Field(8, ge=1, description="Largest batch the batcher forms.")
    max_queue_delay_ms: float = Field(5.0, ge=0, description="Longest an item waits for a batch to fill.")
    providers: tuple[ProviderName, ...] = Field(
        ("tensorrt", "cuda", "cpu"), min_length=1, description="First available wins; logged at start."
    )
    tensorrt_fp16: bool = Field(
        True, description="Let TensorRT (execution provider or native engine) use fp16."
    )
    tensorrt_int8: bool = Field(
        False, description="Use a native int8 engine when build-engine --int8 has cached one."
    )
    stuck_after_s: PositiveFloat = Field(
        30.0, description="A worker inside one batch this long counts as wedged: watchdog pings stop."
    )


class AdmissionConfig(Section):
    rate_per_s: PositiveFloat = Field(200.0, description="Per-client token bucket refill rate.")
    burst: int = Field(50, ge=1, description="Per-client token bucket size.")
    high_watermark: float = Field(0.8, gt=0, le=1, description="Queue fill above which requests get 503.")
    max_queue_wait_ms: PositiveFloat | None = Field(
        None,
        description="Longest expected wait for a worker a request is admitted with (503 beyond it, "
        "before the body is read); null: the model's own measured time per item, which keeps admitted "
        "latency within about twice the unloaded latency.",
    )


class MotionConfig(Section):
    enabled: bool = Field(True, description="Skip inference on static scenes.")
    width: int = Field(160, ge=16, description="Width of the grey frame motion is computed on.")
    threshold: int = Field(25, ge=1, le=255, description="Per-pixel difference that counts as change.")
    min_area: Fraction = Field(0.002, description="Changed share of the frame that counts as motion.")
    hold_s: float = Field(2.0, ge=0, description="Inference continues this long after motion ends.")


class ZoneConfig(Section):
    name: str = Field(pattern=IDENTIFIER)
    polygon: list[Point] = Field(min_length=3, description="Normalised (x, y) vertices.")


class LineConfig(Section):
    name: str = Field(pattern=IDENTIFIER)
    points: tuple[Point, Point] = Field(description="The counting segment's two ends, normalised (x, y).")
    in_direction: tuple[float, float] = Field(
        description="A vector: a track whose move has a positive dot product with it crosses 'in'."
    )

    @model_validator(mode="after")
    def _not_degenerate(self) -> LineConfig:
        (ax, ay), (bx, by) = self.points
        if abs(ax - bx) < 1e-9 and abs(ay - by) < 1e-9:
            raise ValueError("the line's two points must differ")
        if abs(self.in_direction[0]) < 1e-9 and abs(self.in_direction[1]) < 1e-9:
            raise ValueError("in_direction must not be the zero vector")
        return self


class TrackerConfig(Section):
    max_lost_s: PositiveFloat = Field(
        1.0, description="A track is kept through misses shorter than this; its id is never reused."
    )


class EventTiming(Section):
    cooldown_s: float = Field(30.0, ge=0, description="Quiet time after an event ends before a new start.")
    update_interval_s: float = Field(10.0, ge=0, description="At most one update per interval.")
    end_after_s: float = Field(5.0, ge=0, description="An event ends after the rule stops holding this long.")
    max_event_s: float = Field(300.0, gt=0, description="An event ends after this long regardless.")


RuleType = Literal["presence", "line_crossing", "loiter", "count", "stationary"]
DURATION_RULES = ("loiter", "count", "stationary")


class RuleConfig(EventTiming):
    name: str = Field(pattern=IDENTIFIER)
    type: RuleType = Field("presence", description="What the rule follows (DESIGN.md, rules and tracks).")
    labels: list[str] = Field(default_factory=list, description="Labels that match; empty: any.")
    zones: list[str] = Field(default_factory=list, description="Zones that match; empty: whole frame.")
    line: str | None = Field(None, description="line_crossing: the camera line it counts on.")
    direction: Literal["in", "out", "any"] = Field("any", description="line_crossing: which crossings.")
    min_score: Fraction = 0.5
    min_frames: int = Field(3, ge=1, description="presence: consecutive matching frames before a start.")
    min_s: float | None = Field(
        None, ge=0, description="loiter, count, stationary: how long it must hold before a start."
    )
    min_count: int | None = Field(None, ge=1, description="count: tracks present at once.")

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> RuleConfig:
        if self.type == "line_crossing" and self.line is None:
            raise ValueError("a line_crossing rule needs 'line', the name of one of the camera's lines")
        if self.type != "line_crossing" and (self.line is not None or self.direction != "any"):
            raise ValueError(f"'line' and 'direction' belong to line_crossing rules, not {self.type}")
        if self.type in ("loiter", "stationary") and self.min_s is None:
            raise ValueError(f"a {self.type} rule needs min_s")
        if self.type not in DURATION_RULES and self.min_s is not None:
            raise ValueError(f"'min_s' belongs to loiter, count and stationary rules, not {self.type}")
        if self.type == "count" and self.min_count is None:
            raise ValueError("a count rule needs min_count")
        if self.type != "count" and self.min_count is not None:
            raise ValueError(f"'min_count' belongs to count rules, not {self.type}")
        return self


class ConfigPathError(ValueError):
    """A problem found by a validator about a key below the one it validates: ``path`` (relative to
    the validated model) lets the loader point at that key's own line in the file."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        super().__init__(message)


class AnomalyConfig(EventTiming):
    model: ModelReferenceField = Field(
        description="Scene-anomaly model, name or name:version; threshold comes with it."
    )
    min_frames: int = Field(3, ge=1, description="Consecutive anomalous frames before an event starts.")
    new_normal_after_s: PositiveFloat | None = Field(
        120.0,
        description="A change anomalous this long without a break (a parked car) becomes the new normal: "
        "one scene_change alert, a re-enroll suggestion in /v1/status, no further alerts from its cells; "
        "null: never.",
    )

    @model_validator(mode="after")
    def _new_normal_before_the_event_ends(self) -> AnomalyConfig:
        if self.new_normal_after_s is not None and self.new_normal_after_s >= self.max_event_s:
            raise ValueError(
                f"new_normal_after_s ({self.new_normal_after_s:g}) must be shorter than max_event_s "
                f"({self.max_event_s:g}), or a lasting change would end and restart its event first"
            )
        return self


class CameraConfig(Section):
    id: str = Field(pattern=IDENTIFIER)
    url: str = Field(description="rtsp://, rtsps://, http(s):// MJPEG, file path or file:// URL.")
    detect_fps: PositiveFloat = 5.0
    model: ModelReferenceField | None = Field(None, description="Detector, name or name:version.")
    decoder: Literal["ffmpeg", "gstreamer"] = "ffmpeg"
    gstreamer_pipeline: str | None = Field(
        None, description="Full GStreamer pipeline ending in appsink; {url} is replaced by the camera URL."
    )
    open_timeout_s: PositiveFloat = Field(
        4.0, description="Connect + open bound; also bounds how long stopping a camera can take."
    )
    read_timeout_s: PositiveFloat = 3.0
    max_frame_age_s: PositiveFloat = Field(
        1.0, description="A sampled frame older than this is dropped as stale; also its inference deadline."
    )
    reconnect_min_s: PositiveFloat = 0.5
    reconnect_max_s: PositiveFloat = 30.0
    enabled: bool = True
    motion: MotionConfig = MotionConfig()
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list, description="Counting lines for line_crossing.")
    tracker: TrackerConfig = TrackerConfig()
    rules: list[RuleConfig] = Field(default_factory=list)
    anomaly: AnomalyConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CameraConfig:
        zone_names = [zone.name for zone in self.zones]
        if len(set(zone_names)) != len(zone_names):
            raise ValueError("zone names must be unique within a camera")
        line_names = [line.name for line in self.lines]
        if len(set(line_names)) != len(line_names):
            raise ValueError("line names must be unique within a camera")
        rule_names = [rule.name for rule in self.rules]
        if len(set(rule_names)) != len(rule_names):
            raise ValueError("rule names must be unique within a camera")
        for index, rule in enumerate(self.rules):
            unknown = sorted(set(rule.zones) - set(zone_names))
            if unknown:
                raise ConfigPathError(
                    ("rules", index, "zones"), f"rule {rule.name!r} names unknown zones {unknown}"
                )
            if rule.line is not None and rule.line not in line_names:
                raise ConfigPathError(
                    ("rules", index, "line"),
                    f"rule {rule.name!r} names unknown line {rule.line!r} (lines: {line_names or 'none'})",
                )
        if self.rules and self.model is None:
            raise ValueError("rules need a detector: set the camera's model")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.decoder == "gstreamer" and self.gstreamer_pipeline is None:
            raise ValueError("decoder gstreamer needs gstreamer_pipeline")
        return self


class MqttConfig(Section):
    url: str = Field(description="mqtt://host[:port] or mqtts://host[:port].")
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = Field(None, description="Client certificate (optional, with key_file).")
    key_file: Path | None = None
    client_id: str | None = Field(None, description="Default: edge-gateway-{device_id}.")
    protocol: Literal["5", "3.1.1"] = "5"
    keepalive_s: int = Field(30, ge=5)
    topic_prefix: str = Field("edge", pattern=r"^[^#+/][^#+]*$")
    signing_key_file: Path | None = Field(None, description="HMAC key; generated into state_dir if absent.")
    max_inflight: int = Field(64, ge=1, le=65535, description="Unacknowledged alerts in flight, at most.")
    reconnect_min_s: PositiveFloat = 0.5
    reconnect_max_s: PositiveFloat = 30.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must be mqtt://host[:port] or mqtts://host[:port]")
        return value

    @model_validator(mode="after")
    def _client_certificate(self) -> MqttConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class EvidenceConfig(Section):
    enabled: bool = Field(
        True, description="Start and instant alerts carry the frame that fired them, as a signed JPEG."
    )
    jpeg_quality: int = Field(85, ge=1, le=100, description="JPEG quality of evidence images.")
    max_width: int = Field(
        1280, ge=16, description="Wider frames are scaled down to this width (aspect ratio kept)."
    )


class OutboxConfig(Section):
    retention_s: PositiveFloat = Field(7 * 24 * 3600.0, description="Delivered alerts kept this long.")
    max_bytes: int = Field(
        512 * 1024 * 1024,
        gt=0,
        description="Alerts and evidence stored, at most: delivered evidence is pruned first (the alert "
        "stays), then delivered alerts; nothing undelivered is ever pruned.",
    )
    synchronous: Literal["full", "normal"] = Field(
        "full", description="SQLite synchronous mode: full fsyncs every commit (survives power loss)."
    )
    evidence: EvidenceConfig = EvidenceConfig()


class HealthConfig(Section):
    camera_down_after_s: PositiveFloat = Field(
        60.0,
        description="An enabled camera not streaming for this long makes /v1/status unhealthy (the "
        "watchdog is not affected: the camera's reader keeps reconnecting on its own).",
    )


class GatewayConfig(Section):
    device_id: str = Field(default_factory=socket.gethostname, pattern=IDENTIFIER)
    state_dir: Path = Path("/var/lib/edge-gateway")
    http: HttpConfig = HttpConfig()
    models: ModelsConfig = ModelsConfig()
    inference: InferenceConfig = InferenceConfig()
    admission: AdmissionConfig = AdmissionConfig()
    cameras: list[CameraConfig] = Field(default_factory=list)
    mqtt: MqttConfig | None = None
    outbox: OutboxConfig = OutboxConfig()
    health: HealthConfig = HealthConfig()

    @model_validator(mode="after")
    def _unique_cameras(self) -> GatewayConfig:
        ids = [camera.id for camera in self.cameras]
        duplicates = sorted({camera_id for camera_id in ids if ids.count(camera_id) > 1})
        if duplicates:
            raise ValueError(f"camera ids must be unique: {duplicates}")
        return self


class AuditConfig(Section):
    """``edge-gateway audit serve``: the cloud-side subscriber."""

    mqtt: MqttConfig
    database: str = Field("sqlite:///audit.db", description="sqlite:///path or postgresql://...")
    keys_file: Path = Field(description="YAML or JSON mapping device_id -> hex HMAC key.")
    share_group: str = Field("audit", pattern=IDENTIFIER, description="MQTT v5 $share group name.")
    client_id: str = Field("edge-gateway-audit", pattern=IDENTIFIER)
    replay_after_s: PositiveFloat = Field(5.0, description="A gap older than this is asked for again.")
    session_expiry_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        le=0xFFFFFFFF,
        description="How long the broker keeps queueing alerts for this subscriber while it is offline.",
    )
    max_batch: int = Field(
        256,
        ge=1,
        le=65535,
        description="Alerts stored per transaction; also the MQTT v5 receive maximum (unacked alerts).",
    )
    http: HttpConfig | None = Field(
        None,
        description="The audit service's HTTP API (evidence images); absent: none. Same token rules as "
        "the gateway's: a non-loopback host needs tokens_file.",
    )
    metrics_host: str = Field("127.0.0.1", description="Address of the Prometheus /metrics endpoint.")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Serve Prometheus metrics on this port; absent: no endpoint."
    )


def default_config(root: Path | None = None) -> GatewayConfig:
    """The embedded default: the shipped demo clip as a camera, the shipped face detector, alerts to
    the local outbox, API on 127.0.0.1:8080. Paths are relative to ``root`` (the checkout)."""
    base = root if root is not None else Path.cwd()
    return GatewayConfig.model_validate(
        {
            "device_id": "demo",
            "state_dir": base / "state",
            "models": {"repository": base / "models"},
            "cameras": [
                {
                    "id": "demo",
                    "url": str(base / "build" / "demo" / "clip.mp4"),
                    "detect_fps": 5,
                    "model": "face-detector",
                    "motion": {"enabled": True},
                    "zones": [{"name": "scene", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
                    "rules": [
                        {
                            "name": "face",
                            "labels": ["FACE_FEMALE", "FACE_MALE"],
                            "zones": ["scene"],
                            "min_score": 0.4,
                            "min_frames": 2,
                            "cooldown_s": 5,
                        }
                    ],
                }
            ],
        }
    )


class _LineLoader(yaml.SafeLoader):
    """Safe loader that also records the line of every key path."""


def _load_with_lines(text: str, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    lines: dict[tuple[str | int, ...], int] = {}
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigProblem(source, line, "", f"invalid YAML: {exc}")]) from exc
    if node is None:
        return {}, lines

    def walk(current: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, current.start_mark.line + 1)
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                child = (*path, str(key.value))
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*path, index))

    walk(node, ())
    return yaml.load(text, Loader=_LineLoader), lines


def _format_path(location: Sequence[str | int]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problems(
    error: ValidationError, source: str, lines: Mapping[tuple[str | int, ...], int]
) -> list[ConfigProblem]:
    problems = []
    for detail in error.errors():
        # pydantic inserts the union member's name into the location; it is not a key of the file.
        location = tuple(part for part in detail["loc"] if not (isinstance(part, str) and "[" in part))
        cause = detail.get("ctx", {}).get("error")
        if isinstance(cause, ConfigPathError):
            location += cause.path
        line = None
        for end in range(len(location), -1, -1):
            if location[:end] in lines:
                line = lines[location[:end]]
                break
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(ConfigProblem(source, line, _format_path(location), message))
    return problems


EXPANDABLE = ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY", "RUNTIME_DIRECTORY")
"""Variables systemd sets for a service; ``${NAME}`` in a string value is replaced by its value, so a
unit's ``LoadCredential=`` secrets are referenced as ``${CREDENTIALS_DIRECTORY}/mqtt-password``."""

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_variables(
    value: Any,
    path: tuple[str | int, ...],
    source: str,
    lines: Mapping[tuple[str | int, ...], int],
    problems: list[ConfigProblem],
    *,
    environment: Mapping[str, str],
) -> Any:
    if isinstance(value, dict):
        return {
            key: _expand_variables(item, (*path, str(key)), source, lines, problems, environment=environment)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _expand_variables(item, (*path, index), source, lines, problems, environment=environment)
            for index, item in enumerate(value)
        ]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        resolved = environment.get(name) if name in EXPANDABLE else None
        if resolved is None:
            reason = "is not set" if name in EXPANDABLE else f"is not one of {', '.join(EXPANDABLE)}"
            problems.append(
                ConfigProblem(source, lines.get(path), _format_path(path), f"${{{name}}} {reason}")
            )
            return match.group(0)
        return resolved

    return _VARIABLE.sub(substitute, value)


def parse_config(
    text: str,
    source: str = "<config>",
    model: type[BaseModel] = GatewayConfig,
    environment: Mapping[str, str] | None = None,
) -> Any:
    """Validate YAML text against ``model``; raise ConfigError listing every problem with its line.
    ``${NAME}`` is expanded from ``environment`` (default: the process environment)."""
    data, lines = _load_with_lines(text, source)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(source, 1, "", "the top level must be a mapping of keys")])
    problems: list[ConfigProblem] = []
    environment = os.environ if environment is None else environment
    data = _expand_variables(data, (), source, lines, problems, environment=environment)
    if problems:
        raise ConfigError(problems)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, source, lines)) from exc


def load_config(path: Path, environment: Mapping[str, str] | None = None) -> GatewayConfig:
    config: GatewayConfig = parse_config(read_config_text(path), str(path), GatewayConfig, environment)
    return config


def load_audit_config(path: Path) -> AuditConfig:
    config: AuditConfig = parse_config(read_config_text(path), str(path), AuditConfig)
    return config


def read_config_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {exc}")]) from exc
