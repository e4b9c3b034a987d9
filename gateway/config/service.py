"""Service-wide sections (HTTP, models, inference, admission, MQTT, outbox, health) and the audit's."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from gateway.config.fields import (
    HOUR_S,
    RETENTION_S,
    FilePath,
    Identifier,
    Integer,
    Interval,
    Number,
    PositiveFloat,
    Section,
    Timeout,
    TopicPrefix,
    checked_port,
)


class HttpConfig(Section):
    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address the API listens on (0.0.0.0 for every IPv4 address, with tokens_file).",
    )
    port: Integer = Field(8080, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    tokens_file: FilePath | None = Field(
        None, description="File of bearer tokens, one per line; required for a non-loopback host."
    )
    max_body_bytes: Integer = Field(64 * 1024 * 1024, gt=0, description="Largest request body accepted.")

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class ModelsConfig(Section):
    repository: FilePath = Field(
        Path("models"), description="Model repository: <name>/model.yaml, <name>/<v>/."
    )
    poll_interval_s: Interval = Field(2.0, description="How often files are checked for hot reload.")
    warmup_batches: Integer = Field(2, ge=0, description="Dummy batches run before a version is ready.")
    preload: Literal["cameras", "all"] = Field(
        "cameras",
        description="Models loaded at start: those the cameras use (the others load on their first "
        "request, which waits for the load), or all.",
    )


ProviderName = Literal["tensorrt", "cuda", "cpu"]


class InferenceConfig(Section):
    workers: Integer | None = Field(
        None, ge=1, le=64, description="Worker threads, each owning its sessions; default by provider."
    )
    intra_op_threads: Integer = Field(
        1, ge=0, description="ONNX Runtime intra-op threads per session (0: ORT)."
    )
    queue_capacity: Integer = Field(64, ge=1, description="Frames and requests waiting for a batch, at most.")
    max_batch_size: Integer = Field(
        8, ge=1, le=1024, description="Largest batch the batcher forms (model.yaml's bound)."
    )
    max_queue_delay_ms: Number = Field(
        5.0, ge=0, le=HOUR_S * 1000, description="Longest an item waits for a batch to fill."
    )
    providers: tuple[ProviderName, ...] = Field(
        ("tensorrt", "cuda", "cpu"), min_length=1, description="First available wins; logged at start."
    )
    tensorrt_fp16: bool = Field(
        True, description="Let TensorRT (execution provider or native engine) use fp16."
    )
    tensorrt_int8: bool = Field(
        False, description="Use a native int8 engine when build-engine --int8 has cached one."
    )
    worker_nice: Integer = Field(
        10,
        ge=0,
        le=19,
        description="Added to the nice value of the inference workers and ONNX Runtime's intra-op "
        "threads (Linux): with the cores busy, the event loop, the cameras and alerts run first; 0: the "
        "same priority.",
    )
    stuck_after_s: Timeout = Field(
        30.0, description="A worker inside one batch this long counts as wedged: watchdog pings stop."
    )


class AdmissionConfig(Section):
    rate_per_s: PositiveFloat = Field(200.0, description="Per-client token bucket refill rate.")
    burst: Integer = Field(50, ge=1, description="Per-client token bucket size.")
    high_watermark: Number = Field(0.8, gt=0, le=1, description="Queue fill above which requests get 503.")
    max_queue_wait_ms: Number | None = Field(
        None,
        gt=0,
        le=HOUR_S * 1000,
        description="Longest expected wait for a worker a request is admitted with (503 beyond it, "
        "before the body is read); null: the model's own measured time per item, down to a quarter "
        "of it while twice the demand the workers serve keeps them busy, which keeps admitted "
        "latency within about twice the unloaded latency.",
    )


class MqttConfig(Section):
    url: str = Field(description="mqtt://host[:port] or mqtts://host[:port].")
    username: str | None = None
    password_file: FilePath | None = None
    ca_file: FilePath | None = None
    cert_file: FilePath | None = Field(None, description="Client certificate (optional, with key_file).")
    key_file: FilePath | None = None
    client_id: str | None = Field(None, description="Default: edge-gateway-{device_id}.")
    protocol: Literal["5", "3.1.1"] = "5"
    keepalive_s: Integer = Field(
        30, ge=5, le=65535, description="MQTT keepalive; the protocol carries it in 16 bits."
    )
    topic_prefix: TopicPrefix = "edge"
    signing_key_file: FilePath | None = Field(
        None, description="HMAC key; generated into state_dir if absent."
    )
    max_inflight: Integer = Field(64, ge=1, le=65535, description="Unacknowledged alerts in flight, at most.")
    reconnect_min_s: Interval = Field(0.5, description="First wait before reconnecting to the broker.")
    reconnect_max_s: Interval = Field(
        30.0, description="Longest wait between reconnects (the backoff's cap)."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise ValueError(f"must be mqtt://host[:port] or mqtts://host[:port]: {exc}") from exc
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must be mqtt://host[:port] or mqtts://host[:port]")
        # The client connects to parts.port at start; a bad one must fail here, not in serve.
        checked_port(value, parts)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class EvidenceConfig(Section):
    enabled: bool = Field(
        True, description="Start and instant alerts carry the frame that fired them, as a signed JPEG."
    )
    jpeg_quality: Integer = Field(85, ge=1, le=100, description="JPEG quality of evidence images.")
    max_width: Integer = Field(
        1280, ge=16, description="Wider frames are scaled down to this width (aspect ratio kept)."
    )


class OutboxConfig(Section):
    retention_s: Number = Field(
        7 * 24 * 3600.0,
        gt=0,
        le=RETENTION_S,
        description="Delivered alerts kept this long (ten years at most).",
    )
    max_bytes: Integer = Field(
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
    camera_down_after_s: Interval = Field(
        60.0,
        description="An enabled camera not streaming, or whose frames one of its models fails, for this "
        "long makes /v1/status unhealthy (the watchdog is not affected: the camera's reader keeps "
        "reconnecting on its own, and a model that appears is used from its next frame).",
    )


class AuditBoundsConfig(Section):
    """What the audit store keeps that no device signed (``gateway.audit.bounds``): images that
    arrived before their alert, and rejected messages; past a bound the oldest are dropped, logged
    and counted."""

    held_images_per_device: Integer = Field(
        1000, ge=1, description="Images held for alerts not yet arrived, per device."
    )
    held_bytes_per_device: Integer = Field(
        256 * 2**20, ge=1, description="Bytes of images held for alerts not yet arrived, per device."
    )
    held_images: Integer = Field(20_000, ge=1, description="Images held for alerts not yet arrived, in all.")
    held_bytes: Integer = Field(
        2 * 2**30, ge=1, description="Bytes of images held for alerts not yet arrived, in all."
    )
    rejected_per_device: Integer = Field(1000, ge=1, description="Rejected messages kept, per device.")
    rejected_bytes_per_device: Integer = Field(
        64 * 2**20, ge=1, description="Bytes of rejected messages kept, per device."
    )
    rejected: Integer = Field(100_000, ge=1, description="Rejected messages kept, in all.")
    rejected_bytes: Integer = Field(2 * 2**30, ge=1, description="Bytes of rejected messages kept, in all.")


DEFAULT_AUDIT_CLIENT_ID = "edge-gateway.audit"
"""Not ``edge-gateway-audit``: that is the client id of a gateway whose device id is ``audit``
(``edge-gateway-{device_id}``), and the broker closes one of two connections sharing an id each
time the other connects. No gateway's default client id starts with ``edge-gateway.``."""


class AuditConfig(Section):
    """``edge-gateway audit serve``: the cloud-side subscriber."""

    mqtt: MqttConfig
    database: str = Field("sqlite:///audit.db", description="sqlite:///path or postgresql://...")
    keys_file: FilePath = Field(
        description="YAML or JSON mapping device_id -> hex HMAC key, or a list of keys (current first)."
    )
    share_group: Identifier = Field("audit", description="MQTT v5 $share group name.")
    client_id: Identifier = Field(
        DEFAULT_AUDIT_CLIENT_ID,
        description="MQTT client id of this instance; each instance needs its own. The default can be "
        "no gateway's default (edge-gateway-{device_id}).",
    )
    replay_after_s: Interval = Field(5.0, description="A gap older than this is asked for again.")
    session_expiry_s: Integer = Field(
        7 * 24 * 3600,
        ge=0,
        le=0xFFFFFFFF,
        description="How long the broker keeps queueing alerts for this subscriber while it is offline.",
    )
    max_batch: Integer = Field(
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
    metrics_port: Integer | None = Field(
        None, ge=0, le=65535, description="Serve Prometheus metrics on this port; absent: no endpoint."
    )
    bounds: AuditBoundsConfig = Field(
        AuditBoundsConfig(),
        description="How much the store keeps of what no device signed (held images, rejected messages).",
    )
