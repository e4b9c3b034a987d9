"""Every answer of the gateway's API carries ``X-Content-Type-Options: nosniff``, and those carrying
alerts, config or the gateway's state ``Cache-Control: no-store``, whoever answers: a handler, an
error, aiohttp's own 404, ``/metrics``, or the front door below aiohttp. Only the page assets had
them: ``/v1/events/{seq}``, which the console's "Raw signed alerts" link opens in a tab of its own,
and the camera's geometry could be kept in the browser's disk cache after a logout. Answers that
set their own caching keep it (an asset is revalidated by its ETag)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.domain import CameraState
from tests.support.console_app import OneCamera, alerts, console_app
from tests.unit.api.harness import ServedApi
from tests.unit.api.test_front_door import Client, by_aiohttp, post

NO_STORE = ("/v1/cameras", "/v1/cameras/gate", "/v1/cameras/gate/geometry", "/v1/cameras/gate/snapshot.jpg",
            "/v1/events", "/v1/events/1", "/v1/events/1/evidence.jpg", "/v1/events/x", "/v1/nothing",
            "/metrics", "/v1/session", "/v2/models/affine")  # fmt: skip


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedApi]:
    config = tmp_path / "gateway.yaml"
    config.write_text("cameras:\n  - id: gate\n    url: rtsp://10.0.0.5/stream1\n")
    with console_app(
        OneCamera("gate", CameraState.STREAMING, b"\xff\xd8\xff\xd9"),
        config,
        alerts("gate", "r", "person", 1),
    ) as api:
        yield api


@pytest.mark.parametrize("path", NO_STORE)
def test_an_answer_of_alerts_config_state_or_an_error_is_nosniff_and_no_store(
    served: ServedApi, path: str
) -> None:
    reply = served.get(path)
    assert (reply.headers.get("X-Content-Type-Options"), reply.headers.get("Cache-Control")) == (
        "nosniff",
        "no-store",
    ), (reply.status, dict(reply.headers))


def test_a_page_asset_keeps_its_own_caching(served: ServedApi) -> None:
    reply = served.get("/console/app.js")
    assert reply.status == 200
    assert (reply.headers["X-Content-Type-Options"], reply.headers["Cache-Control"]) == (
        "nosniff",
        "no-cache",
    )


def test_the_front_doors_inference_answer_carries_them_too(api: ServedApi) -> None:
    client = Client(api)
    client.send(post())
    status, headers, _ = client.response()
    client.close()
    assert status == 200
    assert not by_aiohttp(headers), "answered by aiohttp, not the front door"
    assert (headers["x-content-type-options"], headers["cache-control"]) == ("nosniff", "no-store")
