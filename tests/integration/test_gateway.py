"""``Gateway`` built in-process by its composition root with every real part (file camera playing the
demo clip, the face detector on ONNX Runtime, the decider, the SQLite outbox) and the real API app:
reload handover, a model change that waits for a restart without silencing the camera, a camera on
a model the repository lacks or cannot load, rules following labels the model does not have,
/v1/status naming a camera that stays down, and the embedded default's outbox-only delivery."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.commands.serve import gateway_app
from gateway.config import GatewayConfig
from gateway.domain import AlertKind, DeliveryState
from gateway.pipeline import Gateway
from gateway.protocol.alerts import decode_alert
from tests.support.serve import REPOSITORY, door_camera, face_repository, wait_for
from tests.unit.api.harness import ServedApi

WAIT_S = 90.0
SHIPPED_FACE = REPOSITORY / "models" / "face-detector"


def config_for(tmp_path: Path, cameras: list[dict[str, Any]], **extra: Any) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "device_id": "inproc",
            "state_dir": str(tmp_path / "state"),
            "http": {"port": 0},
            "models": {"repository": str(face_repository(tmp_path))},
            "cameras": cameras,
            **extra,
        }
    )


def demo_camera(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {**door_camera(), "rules": rules}


FACE = {"labels": ["FACE_FEMALE", "FACE_MALE"], "min_score": 0.4, "min_frames": 1, "cooldown_s": 0}


@pytest.fixture
def running() -> Iterator[list[Gateway]]:
    gateways: list[Gateway] = []
    yield gateways
    for gateway in gateways:
        gateway.stop()


def started(running: list[Gateway], config: GatewayConfig, echo: io.StringIO | None = None) -> Gateway:
    """A gateway built from ``config`` and started, stopped at the test's end (``running``)."""
    gateway = Gateway.from_config(config, alert_echo=echo)
    running.append(gateway)
    gateway.start()
    return gateway


def echoed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_reload_keeps_the_surviving_rules_event_and_ends_the_removed_ones(
    tmp_path: Path, running: list[Gateway]
) -> None:
    long = {**FACE, "end_after_s": 20, "update_interval_s": 5}
    kept, removed = {"name": "kept", **long}, {"name": "removed", **long}
    config = config_for(tmp_path, [demo_camera([kept, removed])])
    echo = io.StringIO()
    gateway = started(running, config, echo)

    def both_started() -> bool:
        return {alert["rule"] for alert in echoed(echo) if alert["kind"] == "start"} == {"kept", "removed"}

    wait_for(both_started, "both rules' starts")
    reloaded = GatewayConfig.model_validate(
        {**config.model_dump(mode="json"), "cameras": [demo_camera([kept])]}
    )
    gateway.reload(reloaded)
    gateway.stop()
    running.clear()

    alerts = [decode_alert(line.encode()) for line in echo.getvalue().splitlines()]
    kinds = [
        (alert.event.rule, alert.event.kind) for alert in alerts if alert.event.kind is not AlertKind.UPDATE
    ]
    # "removed" ended at the reload; "kept" went on (no second start) and ended at the stop.
    assert kinds == [
        ("kept", AlertKind.START),
        ("removed", AlertKind.START),
        ("removed", AlertKind.END),
        ("kept", AlertKind.END),
    ]
    assert [alert.seq for alert in alerts] == list(range(1, len(alerts) + 1))


def test_a_reload_that_changes_a_cameras_model_keeps_its_alerts_until_a_restart(
    tmp_path: Path, running: list[Gateway]
) -> None:
    # Given a repository where fd2 is the face detector under another name, and a camera on it,
    config = config_for(tmp_path, [demo_camera([{"name": "face", **FACE}])])
    (config.models.repository / "fd2").symlink_to(REPOSITORY / "models" / "face-detector")
    echo = io.StringIO()
    gateway = started(running, config, echo)
    api = ServedApi(gateway_app(gateway))
    try:
        wait_for(lambda: any(alert["kind"] == "start" for alert in echoed(echo)), "a first start")
        # when a reload asks for fd2 (which only a restart can give the camera's sampler),
        moved = GatewayConfig.model_validate(
            {**config.model_dump(mode="json"), "cameras": [{**demo_camera([{"name": "face", **FACE}]),
                                                             "model": "fd2"}]}
        )  # fmt: skip
        gateway.reload(moved)
        after = len(echoed(echo))
        # then /v1/status names the camera and the change, as a problem until it is applied,
        status = api.get("/v1/status").json()
        assert not status["healthy"]
        (problem,) = status["problems"]
        assert problem.startswith("camera door: restart to apply model face-detector -> fd2;"), problem
        assert gateway.health_problems() == []  # nothing is wedged: the watchdog keeps pinging
        # and the camera keeps alerting under its rules (with fd2's rules it would judge nothing).
        wait_for(
            lambda: any(alert["kind"] == "start" for alert in echoed(echo)[after:]),
            "a start after the reload",
            timeout_s=60,
        )
        # Reverting the file clears the pending change.
        gateway.reload(config)
        assert api.get("/v1/status").json()["problems"] == []
    finally:
        api.close()
    gateway.stop()
    running.clear()
    alerts = echoed(echo)
    assert {alert["model"]["name"] for alert in alerts} == {"face-detector"}
    # No event was orphaned: every start has its end.
    starts = [alert["event_id"] for alert in alerts if alert["kind"] == "start"]
    ends = [alert["event_id"] for alert in alerts if alert["kind"] == "end"]
    assert sorted(starts) == sorted(ends)


def test_a_rule_following_labels_the_model_does_not_have_is_a_status_problem(
    tmp_path: Path, running: list[Gateway], caplog: pytest.LogCaptureFixture
) -> None:
    person = {"name": "person", "labels": ["person"], "min_frames": 1}
    mixed = {"name": "mixed", "labels": ["FACE_MALE", "person"], "min_frames": 1}
    config = config_for(tmp_path, [demo_camera([person, mixed])])
    with caplog.at_level(logging.WARNING, logger="gateway.pipeline.gateway"):
        gateway = started(running, config)
    expected = (
        "camera door: rule person follows labels person that model face-detector does not have "
        "(it can never fire; its labels: FACE_FEMALE, FACE_MALE)"
    )
    assert gateway.degraded() == [expected]
    # Both are logged at start; the rule that still fires on one of its labels is no problem
    said = [record for record in caplog.records if "follows labels" in record.getMessage()]
    assert [record.getMessage() for record in said] == [
        expected,
        "camera door: rule mixed follows labels person that model face-detector does not have "
        "(they never match; its labels: FACE_FEMALE, FACE_MALE)",
    ]
    assert [(getattr(record, "camera", None), getattr(record, "model", None)) for record in said] == [
        ("door", "face-detector")
    ] * 2
    # A reload that fixes the rule clears it; one that brings it back reports it again.
    fixed = GatewayConfig.model_validate(
        {**config.model_dump(mode="json"), "cameras": [demo_camera([{"name": "person", **FACE}])]}
    )
    gateway.reload(fixed)
    assert gateway.degraded() == []
    gateway.reload(config)
    assert gateway.degraded() == [expected]


def test_a_rule_whose_labels_a_reloaded_model_drops_or_brings_back_follows_the_model(
    tmp_path: Path, running: list[Gateway]
) -> None:
    # Given: a rule on the face detector's labels, on a model that reloads on its own when its
    # model.yaml changes. Its labels were checked only at start and at SIGHUP: a model that dropped
    # them left the status healthy, and one that brought them back kept "it can never fire"
    gateway, model, shipped = face_rule_on_faces(tmp_path, running)
    assert gateway.degraded() == []
    # When: the model's labels are narrowed to one the rule does not follow, and it is polled
    narrowed = narrowed_labels(shipped)
    (model / "model.yaml").write_text(narrowed)
    gateway.inference.repository.poll()
    # Then: named at once, without a reload
    assert gateway.degraded() == [
        "camera door: rule face follows labels FACE_FEMALE, FACE_MALE that model faces does not have "
        "(it can never fire; its labels: FEET_EXPOSED)"
    ]
    # And: gone once the model has the labels again
    (model / "model.yaml").write_text(shipped)
    gateway.inference.repository.poll()
    assert gateway.degraded() == []


def test_a_model_yaml_its_versions_do_not_load_with_is_a_status_problem_and_its_labels_are_not_checked(
    tmp_path: Path, running: list[Gateway]
) -> None:
    # Given a rule on the face detector's labels, and a model.yaml rewritten with other labels and a
    # frame size the model file does not take: its reload fails and the version serves as it was
    gateway, model, shipped = face_rule_on_faces(tmp_path, running)
    (model / "model.yaml").write_text(narrowed_labels(shipped).replace("320", "640"))
    gateway.inference.repository.poll()
    # Then the status names the model, the file and why, and the rule is checked against the labels
    # in force (it said "it can never fire" of labels no serving version has)
    (problem,) = gateway.degraded()
    assert problem.startswith(
        f"model faces: {model / 'model.yaml'} is not applied "
        "(version 1 does not load with it: output 'output0'"
    ), problem
    assert problem.endswith("its versions serve with the model.yaml they were loaded with until one applies")
    # And once a model.yaml that loads is written and polled, the problem is gone
    (model / "model.yaml").write_text(shipped)
    gateway.inference.repository.poll()
    assert gateway.degraded() == []


def test_a_camera_on_a_model_the_repository_lacks_is_a_status_problem_until_it_is_installed(
    tmp_path: Path, running: list[Gateway]
) -> None:
    # Given a camera whose model name is misspelt
    config = config_for(tmp_path, [{**demo_camera([{"name": "face", **FACE}]), "model": "face-detecter"}])
    gateway = started(running, config)
    # Then from the start (not after camera_down_after_s) the status names it, with the name meant
    expected = (
        "camera door: model face-detecter is not in the model repository (did you mean face-detector? "
        "models: face-detector); the camera detects nothing until it is"
    )
    assert gateway.degraded() == [expected]
    assert gateway.health_problems() == []  # nothing is wedged: the watchdog keeps pinging
    # and once a model by that name is installed and polled, the problem is gone
    (config.models.repository / "face-detecter").symlink_to(REPOSITORY / "models" / "face-detector")
    gateway.inference.repository.poll()
    assert gateway.degraded() == []


def test_a_camera_pinned_to_a_version_the_repository_lacks_is_a_status_problem_until_it_is_added(
    tmp_path: Path, running: list[Gateway]
) -> None:
    # Given a camera pinned to version 2 of a model that has only version 1
    config = config_for(tmp_path, [{**demo_camera([{"name": "face", **FACE}]), "model": "face-detector:2"}])
    gateway = started(running, config)
    # Then from the start the status names it, with the versions there are
    expected = (
        "camera door: model face-detector has no version 2 in the model repository (versions: 1); "
        "the camera detects nothing until it is"
    )
    assert gateway.degraded() == [expected]
    # and once version 2 is added and polled, the problem is gone
    model = config.models.repository / "face-detector"
    model.unlink()
    model.mkdir()
    (model / "model.yaml").symlink_to(SHIPPED_FACE / "model.yaml")
    for version in ("1", "2"):
        (model / version).symlink_to(SHIPPED_FACE / "1")
    gateway.inference.repository.poll()
    assert gateway.degraded() == []


def test_a_camera_whose_model_fails_to_load_is_a_status_problem_until_a_version_loads(
    tmp_path: Path, running: list[Gateway]
) -> None:
    # Given a camera on a model whose only version is no ONNX file
    config = config_for(tmp_path, [{**demo_camera([{"name": "face", **FACE}]), "model": "broken"}])
    model = face_model(config.models.repository / "broken", {"1": False})
    gateway = started(running, config)
    # Then from the start the status says why it detects nothing
    (problem,) = gateway.degraded()
    assert problem.startswith("camera door: model broken:1 failed to load: "), problem
    assert problem.endswith("; the camera detects nothing until a version loads"), problem
    # and once the file is replaced by a model that loads and is polled, the problem is gone
    mend(gateway, model / "1")
    assert gateway.degraded() == []


def test_a_camera_routed_to_a_default_version_that_fails_is_a_status_problem_though_another_loads(
    tmp_path: Path, running: list[Gateway]
) -> None:
    # Given a model whose version 1 loads and whose version 2, its default_version, is no ONNX file
    config = config_for(tmp_path, [{**demo_camera([{"name": "face", **FACE}]), "model": "routed"}])
    routing = "routing: {default_version: 2}\n"
    model = face_model(config.models.repository / "routed", {"1": True, "2": False}, routing)
    gateway = started(running, config)
    # Then the camera, which names no version and is routed to 2, is named from the start
    (problem,) = gateway.degraded()
    assert problem.startswith("camera door: model routed:2 (its default_version) failed to load: "), problem
    assert problem.endswith("; the camera detects nothing until it loads"), problem
    # and once version 2's file loads and is polled, the problem is gone
    mend(gateway, model / "2")
    assert gateway.degraded() == []


def face_rule_on_faces(tmp_path: Path, running: list[Gateway]) -> tuple[Gateway, Path, str]:
    """A started gateway whose camera's rule follows the faces of model ``faces`` (the shipped face
    detector); that model's directory and its model.yaml's text."""
    config = config_for(tmp_path, [{**demo_camera([{"name": "face", **FACE}]), "model": "faces"}])
    model = face_model(config.models.repository / "faces", {"1": True})
    return started(running, config), model, (model / "model.yaml").read_text()


def narrowed_labels(shipped: str) -> str:
    """The face detector's model.yaml keeping a label the face rule does not follow."""
    narrowed = shipped.replace("keep_labels: [FACE_FEMALE, FACE_MALE]", "keep_labels: [FEET_EXPOSED]")
    assert narrowed != shipped
    return narrowed


def face_model(model: Path, versions: dict[str, bool], routing: str = "") -> Path:
    """The shipped face detector's model.yaml (and ``routing`` after it) at ``model``, each version's
    file the shipped model when True, no ONNX file when False."""
    for version, loads in versions.items():
        (model / version).mkdir(parents=True)
        if loads:
            (model / version / "model.onnx").symlink_to(SHIPPED_FACE / "1" / "model.onnx")
        else:
            (model / version / "model.onnx").write_bytes(b"no ONNX file")
    (model / "model.yaml").write_text((SHIPPED_FACE / "model.yaml").read_text() + routing)
    return model


def mend(gateway: Gateway, version: Path) -> None:
    """The version's file replaced by the shipped model, and the repository polled."""
    (version / "model.onnx").unlink()
    (version / "model.onnx").symlink_to(SHIPPED_FACE / "1" / "model.onnx")
    gateway.inference.repository.poll()


def test_status_names_a_camera_that_stays_down_while_the_watchdog_stays_healthy(
    tmp_path: Path, running: list[Gateway]
) -> None:
    down = {"id": "yard", "url": "rtsp://127.0.0.1:1/nothing", "detect_fps": 1, "open_timeout_s": 0.5,
            "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}  # fmt: skip
    config = config_for(tmp_path, [down], health={"camera_down_after_s": 1})
    gateway = started(running, config)
    api = ServedApi(gateway_app(gateway))
    try:
        wait_for(lambda: not api.get("/v1/status").json()["healthy"], "unhealthy", timeout_s=20)
        status = api.get("/v1/status").json()
        (problem,) = status["problems"]
        assert re.match(r"camera yard (failed|connecting) for \d+ s", problem), problem
        assert gateway.health_problems() == []  # the reader keeps retrying; a restart would not help
        assert status["delivery"]["state"] == DeliveryState.OUTBOX_ONLY.value
    finally:
        api.close()


def test_a_publisher_thread_that_ended_while_the_gateway_runs_is_a_health_problem(
    tmp_path: Path, running: list[Gateway]
) -> None:
    # Nothing listens on port 1: the publisher keeps reconnecting, which is no health problem.
    config = config_for(tmp_path, [], mqtt={"url": "mqtt://127.0.0.1:1"})
    gateway = started(running, config)
    assert gateway.publisher is not None
    assert gateway.health_problems() == []
    # Its thread ending under a running gateway (stop() here; an unexpected failure in production)
    # stops the watchdog's pings, so that systemd restarts the service and delivery resumes.
    gateway.publisher.stop()
    assert gateway.health_problems() == ["mqtt-publisher died"]


def test_an_outbox_file_deleted_while_the_gateway_runs_is_a_status_problem(
    tmp_path: Path, running: list[Gateway]
) -> None:
    # SQLite commits on into the deleted file, which is gone once the gateway stops: it was healthy
    gateway = started(running, config_for(tmp_path, []))
    api = ServedApi(gateway_app(gateway))
    try:
        assert api.get("/v1/status").json()["problems"] == []
        (tmp_path / "state" / "outbox.db").unlink()
        status = api.get("/v1/status").json()
        assert not status["healthy"]
        assert status["problems"] == [
            f"outbox {tmp_path / 'state' / 'outbox.db'} was deleted while open: the alerts committed go on "
            "into the old file, which is gone when the gateway stops; stop it and restore the file from a "
            "backup"
        ]
    finally:
        api.close()


def test_uptime_does_not_count_a_wall_clock_step(
    tmp_path: Path, running: list[Gateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = started(running, config_for(tmp_path, []))
    api = ServedApi(gateway_app(gateway))
    try:
        before = api.get("/v1/status").json()
        # When the wall clock steps a day ahead (NTP's first sync on a box without a battery-backed clock)
        wall = time.time
        monkeypatch.setattr(time, "time", lambda: wall() + 86_400.0)
        after = api.get("/v1/status").json()
    finally:
        api.close()
    # Then the uptime goes on from where it was, and the start is told on the new clock
    assert 0.0 <= after["uptime_s"] - before["uptime_s"] < 5.0
    assert 86_400.0 - 5.0 < after["started_at"] - before["started_at"] < 86_400.0 + 5.0
