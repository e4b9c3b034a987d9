"""Which service-wide settings a reload applies and which wait for a restart
(``gateway.pipeline.service_changes``): each restart-only change named, values shown but for those
that may carry credentials; the reloadable ones (``health``, ``inference.stuck_after_s``) applied."""

from __future__ import annotations

from typing import Any

from gateway.config import GatewayConfig
from gateway.pipeline.service_changes import in_force, restart_only_changes

CAMERA = {"id": "gate", "url": "rtsp://127.0.0.1/gate", "model": "detector"}


def config(**sections: Any) -> GatewayConfig:
    return GatewayConfig.model_validate({"device_id": "box", "state_dir": "/srv/state", **sections})


def test_an_unchanged_config_waits_for_nothing() -> None:
    assert restart_only_changes(config(), config()) == []


def test_reloadable_settings_are_applied_and_the_others_kept() -> None:
    built = config(http={"port": 8080})
    requested = config(
        device_id="renamed",
        http={"port": 9090},
        health={"camera_down_after_s": 5},
        inference={"stuck_after_s": 7, "workers": 3},
        cameras=[CAMERA],
    )

    applied = in_force(built, requested, requested.cameras)

    assert restart_only_changes(built, requested) == [
        "device_id box -> renamed",
        "http.port 8080 -> 9090",
        "inference.workers none -> 3",
    ]
    assert (applied.device_id, applied.http.port, applied.inference.workers) == ("box", 8080, None)
    assert applied.health.camera_down_after_s == 5
    assert applied.inference.stuck_after_s == 7
    assert applied.cameras == requested.cameras


def test_an_mqtt_section_added_removed_or_moved_is_named_without_its_credentials() -> None:
    plain = config()
    broker = config(mqtt={"url": "mqtt://user:secret@127.0.0.1:1883", "username": "user"})
    moved = config(mqtt={"url": "mqtt://user:other@127.0.0.1:1884", "username": "user", "keepalive_s": 60})

    assert restart_only_changes(plain, broker) == ["mqtt added"]
    assert restart_only_changes(broker, plain) == ["mqtt removed"]
    assert restart_only_changes(broker, moved) == ["mqtt.url changed", "mqtt.keepalive_s 30 -> 60"]
