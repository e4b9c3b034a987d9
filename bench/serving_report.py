"""The serving benchmark's verdicts and its markdown table (bench/serving.py writes both)."""

from __future__ import annotations

import json
from typing import Any

from bench.quantile_interval import ratio_interval, verdict

CAMERA_FPS = 5.0
"""The benchmark camera's detect_fps (bench/serving.py runs it)."""
P99_RATIO_AT_MOST = 2.0
"""DESIGN's bound on admitted p99 / unloaded p99 under overload."""
OVERLOAD_PHASES = (
    ("closed_loop", "closed loop"),
    ("open_loop", "open loop 3x"),
    ("open_loop_expect", "open loop 3x, Expect"),
)


def ratios(
    rounds: dict[str, Any], comparison: dict[str, Any], overload: dict[str, Any]
) -> dict[str, tuple[float, str]]:
    nan = float("nan")
    best_raw = max(rounds["per_core"]["items_per_s"], rounds["shared"]["items_per_s"])
    capacity = rounds["loaded"]["items_per_s"]
    unloaded_p99 = overload["unloaded"]["admitted_latency"]["p99_ms"]
    result = {
        "gateway / best raw throughput (same rounds)": (capacity / best_raw, ">= 0.95"),
        "added latency at light load, p50 (ms)": (
            rounds["light"]["latency"]["p50_ms"] - rounds["single"]["latency"]["p50_ms"],
            "<= 1",
        ),
        "added latency at light load, p99 (ms)": (
            rounds["light"]["latency"]["p99_ms"] - rounds["single"]["latency"]["p99_ms"],
            "<= 5",
        ),
        "median of paired differences gateway - raw (ms)": (rounds["paired_difference_p50_ms"], "<= 1"),
        "transport floor at light load, p50 (ms): any server, this client, these bytes": (
            rounds["floor"]["latency"]["p50_ms"],
            "-",
        ),
        "median of paired differences gateway - raw - transport floor (ms): the gateway's own": (
            rounds["above_floor_p50_ms"],
            "-",
        ),
        "hand-off at light load, p50 (ms): the same session on a worker thread - run in place": (
            rounds["handoff_p50_ms"],
            "-",
        ),
        "median of paired differences gateway - (raw on a worker thread) - transport floor (ms)": (
            rounds["above_floor_and_handoff_p50_ms"],
            "-",
        ),
        "event-loop CPU per request, light load (ms)": (
            rounds["light_cpu_ms_per_request"]["event_loop"],
            "-",
        ),
    }
    camera_alone = overload["camera_alone"]["camera_fps"]
    with_camera = overload["capacity"]["items_per_s"] + overload["capacity"]["camera_fps"]
    for key, label in OVERLOAD_PHASES:
        phase = overload[key]
        served = phase.get("items_per_s", phase.get("admitted_per_s", nan)) + phase["camera_fps"]
        rejections = phase["server_side"].get("503", {}).get("share_within_2ms", nan)
        result |= {
            f"{label}: admitted p99 / unloaded p99": (
                phase["admitted_latency"].get("p99_ms", nan) / unloaded_p99,
                f"<= {P99_RATIO_AT_MOST:g}",
            ),
            f"{label}: served (HTTP + camera) / capacity with the camera": (served / with_camera, ">= 0.95"),
            f"{label}: 503s answered within 2 ms, server-side (share)": (rejections, "= 1"),
            f"{label}: 429/503 without Retry-After": (float(phase["retry_after_missing"]), "= 0"),
            f"{label}: camera fps / camera alone": (phase["camera_fps"] / camera_alone, ">= 0.9"),
            f"{label}: RSS right after / before": (phase["rss_after_mb"] / phase["rss_before_mb"], "-"),
            f"{label}: RSS after serve's next trim / before": (
                phase["rss_settled_mb"] / phase["rss_before_mb"],
                "flat",
            ),
        }
    return result


def p99_intervals(overload: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Each overload phase's "admitted p99 / unloaded p99" as a 95% bootstrap interval over both
    phases' own answers (quantile_interval.py), keyed as ``ratios`` names the value; a phase without
    kept samples (a result from before they were kept) has none."""
    unloaded = overload["unloaded"].get("admitted_samples_ms")
    result: dict[str, tuple[float, float]] = {}
    for key, label in OVERLOAD_PHASES:
        admitted = overload[key].get("admitted_samples_ms")
        if unloaded and admitted:
            result[f"{label}: admitted p99 / unloaded p99"] = ratio_interval(admitted, unloaded)
    return result


def worker_ms_per_item(phase: dict[str, Any], camera_alone: dict[str, Any]) -> float | None:
    """Milliseconds of CPU the gateway's threads besides the event loop spent per HTTP item, above
    what they spend with the camera alone: the inference workers' cost of an item under that
    phase's load (the same model at every phase, so a rise is contention, not work). None for a
    phase without HTTP items."""
    items = float(phase.get("items_per_s", phase.get("admitted_per_s", 0.0)))
    if not items:
        return None
    busy = float(phase["cpu_cores"]["gateway_other_threads"])
    return 1000 * (busy - float(camera_alone["cpu_cores"]["gateway_other_threads"])) / items


def _admission(result: dict[str, Any]) -> str:
    overrides = result.get("admission") or {}
    return "defaults" if not overrides else json.dumps(overrides)


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(
    result: dict[str, Any], table: dict[str, tuple[float, str]], intervals: dict[str, tuple[float, float]]
) -> str:
    rounds, overload, machine = result["rounds"], result["overload"], result["machine"]
    nan = float("nan")
    lines = [
        "# Serving benchmark",
        "",
        f"Command (from the repository root, venv active): `{result['command']}`",
        "",
        f"{result['date']}; {machine['cpu']}, {machine['cores']} cores usable, Python {machine['python']}, "
        f"onnxruntime {machine['onnxruntime']}. Model `{result['model']}`, input {result['input_shape']} "
        f"FP32 as binary tensors. Gateway: the default config (`{json.dumps(result['gateway_config'])}`, "
        f"admission {_admission(result)}). **Load average** {machine['load_average_at_start']:.2f} at start, "
        f"{machine['load_average_at_end']:.2f} at end, per round {rounds['load_average_per_round']} "
        "(the machine is shared; figures at a load above the core count need a quiet re-run).",
        "",
        "| run | items/s | p50 ms | p99 ms | statuses | load |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for entry in rounds["batches_once"]:
        lines.append(
            f"| raw ORT, 1 session (all threads), batch {entry['batch']}, once | {entry['items_per_s']:.2f} "
            f"| {entry['latency']['p50_ms']:.2f} | {entry['latency']['p99_ms']:.2f} | | |"
        )
    for key, label in (
        ("shared", f"raw ORT, 1 session (all threads), batch {rounds['shared']['batch']}"),
        ("per_core", f"raw ORT, {rounds['per_core']['sessions']} single-thread sessions, batch 1"),
        ("single", "raw ORT, 1 single-thread session, sequential (paired with the next three rows)"),
        ("handed", "the same session on a worker thread, handed from an event loop and back (paired)"),
        ("light", "gateway, 1 client, sequential (paired)"),
        ("floor", "transport floor, 1 client, sequential (paired)"),
        ("loaded", f"gateway, {rounds['loaded']['clients']} closed-loop clients"),
    ):
        entry = rounds[key]
        lines.append(
            f"| {label} | {entry['items_per_s']:.2f} | {entry['latency']['p50_ms']:.2f} "
            f"| {entry['latency']['p99_ms']:.2f} | {entry.get('statuses', '')} | |"
        )
    for key, label in (
        ("default", "default admission"),
        (
            "no_wait_budget",
            "admission.max_queue_wait_ms 3600000 (an hour, the most it takes: never refuses), "
            "alternating with the row above",
        ),
    ):
        entry = result["admission_comparison"][key]
        lines.append(
            f"| {entry['clients']} closed-loop clients, {label} | {entry['items_per_s']:.2f} "
            f"| {entry['latency']['p50_ms']:.2f} | {entry['latency']['p99_ms']:.2f} | {entry['statuses']} "
            f"| {entry['load_average']:.2f} |"
        )
    for key, label in (
        ("unloaded", "with camera: 1 client, sequential (unloaded)"),
        ("capacity", f"with camera: {overload['capacity'].get('clients')} closed-loop clients (capacity)"),
        (
            "closed_loop",
            f"with camera: {overload['closed_loop'].get('clients')} closed-loop clients, Retry-After",
        ),
        ("open_loop", "with camera: open loop at 3x capacity"),
        ("open_loop_expect", "with camera: open loop at 3x, Expect: 100-continue"),
    ):
        phase = overload[key]
        admitted = phase["admitted_latency"]
        rate = phase.get("items_per_s", phase.get("admitted_per_s", nan))
        lines.append(
            f"| {label} | {rate:.2f} | {admitted.get('p50_ms', nan):.2f} | {admitted.get('p99_ms', nan):.2f} "
            f"| {phase['statuses']} | {phase['load_average']:.2f} |"
        )
    lines += [
        "",
        f"Camera (demo clip, detect_fps {CAMERA_FPS:g}, motion gating off): "
        + ", ".join(f"{key} {phase['camera_fps']:.2f} fps" for key, phase in overload.items())
        + ". Load generator CPU per request: "
        f"{rounds['loaded']['client_cpu_ms_per_request']:.2f} ms (closed loop).",
        "",
        f"Where the {machine['cores']} cores went in each phase with the camera, in cores (CPU seconds per "
        "second; the gateway's threads from /proc, the machine's from /proc/stat), and the workers' CPU "
        "per HTTP item (its other threads above the camera alone, per admitted item); then, from the "
        "gateway's own histograms, every item's (requests and frames) mean wait for a worker and the "
        "engine's mean time per batch (one item each on CPU), and the share of one item's time the "
        "default wait budget had come to as the phase ended (gateway/api/wait_budget.py):",
        "",
        "| phase | gateway event loop | its workers, camera | load generator | rest | idle | host's steal "
        "| workers' ms per item | mean wait ms | mean engine ms | wait budget share |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, phase in overload.items():
        used = phase["cpu_cores"]
        per_item = worker_ms_per_item(phase, overload["camera_alone"])
        lines.append(
            f"| {key} | {used['gateway_event_loop']:.3f} | {used['gateway_other_threads']:.3f} "
            f"| {used['load_generator']:.3f} | {used['rest_of_machine']:.3f} | {used['idle']:.3f} "
            f"| {used['stolen_by_the_host']:.3f} | {_number(per_item)} "
            f"| {_number(phase.get('mean_queue_wait_ms'))} "
            f"| {_number(phase.get('mean_engine_ms_per_batch'))} "
            f"| {_number(phase.get('wait_budget_share'), 2)} |"
        )
    lines += [
        "",
        "The p99 ratios with a 95% interval from sampling alone (each phase's answers resampled, "
        "bench/quantile_interval.py): a target inside it is undecided by this run.",
        "",
        "| measure | value | target | 95% interval | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for name, (value, target) in table.items():
        interval = intervals.get(name)
        if interval is None:
            lines.append(f"| {name} | {value:.3f} | {target} | | |")
        else:
            judged = verdict(interval, P99_RATIO_AT_MOST)
            lines.append(
                f"| {name} | {value:.3f} | {target} | {interval[0]:.2f} - {interval[1]:.2f} | {judged} |"
            )
    return "\n".join(lines) + "\n"
