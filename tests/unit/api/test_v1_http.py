"""/v1/detect, cameras, events, /metrics and the debug routes over real HTTP."""

from __future__ import annotations

import dataclasses
import struct
import tracemalloc

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gateway.domain import AlertEvent, AlertKind, CameraStatus, ModelRef
from gateway.protocol.alerts import ZERO_HASH, build_alert
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeBackend, FakeCameras, FakeEvents
from tests.unit.api.harness import ServedApi


def encoded(extension: str) -> tuple[bytes, npt.NDArray[np.uint8]]:
    image = np.zeros((24, 32, 3), dtype=np.uint8)
    image[4:12, 8:20] = (255, 128, 0)
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes(), image


def test_detect_decodes_png_and_returns_detections(api: ServedApi, backend: FakeBackend) -> None:
    data, image = encoded(".png")
    reply = api.request("POST", "/v1/detect?model=affine:1", data, {"Content-Type": "image/png"})
    assert reply.status == 200, reply.body
    assert reply.json() == {
        "model": {"name": "affine", "version": 1},
        "detections": [{"label": "person", "score": 0.9, "box": [0.1, 0.2, 0.3, 0.4], "track_id": None}],
        "anomaly_score": 0.25,
    }
    assert np.array_equal(backend.images[0], image), "PNG is lossless: the backend sees the exact pixels"


def test_detect_takes_the_model_from_the_header(api: ServedApi, backend: FakeBackend) -> None:
    data, _ = encoded(".jpg")
    reply = api.request("POST", "/v1/detect", data, {"X-Model-Name": "affine"})
    assert reply.status == 200, reply.body
    assert reply.json()["model"] == {"name": "affine", "version": 2}
    assert backend.images[0].shape == (24, 32, 3)


def test_detect_refuses_a_parameter_it_does_not_take(api: ServedApi, backend: FakeBackend) -> None:
    # Skipped, a threshold other APIs take answered as if it had been applied
    data, _ = encoded(".jpg")
    reply = api.request("POST", "/v1/detect?model=affine&min_score=0.8", data, {"Content-Type": "image/jpeg"})
    assert reply.status == 400
    assert reply.json()["error"] == "unknown query parameter 'min_score': /v1/detect takes model"
    reply = api.request("POST", "/v1/detect?modle=affine", data, {"Content-Type": "image/jpeg"})
    assert reply.json()["error"] == (
        "unknown query parameter 'modle' (did you mean 'model'?): /v1/detect takes model"
    )
    assert backend.images == []


def declaring(data: bytes, width: int, height: int) -> bytes:
    """The PNG with its header's size replaced (its checksum no longer matches: nothing decodes it)."""
    return data[:16] + struct.pack(">II", width, height) + data[24:]


def jpeg_declaring(width: int, height: int) -> bytes:
    """A JPEG whose start-of-frame says this size, behind a byte a decoder skips."""
    data, _ = encoded(".jpg")
    start_of_frame = data.index(b"\xff\xc0")
    frame = data[start_of_frame : start_of_frame + 5] + struct.pack(">HH", height, width)
    return data[:start_of_frame] + b"\x00" + frame + data[start_of_frame + 9 :]


def test_detect_rejects_what_it_cannot_use(api: ServedApi, backend: FakeBackend) -> None:
    data, _ = encoded(".png")
    cases = [
        ("/v1/detect", data, 400, "name the model"),
        ("/v1/detect?model=bad%20name", data, 400, "a model name is 1 to 64"),
        ("/v1/detect?model=affine:0", data, 400, "positive integer"),
        ("/v1/detect?model=affine", b"", 400, "empty"),
        ("/v1/detect?model=affine", b"GIF89a....", 415, "a GIF image; /v1/detect takes JPEG or PNG"),
        ("/v1/detect?model=affine", b"<html></html>", 400, "not a JPEG or PNG image (it starts with"),
        ("/v1/detect?model=affine", data[: len(data) // 3], 400, "bytes into it (truncated or corrupt)"),
        ("/v1/detect?model=ghost", data, 404, "ghost"),
        ("/v1/detect?model=affine:3", data, 503, "failed"),
        # A PNG of about a megabyte can hold this many (1.2 GB decoded): refused from its header.
        (
            "/v1/detect?model=affine",
            declaring(data, 20_000, 20_000),
            400,
            "20000 x 20000 pixels, over the 50",
        ),
        # Behind a byte a decoder skips, which once hid the size.
        ("/v1/detect?model=affine", jpeg_declaring(30_000, 30_000), 400, "30000 x 30000 pixels"),
        ("/v1/detect?model=affine", data[:20], 400, "header does not say its size"),
    ]
    for path, body, status, fragment in cases:
        reply = api.request("POST", path, body)
        assert reply.status == status, (path, reply.body)
        assert fragment in reply.json()["error"], (path, reply.body)
    assert backend.images == []


def test_cameras_and_snapshots(make_api: ApiFactory) -> None:
    cameras = FakeCameras()
    api = make_api(cameras=cameras)
    listing = api.get("/v1/cameras").json()["cameras"]
    assert listing == [
        {
            "id": "gate",
            "url": "rtsp://10.0.0.5/stream1",
            "state": "streaming",
            "fps_in": 25.0,
            "fps_processed": 5.0,
            "drops": {"superseded": 3},
            "reconnects": 1,
            "last_error": None,
            "last_frame_at": 1_764_000_000.5,
            "detections": [{"label": "person", "score": 0.75, "box": [0.1, 0.5, 0.2, 0.9], "track_id": 42}],
            "motion": {"changed": 0.0031, "min_area": 0.002},
        }
    ]
    assert api.get("/v1/cameras/gate").json()["state"] == "streaming"
    reply = api.get("/v1/cameras/yard")
    assert reply.status == 404
    assert reply.json()["error"] == "unknown camera 'yard' (cameras: gate)"
    reply = api.get("/v1/cameras/gaet/snapshot.jpg")
    assert reply.status == 404
    assert reply.json()["error"] == "unknown camera 'gaet' (did you mean 'gate'? cameras: gate)"
    snapshot = api.get("/v1/cameras/gate/snapshot.jpg")
    assert snapshot.status == 200
    assert snapshot.headers["Content-Type"] == "image/jpeg"
    assert snapshot.body == cameras.jpeg
    assert api.get("/v1/cameras/gate/snapshot.jpg?motion=1&at=17").status == 200
    assert api.get("/v1/cameras/gate/snapshot.jpg?motion=false").status == 200
    assert cameras.motion_asked == [False, True, False]
    reply = api.get("/v1/cameras/gate/snapshot.jpg?motion=1&motion=1")
    assert reply.status == 400
    assert reply.json()["error"] == "motion is given 2 times: give it once"
    assert api.get("/v1/cameras/yard/snapshot.jpg").status == 404
    cameras.jpeg = None
    reply = api.get("/v1/cameras/gate/snapshot.jpg")
    assert reply.status == 404
    assert "not delivered a frame" in reply.json()["error"]


def test_a_snapshot_is_scaled_to_the_longest_side_asked_for(make_api: ApiFactory) -> None:
    cameras = FakeCameras()
    api = make_api(cameras=cameras)
    for query in ("", "?longest_side=640&at=17", "?longest_side=16", "?longest_side=65535"):
        assert api.get("/v1/cameras/gate/snapshot.jpg" + query).status == 200
    assert cameras.longest_sides_asked == [None, 640, 16, 65535]


@pytest.mark.parametrize("value", ["0", "15", "65536", "-5", "1e3", "640px", "", "99999999999999999999"])
def test_a_snapshots_longest_side_that_is_not_a_size_is_a_400_naming_it(
    make_api: ApiFactory, value: str
) -> None:
    cameras = FakeCameras()
    reply = make_api(cameras=cameras).get(f"/v1/cameras/gate/snapshot.jpg?longest_side={value}")
    assert reply.status == 400
    assert reply.json()["error"] == (
        f"longest_side must be a whole number of pixels from 16 to 65535, got {value!r}"
    )
    assert cameras.longest_sides_asked == []


def test_a_snapshots_longest_side_given_twice_is_a_400(make_api: ApiFactory) -> None:
    reply = make_api(cameras=FakeCameras()).get(
        "/v1/cameras/gate/snapshot.jpg?longest_side=64&longest_side=32"
    )
    assert reply.status == 400
    assert reply.json()["error"] == "longest_side is given 2 times: give it once"


def test_without_cameras_or_events_lists_are_empty(api: ServedApi) -> None:
    assert api.get("/v1/cameras").json() == {"cameras": []}
    assert api.get("/v1/cameras/gate").status == 404
    assert api.get("/v1/events").json() == {"events": [], "next_before": None}


def test_events_are_alert_v2_json(make_api: ApiFactory) -> None:
    event = AlertEvent(
        event_id="gate:intrusion:1",
        kind=AlertKind.START,
        camera_id="gate",
        rule="intrusion",
        label="person",
        score=0.8,
        zone="yard",
        box=(0.1, 0.2, 0.3, 0.4),
        frame_ts=1_764_000_000.25,
        model=ModelRef("person-detector", 2),
    )
    alert = build_alert("jetson-01", 1, event, ZERO_HASH, b"k" * 32)
    events = FakeEvents([alert])
    api = make_api(events=events)
    (payload,) = api.get("/v1/events?limit=5&camera=gate").json()["events"]
    assert events.asked == [(6, "gate")]  # one more than shown: whether an older page exists
    assert payload["schema"] == "edge-gateway.alert.v2"
    assert payload["alert_id"] == "jetson-01:1"
    assert payload["frame_ts"] == "2025-11-24T16:00:00.250000Z"
    assert payload["hash"] == alert.hash
    assert payload["sig"] == alert.sig
    for bad in ("0", "abc", "100000", "%C2%B2", "9" * 5000):
        reply = api.get(f"/v1/events?limit={bad}")
        assert reply.status == 400
        assert "limit" in reply.json()["error"]


def test_events_page_back_with_before(make_api: ApiFactory) -> None:
    events = FakeEvents()
    api = make_api(events=events)
    assert api.get("/v1/events?limit=5&before=42").status == 200
    assert api.get("/v1/events").status == 200
    assert events.before == [42, None]
    for bad in ("0", "-1", "abc", "%C2%B2", str(2**63), "9" * 5000):
        reply = api.get(f"/v1/events?before={bad}")
        assert reply.status == 400
        assert "before" in reply.json()["error"]


def test_metrics_route_serves_the_registry_it_was_given(api: ServedApi) -> None:
    api.get("/v2")
    reply = api.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert (
        'edge_gateway_http_requests_total{method="GET",route="/v2",status="200"} 1.0' in reply.body.decode()
    )


def test_debug_threads_and_memory(api: ServedApi) -> None:
    threads = api.get("/debug/threads").json()["threads"]
    names = {thread["name"] for thread in threads}
    assert {"MainThread", "api-test-loop"} <= names
    loop_thread = next(thread for thread in threads if thread["name"] == "api-test-loop")
    assert any("run_forever" in line for line in loop_thread["stack"])
    memory = api.get("/debug/memory").json()
    assert memory["tracing"] is False
    assert "PYTHONTRACEMALLOC" in memory["message"]


def test_debug_memory_lists_top_allocations_when_tracing(api: ServedApi) -> None:
    tracemalloc.start()
    try:
        memory = api.get("/debug/memory").json()
    finally:
        tracemalloc.stop()
    assert memory["tracing"] is True
    assert memory["top"]
    assert {"where", "bytes", "count"} <= set(memory["top"][0])


class ManyCameras(FakeCameras):
    def cameras(self) -> list[CameraStatus]:
        return [dataclasses.replace(self.status, camera_id=f"camera-{number:02d}") for number in range(20)]


def test_an_unknown_cameras_404_names_at_most_sixteen_cameras(make_api: ApiFactory) -> None:
    reply = make_api(cameras=ManyCameras()).get("/v1/cameras/camra-05/snapshot.jpg")
    assert reply.status == 404
    listed = ", ".join(f"camera-{number:02d}" for number in range(16))
    assert reply.json()["error"] == (
        f"unknown camera 'camra-05' (did you mean 'camera-05'? cameras: {listed} and 4 more)"
    )
