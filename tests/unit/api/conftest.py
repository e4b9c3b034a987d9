"""Fixtures: the real HTTP server around the hand-written fake backend of fakes.py."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.api.ports import EventLog, GeometryEditor
from gateway.config import AdmissionConfig, HttpConfig
from tests.unit.api.fakes import FakeBackend, FakeCameras
from tests.unit.api.harness import ServedApi

ApiFactory = Callable[..., ServedApi]


@pytest.fixture
def backend() -> Iterator[FakeBackend]:
    fake = FakeBackend()
    yield fake
    fake.close()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_api(backend: FakeBackend, registry: CollectorRegistry) -> Iterator[ApiFactory]:
    served: list[ServedApi] = []
    lock = threading.Lock()

    def factory(
        *,
        tokens: frozenset[str] = frozenset(),
        admission: AdmissionConfig | None = None,
        http: HttpConfig | None = None,
        cameras: FakeCameras | None = None,
        events: EventLog | None = None,
        geometry: GeometryEditor | None = None,
    ) -> ServedApi:
        app = create_app(
            http=http or HttpConfig(),
            admission=admission or AdmissionConfig(rate_per_s=10_000, burst=10_000),
            inference=backend,
            cameras=cameras,
            events=events,
            registry=registry,
            tokens=tokens,
            geometry=geometry,
        )
        api = ServedApi(app)
        with lock:
            served.append(api)
        return api

    yield factory
    for api in served:
        api.close()


@pytest.fixture
def api(make_api: ApiFactory) -> ServedApi:
    return make_api()
