"""The serving benchmark's account of where the cores went during a phase."""

from __future__ import annotations

import pytest

from bench.serving_load import cores_used
from bench.serving_report import worker_ms_per_item

KEYS = ("at", "event_loop", "other_threads", "load_generator", "machine_busy", "idle", "steal")


def snapshot(*values: float) -> dict[str, float]:
    return dict(zip(KEYS, values, strict=True))


def test_each_party_is_its_cpu_seconds_per_second_and_the_rest_is_what_the_machine_did_besides() -> None:
    before = snapshot(100.0, 1.0, 10.0, 2.0, 50.0, 30.0, 4.0)
    after = snapshot(110.0, 2.5, 27.0, 3.0, 70.0, 30.5, 5.0)

    used = cores_used(before, after)

    assert used == pytest.approx(
        {
            "gateway_event_loop": 0.15,
            "gateway_other_threads": 1.7,
            "load_generator": 0.1,
            "rest_of_machine": 0.05,
            "idle": 0.05,
            "stolen_by_the_host": 0.1,
        }
    )


def test_the_rest_of_the_machine_is_never_negative_when_the_counters_tick_apart() -> None:
    before = snapshot(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    after = snapshot(1.0, 0.2, 1.8, 0.1, 2.0, 0.0, 0.0)

    assert cores_used(before, after)["rest_of_machine"] == 0.0


def test_the_workers_cost_per_item_is_what_they_spend_above_the_camera_alone_per_admitted_item() -> None:
    camera_alone = {"camera_fps": 5.0, "cpu_cores": {"gateway_other_threads": 0.2}}
    closed = {"items_per_s": 50.0, "camera_fps": 5.0, "cpu_cores": {"gateway_other_threads": 1.5}}
    opened = {"admitted_per_s": 40.0, "camera_fps": 5.0, "cpu_cores": {"gateway_other_threads": 1.4}}

    assert worker_ms_per_item(closed, camera_alone) == pytest.approx(26.0)
    assert worker_ms_per_item(opened, camera_alone) == pytest.approx(30.0)
    assert worker_ms_per_item(camera_alone, camera_alone) is None
