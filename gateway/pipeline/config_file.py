"""The config file a running gateway was started with: SIGHUP reloads and console geometry edits.

Both end in ``Gateway.reload``; one lock orders them, so a SIGHUP that arrives during a console
save reloads the file as saved, and two saves never interleave their read-modify-write of the file.
A console save validates the whole file with the new geometry before writing a byte, writes it
atomically (``gateway.config_edit``), then applies it as SIGHUP would.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from gateway.api.ports import ConfigReadOnlyError
from gateway.config import (
    CameraConfig,
    GatewayConfig,
    LineConfig,
    ZoneConfig,
    load_config,
    parse_config,
    read_config_text,
)
from gateway.config_edit import read_only_reason, replace_geometry, write_atomically
from gateway.errors import ConfigError, ConfigProblem

logger = logging.getLogger(__name__)


class ConfigFile:
    """Implements ``gateway.api.ports.GeometryEditor``; ``path`` None is the embedded default.
    ``running`` gives the config in force, ``apply`` puts a new one in force (``Gateway.reload``)."""

    def __init__(
        self,
        path: Path | None,
        running: Callable[[], GatewayConfig],
        apply: Callable[[GatewayConfig], None],
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._running = running
        self._apply = apply
        self._path = path
        self._environment = environment
        self._lock = threading.Lock()

    def reload(self) -> None:
        """SIGHUP: the file as it is now; a file that does not validate leaves the running config."""
        with self._lock:
            try:
                config = (
                    load_config(self._path, self._environment) if self._path is not None else self._running()
                )
            except ConfigError as exc:
                logger.error("reload refused, the running config stays:\n%s", exc)
                return
            self._apply(config)

    def read_only_reason(self) -> str | None:
        return read_only_reason(self._path)

    def camera_config(self, camera_id: str) -> CameraConfig | None:
        return next((camera for camera in self._running().cameras if camera.id == camera_id), None)

    def save_geometry(
        self, camera_id: str, zones: Sequence[ZoneConfig], lines: Sequence[LineConfig]
    ) -> CameraConfig:
        with self._lock:
            reason = read_only_reason(self._path)
            if reason is not None or self._path is None:
                raise ConfigReadOnlyError(reason)
            source = str(self._path)
            text = replace_geometry(read_config_text(self._path), camera_id, zones, lines, source)
            config: GatewayConfig = parse_config(text, source, GatewayConfig, self._environment)
            try:
                write_atomically(self._path, text)
            except OSError as exc:
                raise ConfigReadOnlyError(f"the config file {self._path} cannot be written: {exc}") from exc
            logger.info(
                "console saved %d zones and %d lines to %s; applying",
                len(zones),
                len(lines),
                source,
                extra={"camera": camera_id},
            )
            self._apply(config)
        saved = self.camera_config(camera_id)
        if saved is None:  # the file, edited by hand meanwhile, no longer has the camera
            problem = ConfigProblem(str(self._path), None, "cameras", f"no camera {camera_id!r} any more")
            raise ConfigError([problem])
        return saved
