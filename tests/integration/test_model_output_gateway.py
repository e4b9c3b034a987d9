"""A whole in-process ``Gateway`` (file camera on the demo clip, a real ONNX model built with
onnx.helper on ONNX Runtime, tracker, rules, decider, SQLite outbox) whose detector outputs odd
values on every frame next to one good person: the decider keeps running, the event starts on the
good person and ends at the stop, and every alert is strict JSON with a score and box in 0..1."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import GatewayConfig
from gateway.pipeline import Gateway
from tests.integration.inference.test_model_output_odd_values import LABELS, write_constant_model, yolov8
from tests.support.serve import CLIP, wait_for

WAIT_S = 20.0
NAN, INF = float("nan"), float("inf")
GOOD = (16.0, 16.0, 8.0, 8.0, 0.8, 0.1)


def strict(line: str) -> dict[str, Any]:
    """The alert as JSON that refuses NaN and Infinity tokens (alert v2 is strict JSON)."""

    def refuse(token: str) -> None:
        raise ValueError(f"{token} in an alert: {line}")

    alert: dict[str, Any] = json.loads(line, parse_constant=refuse)
    return alert


@pytest.fixture
def running() -> Iterator[list[Gateway]]:
    gateways: list[Gateway] = []
    yield gateways
    for gateway in gateways:
        gateway.stop()


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param((NAN, 16, 8, 8, 0.9, 0.1), id="nan-box"),
        pytest.param((16, 16, 8, 8, INF, 0.1), id="inf-score"),
        pytest.param((16, 16, 8, 8, 1e30, 0.1), id="huge-score"),
    ],
)
def test_odd_detector_outputs_never_stop_the_decider_nor_reach_an_alert(
    tmp_path: Path, running: list[Gateway], odd: tuple[float, ...]
) -> None:
    # Given a gateway whose detector sees an odd anchor and a good person on every frame
    models = tmp_path / "models"
    write_constant_model(models, "odd", yolov8(odd, GOOD), {"kind": "yolov8", "labels": LABELS})
    config = GatewayConfig.model_validate(
        {
            "device_id": "odd",
            "state_dir": str(tmp_path / "state"),
            "http": {"port": 0},
            "models": {"repository": str(models), "warmup_batches": 0},
            "cameras": [
                {
                    "id": "door",
                    "url": str(CLIP),
                    "detect_fps": 10,
                    "model": "odd",
                    "motion": {"enabled": False},
                    "rules": [{"name": "someone", "labels": ["person"], "min_frames": 1, "cooldown_s": 0}],
                }
            ],
        }
    )
    echo = io.StringIO()
    gateway = Gateway.from_config(config, alert_echo=echo)
    running.append(gateway)

    # When it runs until the event starts, and stops
    gateway.start()
    wait_for(lambda: "start" in echo.getvalue(), "a start alert", timeout_s=WAIT_S)
    assert gateway.health_problems() == []
    gateway.stop()
    running.clear()

    # Then the event started and ended, and every alert is strict JSON with numbers in 0..1
    alerts = [strict(line) for line in echo.getvalue().splitlines()]
    assert alerts[0]["kind"] == "start"
    assert alerts[-1]["kind"] == "end"
    for alert in alerts:
        assert math.isfinite(alert["score"]), alert
        assert 0.0 <= alert["score"] <= 1.0, alert
        assert all(0.0 <= value <= 1.0 for value in alert["box"]), alert
