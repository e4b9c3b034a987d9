"""A reload while the alert decider is behind (the outbox refusing commits, so the decider waits on
it) must not stop the gateway: the new rules keep their place in the decider's queue and apply,
handing over or ending the open events, once it gets there.

Before, ``Gateway.reload`` waited ``RELOAD_TIMEOUT_S`` for the decider and let the TimeoutError out,
through SIGHUP's handler, out of ``serve``: a SIGHUP during a disk-full episode stopped the gateway.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import GatewayConfig
from gateway.decider import AlertDecider
from gateway.domain import Alert, Detection, EndReason, ModelState, ModelVersionStatus
from gateway.pipeline import gateway as gateway_module
from gateway.pipeline.gateway import Gateway
from gateway.pipeline.specs import rule_specs
from gateway.tracking import TrackerSpec
from tests.unit.test_decider import Clock, FakeSink, wait_until
from tests.unit.test_decider import result as frame_result

PERSON_BOX = (0.4, 0.4, 0.6, 0.8)
OTHER_BOX = (0.0, 0.5, 0.1, 0.9)


def config(*rules: str) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "device_id": "behind",
            "cameras": [
                {
                    "id": "gate",
                    "url": "rtsp://127.0.0.1/stream",
                    "model": "detector",
                    "rules": [
                        {"name": name, "labels": ["person"], "min_frames": 1, "cooldown_s": 0}
                        for name in rules
                    ],
                }
            ],
        }
    )


class FakeRepository:
    def poll(self) -> None:
        pass

    def statuses(self) -> list[ModelVersionStatus]:
        return [
            ModelVersionStatus("detector", 1, ModelState.READY, None, "onnxruntime_onnx", None, (), (), 1)
        ]

    def config_of(self, _name: str) -> None:
        return None


class FakeInference:
    repository = FakeRepository()


class FakeCameras:
    def __init__(self) -> None:
        self.geometry: list[Any] = []

    def apply_reload(self, cameras: Any) -> None:
        self.geometry.append(cameras)


def test_a_reload_the_decider_cannot_take_yet_is_applied_when_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_module, "RELOAD_TIMEOUT_S", 0.2)
    before = config("kept", "gone")
    sink, clock = FakeSink(capacity=1), Clock()
    decider = AlertDecider(
        sink,
        rule_specs(before.cameras),
        announce=lambda _alert: None,
        registry=CollectorRegistry(),
        clock=clock,
        trackers={"gate": TrackerSpec(confirm_hits=1)},
    )
    cameras = FakeCameras()
    gateway = Gateway(
        before,
        inference=cast(Any, FakeInference()),
        outbox=cast(Any, None),
        publisher=None,
        decider=decider,
        cameras=cast(Any, cameras),
        registry=CollectorRegistry(),
    )
    decider.start()
    # Given: the disk refuses; the starts of a first person wait in the full outbox, and the decider
    # waits on it with the starts of a second one.
    sink.refusing = True
    decider.submit(frame_result(1.0, Detection("person", 0.9, PERSON_BOX)))
    decider.submit(
        frame_result(1.2, Detection("person", 0.9, PERSON_BOX), Detection("person", 0.9, OTHER_BOX))
    )
    assert wait_until(lambda: sink.blocked)
    # When: a reload removes "gone" while the decider cannot take it.
    after = config("kept")
    gateway.reload(after)
    # Then: the gateway goes on with the new config in force...
    assert gateway.config.cameras == after.cameras
    assert len(cameras.geometry) == 1
    # ... and once commits succeed again the reload reaches the decider: "gone" ends, paired.
    sink.space_returns()
    assert decider.stop(5.0)
    committed: list[Alert] = sink.committed
    ends = sorted((alert.event.rule, alert.event.end_reason) for alert in committed if alert.event.end_reason)
    assert ends == [("gone", EndReason.RULE_CHANGED)] * 2 + [("kept", EndReason.STOPPED)] * 2
    starts = sorted(alert.event.event_id for alert in committed if alert.event.kind.value == "start")
    assert starts == sorted(alert.event.event_id for alert in committed if alert.event.end_reason)
