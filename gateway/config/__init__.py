"""The gateway's configuration: validated once, frozen, with errors that point at file:line.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting.
Runtime state (camera toggles, model readiness) never lives here.
"""

from gateway.config.camera import (
    ANOMALY_RULE,
    DURATION_RULES,
    AnomalyConfig,
    CameraConfig,
    ConfigPathError,
    EventTiming,
    MotionConfig,
    RuleConfig,
    RuleType,
    TrackerConfig,
)
from gateway.config.expansion import EXPANDABLE
from gateway.config.fields import IDENTIFIER, Fraction, ModelReferenceField, Point, PositiveFloat, Section
from gateway.config.gateway import GatewayConfig, default_config, missing_from_checkout
from gateway.config.loading import (
    EmptyConfigError,
    holds_no_document,
    load_audit_config,
    load_config,
    load_config_source,
    parse_config,
    parse_config_source,
    read_config_stream,
    read_config_text,
    refuse_empty,
)
from gateway.config.locations import ConfigSource
from gateway.config.service import (
    AdmissionConfig,
    AuditConfig,
    EvidenceConfig,
    HealthConfig,
    HttpConfig,
    InferenceConfig,
    ModelsConfig,
    MqttConfig,
    OutboxConfig,
    ProviderName,
)
from gateway.config.text_file import read_named_text, read_text_file
from gateway.config.zones import LineConfig, ZoneConfig

__all__ = [
    "ANOMALY_RULE",
    "DURATION_RULES",
    "EXPANDABLE",
    "IDENTIFIER",
    "AdmissionConfig",
    "AnomalyConfig",
    "AuditConfig",
    "CameraConfig",
    "ConfigPathError",
    "ConfigSource",
    "EmptyConfigError",
    "EventTiming",
    "EvidenceConfig",
    "Fraction",
    "GatewayConfig",
    "HealthConfig",
    "HttpConfig",
    "InferenceConfig",
    "LineConfig",
    "ModelReferenceField",
    "ModelsConfig",
    "MotionConfig",
    "MqttConfig",
    "OutboxConfig",
    "Point",
    "PositiveFloat",
    "ProviderName",
    "RuleConfig",
    "RuleType",
    "Section",
    "TrackerConfig",
    "ZoneConfig",
    "default_config",
    "holds_no_document",
    "load_audit_config",
    "load_config",
    "load_config_source",
    "missing_from_checkout",
    "parse_config",
    "parse_config_source",
    "read_config_stream",
    "read_config_text",
    "read_named_text",
    "read_text_file",
    "refuse_empty",
]
