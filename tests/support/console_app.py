"""The real API app with the console, served on 127.0.0.1 for browser tests, over hand-written fakes:
a camera directory whose one camera has any id, state and picture, an event log of given alerts, and
the real config file (``ConfigFile``) behind the zone and line editor; or, for the pages that need
no camera, the app over a steady gateway state alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, GatewayConfig, HttpConfig, parse_config
from gateway.domain import Alert, AlertEvent, AlertKind, CameraState, CameraStatus, EndReason, ModelRef
from gateway.pipeline.config_file import ConfigFile
from tests.unit.api.fakes import FakeBackend, FakeCameras, FakeEvents, SteadyState
from tests.unit.api.harness import ServedApi


class OneCamera(FakeCameras):
    """``FakeCameras`` answering for whatever id its status carries."""

    def __init__(self, camera_id: str, state: CameraState, jpeg: bytes | None) -> None:
        super().__init__()
        self.status = dataclasses.replace(self.status, camera_id=camera_id, state=state)
        self.jpeg = jpeg

    def camera(self, camera_id: str) -> CameraStatus | None:
        return self.status if camera_id == self.status.camera_id else None

    def snapshot_jpeg(
        self, camera_id: str, *, motion: bool = False, longest_side: int | None = None
    ) -> bytes | None:
        return self.jpeg if camera_id == self.status.camera_id else None


def alerts(camera_id: str, rule: str, label: str, events: int) -> list[Alert]:
    """``events`` events of a start and an end each, seq from 1, one second apart."""
    made: list[Alert] = []
    for number in range(events):
        for kind in (AlertKind.START, AlertKind.END):
            event = AlertEvent(
                event_id=f"{camera_id}:{rule}:{number}",
                kind=kind,
                camera_id=camera_id,
                rule=rule,
                label=label,
                score=0.8,
                zone="yard",
                box=(0.1, 0.2, 0.3, 0.4),
                frame_ts=1_764_000_000.0 + len(made),
                model=ModelRef("person-detector", 1),
                end_reason=EndReason.CLEARED if kind is AlertKind.END else None,
            )
            made.append(Alert("probe", len(made) + 1, event, "0" * 64, "1" * 64, "2" * 64))
    return made


class Running:
    """The config in force: what the last save applied."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config

    def apply(self, config: GatewayConfig) -> None:
        self.config = config


@contextmanager
def console_app(
    cameras: FakeCameras,
    config: Path,
    events: Sequence[Alert] = (),
    fake_events: FakeEvents | None = None,
    tokens_file: Path | None = None,
) -> Iterator[ServedApi]:
    """The app on a free port, editing ``config`` through the real ``ConfigFile``; open unless
    ``tokens_file`` is given."""
    running = Running(parse_config(config.read_text()))
    backend = FakeBackend()
    app = create_app(
        http=HttpConfig(tokens_file=tokens_file),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=cameras,
        events=fake_events if fake_events is not None else FakeEvents(events),
        registry=CollectorRegistry(),
        geometry=ConfigFile(config, running=lambda: running.config, apply=running.apply),
    )
    with closing(backend), closing(ServedApi(app)) as api:
        yield api


@contextmanager
def steady_app(backend: FakeBackend) -> Iterator[ServedApi]:
    """The app on a free port with no camera pipeline's cameras and events, over a steady, healthy
    gateway state and ``backend`` (its models), which the caller closes."""
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=None,
        events=None,
        registry=CollectorRegistry(),
        state=SteadyState(),
    )
    with closing(ServedApi(app)) as api:
        yield api
