"""The whole gateway's config and the embedded default the gateway runs without a file."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import (
    Field,
    model_validator,
)

from gateway.config.camera import CameraConfig, ConfigPathError
from gateway.config.fields import FilePath, Identifier, Section
from gateway.config.service import (
    AdmissionConfig,
    HealthConfig,
    HttpConfig,
    InferenceConfig,
    ModelsConfig,
    MqttConfig,
    OutboxConfig,
)
from gateway.errors import ConfigError, ConfigProblem

MAX_CAMERAS = 256
"""Most cameras one gateway may run: each is a reader thread and a decoder, and a real site runs
some 64 on one box."""


class GatewayConfig(Section):
    device_id: Identifier = Field(default_factory=socket.gethostname)
    state_dir: FilePath = Path("/var/lib/edge-gateway")
    http: HttpConfig = HttpConfig()
    models: ModelsConfig = ModelsConfig()
    inference: InferenceConfig = InferenceConfig()
    admission: AdmissionConfig = AdmissionConfig()
    cameras: list[CameraConfig] = Field(default_factory=list, max_length=MAX_CAMERAS)
    mqtt: MqttConfig | None = None
    outbox: OutboxConfig = OutboxConfig()
    health: HealthConfig = HealthConfig()

    @model_validator(mode="after")
    def _unique_cameras(self) -> GatewayConfig:
        first: dict[str, int] = {}
        for index, camera in enumerate(self.cameras):
            earlier = first.setdefault(camera.id, index)
            if earlier != index:
                # At the repeated id's own line: with many cameras the list's line finds neither.
                raise ConfigPathError(
                    ("cameras", index, "id"),
                    f"camera ids must be unique: {camera.id!r} is also the id of cameras[{earlier}]",
                )
        return self


DEFAULT_MODELS = Path("models")
DEMO_CLIP = Path("build") / "demo" / "clip.mp4"


def _base(root: Path | None) -> Path:
    """``root``, or the working directory; ConfigError when that was deleted under the shell (a
    checkout removed and cloned again): Path.cwd raised FileNotFoundError, a traceback."""
    if root is not None:
        return root
    try:
        return Path.cwd()
    except FileNotFoundError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    "<embedded default config>",
                    None,
                    "",
                    "the working directory no longer exists (deleted?), and the embedded default's paths "
                    "are relative to it: cd into the checkout again, or give --config",
                )
            ]
        ) from exc


def default_config(root: Path | None = None) -> GatewayConfig:
    """The embedded default: the shipped demo clip as a camera, the shipped face detector, alerts to
    the local outbox, API on 127.0.0.1:8080. Paths are relative to ``root`` (the checkout)."""
    base = _base(root)
    return GatewayConfig.model_validate(
        {
            "device_id": "demo",
            "state_dir": base / "state",
            "models": {"repository": base / DEFAULT_MODELS},
            "cameras": [
                {
                    "id": "demo",
                    "url": str(base / DEMO_CLIP),
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


def missing_from_checkout(root: Path | None = None) -> list[Path]:
    """What the embedded default reads from ``root`` (the working directory when None) and it lacks:
    the set-up builds the models and the demo clip in a checkout."""
    base = _base(root)
    return [path for path in (DEFAULT_MODELS, DEMO_CLIP) if not (base / path).exists()]
