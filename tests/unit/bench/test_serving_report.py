"""The serving benchmark's verdict table: the p99 ratios carry a sampling interval and a verdict."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.serving_report import OVERLOAD_PHASES, markdown, p99_intervals, ratios


def latency(p50: float, p99: float) -> dict[str, float]:
    return {"p50_ms": p50, "p99_ms": p99}


def phase(samples: list[float] | None, **extra: Any) -> dict[str, Any]:
    kept = samples or [1.0]
    result: dict[str, Any] = {
        "items_per_s": 40.0,
        "camera_fps": 5.0,
        "statuses": {"200": 100},
        "load_average": 1.0,
        "server_side": {"503": {"share_within_2ms": 1.0}},
        "retry_after_missing": 0,
        "rss_before_mb": 100.0,
        "rss_after_mb": 101.0,
        "rss_settled_mb": 100.0,
        "cpu_cores": dict.fromkeys(
            (
                "gateway_event_loop",
                "gateway_other_threads",
                "load_generator",
                "rest_of_machine",
                "idle",
                "stolen_by_the_host",
            ),
            0.1,
        ),
        "admitted_latency": latency(float(np.median(kept)), float(np.percentile(kept, 99))),
    }
    if samples is not None:
        result["admitted_samples_ms"] = samples
    return result | extra


def result_of(overload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    entry = {"items_per_s": 50.0, "latency": latency(40.0, 55.0)}
    rounds = {
        "per_core": entry | {"sessions": 2},
        "shared": entry | {"batch": 1},
        "loaded": entry | {"clients": 8, "client_cpu_ms_per_request": 0.8, "statuses": {"200": 1}},
        "single": entry,
        "handed": entry,
        "light": entry,
        "floor": entry,
        "batches_once": [],
        "paired_difference_p50_ms": 2.0,
        "above_floor_p50_ms": 0.5,
        "handoff_p50_ms": 0.6,
        "above_floor_and_handoff_p50_ms": 0.1,
        "light_cpu_ms_per_request": {"event_loop": 1.8},
        "load_average_per_round": [1.0],
    }
    comparison = {
        key: {"clients": 32, "items_per_s": 40.0, "latency": latency(1, 2), "statuses": {}, "load_average": 1}
        for key in ("default", "no_wait_budget")
    }
    result = {
        "rounds": rounds,
        "overload": overload,
        "admission_comparison": comparison,
        "command": "python bench/serving.py",
        "date": "now",
        "model": "m:1",
        "input_shape": [1],
        "gateway_config": {},
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "python": "3",
            "onnxruntime": "1",
            "load_average_at_start": 1.0,
            "load_average_at_end": 1.0,
        },
    }
    return result, rounds, comparison


def test_each_overload_phase_p99_ratio_gets_an_interval_and_a_verdict() -> None:
    generator = np.random.default_rng(0)
    unloaded = list(generator.lognormal(3.7, 0.2, 700))
    overload = {
        "camera_alone": phase(None),
        "unloaded": phase(unloaded),
        "capacity": phase(None),
        "closed_loop": phase(list(1.5 * generator.lognormal(3.7, 0.2, 800))),
        "open_loop": phase(list(3.0 * generator.lognormal(3.7, 0.2, 800))),
        "open_loop_expect": phase(list(2.0 * generator.lognormal(3.7, 0.2, 800))),
    }
    result, rounds, comparison = result_of(overload)
    table = ratios(rounds, comparison, overload)

    intervals = p99_intervals(overload)
    text = markdown(result, table, intervals)

    assert set(intervals) == {f"{label}: admitted p99 / unloaded p99" for _, label in OVERLOAD_PHASES}
    assert set(intervals) <= set(table)
    lines = [line for line in text.splitlines() if "p99 / unloaded" in line]
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in lines}
    assert rows["closed loop: admitted p99 / unloaded p99"].endswith("| holds |")
    assert rows["open loop 3x: admitted p99 / unloaded p99"].endswith("| fails |")
    assert rows["open loop 3x, Expect: admitted p99 / unloaded p99"].endswith("| undecided |")
    low, high = intervals["open loop 3x, Expect: admitted p99 / unloaded p99"]
    assert low < table["open loop 3x, Expect: admitted p99 / unloaded p99"][0] < high


def test_a_result_without_kept_samples_has_no_intervals() -> None:
    overload = {key: phase(None) for key in ("camera_alone", "unloaded", "capacity")}
    overload |= {key: phase(None) for key, _ in OVERLOAD_PHASES}

    assert p99_intervals(overload) == {}
