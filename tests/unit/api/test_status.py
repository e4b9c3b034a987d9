"""/v1/status: health, delivery, and the cameras whose scene changed for good (re-enroll hints)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, HttpConfig
from gateway.domain import SceneChange
from tests.unit.api.fakes import FakeBackend, SteadyState
from tests.unit.api.harness import ServedApi


class FakeScenes:
    def __init__(self, changes: Sequence[SceneChange]) -> None:
        self.changes = list(changes)
        self.mismatches: dict[str, str] = {}

    def scene_changes(self) -> Sequence[SceneChange]:
        return self.changes

    def frame_mismatches(self) -> dict[str, str]:
        return dict(self.mismatches)


@pytest.fixture
def served(backend: FakeBackend) -> Iterator[tuple[ServedApi, FakeScenes]]:
    scenes = FakeScenes([])
    app = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=None,
        events=None,
        registry=CollectorRegistry(),
        state=SteadyState(),
        scenes=scenes,
    )
    api = ServedApi(app)
    yield api, scenes
    api.close()


def test_status_lists_no_camera_to_re_enroll_while_every_scene_matches_its_model(
    served: tuple[ServedApi, FakeScenes],
) -> None:
    api, _ = served
    reply = api.get("/v1/status")
    assert reply.status == 200
    document = reply.json()
    assert document["healthy"] is True
    assert document["delivery"]["last_seq"] == 7
    assert document["reenroll"] == []
    assert document["anomaly_unscored"] == []


def test_status_suggests_re_enrolling_a_camera_whose_scene_changed_for_good(
    served: tuple[ServedApi, FakeScenes],
) -> None:
    # Given a parked car that became the new normal on camera gate at t=1700000000
    api, scenes = served
    scenes.changes.append(SceneChange("gate", 1_700_000_000.0, 0.0625, (0.25, 0.5, 0.5, 0.75)))
    # When the status is read
    document = api.get("/v1/status").json()
    # Then it names the camera, since when, how much of the frame, where, and the command to run
    assert document["reenroll"] == [
        {
            "camera": "gate",
            "since": 1_700_000_000.0,
            "changed_share": 0.0625,
            "box": [0.25, 0.5, 0.5, 0.75],
            "command": "edge-gateway enroll --camera gate",
        }
    ]


def test_status_names_cameras_whose_anomaly_frames_are_not_scored_without_failing_health(
    served: tuple[ServedApi, FakeScenes],
) -> None:
    # Given camera gate in night infrared: grey frames for a colour enrollment, not scored
    api, scenes = served
    scenes.mismatches["gate"] = "frames are grey, the anomaly model was enrolled on colour frames"
    # When the status is read
    document = api.get("/v1/status").json()
    # Then it names the camera and why, as information: the gateway stays healthy
    assert document["anomaly_unscored"] == [
        {"camera": "gate", "reason": "frames are grey, the anomaly model was enrolled on colour frames"}
    ]
    assert document["healthy"] is True
    assert document["problems"] == []
