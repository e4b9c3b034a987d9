"""What the alert decider costs per frame, with and without track rules (DESIGN.md: with no track rule
configured, CPU per frame does not grow measurably), against the decider before track rules.

The real ``AlertDecider`` (built as ``Gateway.from_config`` builds it: specs from a camera config by
``gateway.pipeline.specs``, a real outbox in a temporary state directory) is fed the results a
camera would hand it, about one a millisecond so the decider thread wakes for each as it does in
``serve``, with capture times 0.2 s apart (detect_fps 5). Its CPU per frame is the decider
thread's own CPU clock (``pthread_getcpuclockid``) over the measured frames, read once it has
judged them all: the tracker, the rules, queueing commits and the thread's wake-ups.

Cameras:

- ``no rules``: a detector, no rule.
- ``anomaly only``: the detector's results plus a scene-anomaly result per frame (a normal scene:
  score below threshold, no detection); only the frame-level anomaly rule judges.
- ``presence``: one presence rule (the default type) on a zone: a track rule since rules follow
  objects, so the tracker runs; before, it was judged per frame.
- ``track rules``: a line crossing, loiter, count and stationary rule; the tracker runs.

Objects: 0, 5 or 20 faces in the detector's result, each walking left and right in its own lane
across the counting line (an instant alert each time it crosses), inside the zone.

Baseline (``--baseline``, default ``BASELINE``: the last commit before rules followed objects): the
same measurement of the same cameras (``track rules`` did not exist) with that commit's ``gateway``
package, extracted with ``git archive`` and run in a subprocess. Rounds alternate the two, and the
cameras within each, so a busy neighbour hits them alike; the table gives the median over rounds
and the range.

Usage::

    .venv/bin/python bench/tracking_cost.py [--frames 600] [--rounds 5] [--baseline REV | --baseline '']

writes bench/results/tracking-cost.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def _gateway_root(argv: Sequence[str]) -> Path:
    """The checkout whose ``gateway`` package is measured: this one, or a baseline's (--gateway-root)."""
    if "--gateway-root" in argv:
        return Path(argv[list(argv).index("--gateway-root") + 1])
    return ROOT


# Run as a script, bench/ comes first on sys.path, where bench/tensorrt.py would shadow TensorRT.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.insert(0, str(_gateway_root(sys.argv)))

from prometheus_client import CollectorRegistry  # noqa: E402

from gateway.config import GatewayConfig  # noqa: E402
from gateway.decider import AlertDecider  # noqa: E402
from gateway.delivery.outbox import Outbox  # noqa: E402
from gateway.domain import Alert, Detection, FrameResult, ModelRef  # noqa: E402
from gateway.pipeline import specs  # noqa: E402

BASELINE = "868a61e"
"""The tracker existed, the decider did not run it and rules were judged per frame."""
FPS = 5.0
OBJECTS = (0, 5, 20)
WARM_UP_FRAMES = 20
"""Judged before the measurement starts: tracks confirmed, state allocated."""
PACE_S = 0.001
DETECTOR = ModelRef("face-detector", 1)
ANOMALY = ModelRef("scene-anomaly-cost", 1)
LANES = 20
FACE_WIDTH, FACE_HEIGHT = 0.03, 0.03
SPEED = 0.15
"""Frame widths per second: a crossing of the line every few seconds per object."""
ZONE = {"name": "zone", "polygon": [[0.0, 0.05], [1.0, 0.05], [1.0, 1.0], [0.0, 1.0]]}

CAMERAS: dict[str, dict[str, Any]] = {
    "no rules": {},
    "anomaly only": {"anomaly": {"model": ANOMALY.name}},
    "presence": {"zones": [ZONE], "rules": [{"name": "presence", "zones": ["zone"]}]},
    "track rules": {
        "zones": [ZONE],
        "lines": [{"name": "door", "points": [[0.5, 0.0], [0.5, 1.0]], "in_direction": [1, 0]}],
        "rules": [
            {"name": "crossing", "type": "line_crossing", "line": "door"},
            {"name": "loiter", "type": "loiter", "zones": ["zone"], "min_s": 8},
            {"name": "count", "type": "count", "zones": ["zone"], "min_count": 4, "min_s": 2},
            {"name": "stationary", "type": "stationary", "min_s": 3},
        ],
    },
}
BASELINE_CAMERAS = ("no rules", "anomaly only", "presence")


def config(name: str, state_dir: Path) -> GatewayConfig:
    camera = {"id": "cost", "url": "rtsp://127.0.0.1/unused", "model": DETECTOR.name, **CAMERAS[name]}
    return GatewayConfig.model_validate(
        {"device_id": "cost", "state_dir": str(state_dir), "cameras": [camera]}
    )


def faces(objects: int, t: float) -> tuple[Detection, ...]:
    """``objects`` faces at time ``t``, each bouncing between x = 0.1 and 0.9 in its own lane."""
    detections = []
    for index in range(objects):
        phase = (SPEED * t + index / max(1, objects)) % 1.6
        x = 0.1 + (phase if phase <= 0.8 else 1.6 - phase)
        y = 0.1 + 0.85 * (index + 1) / LANES
        box = (x - FACE_WIDTH / 2, y - FACE_HEIGHT, x + FACE_WIDTH / 2, y)
        detections.append(Detection("FACE_FEMALE", 0.8, box))
    return tuple(detections)


def _decider_clock() -> int:
    thread = next(thread for thread in threading.enumerate() if thread.name == "alert-decider")
    assert thread.ident is not None
    return time.pthread_getcpuclockid(thread.ident)


def _settled_cpu(clock: int) -> float:
    """The decider thread's CPU time once it has stopped using any: it has judged what it was given."""
    last = time.clock_gettime(clock)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 0.1:
        time.sleep(0.01)
        now = time.clock_gettime(clock)
        if now != last:
            last, quiet_since = now, time.monotonic()
    return last


def measure(name: str, objects: int, frames: int) -> dict[str, float]:
    """Decider CPU per frame (ms) and alerts committed, for one camera kind and object count."""
    with tempfile.TemporaryDirectory(prefix="tracking-cost-") as directory:
        settings = config(name, Path(directory))
        registry = CollectorRegistry()
        outbox = Outbox.from_config(settings, registry)
        start = time.time()
        clock_at = [start]
        alerts: list[Alert] = []
        extra: dict[str, Any] = {}
        if hasattr(specs, "tracker_specs"):  # the baseline had no trackers to hand over
            extra["trackers"] = specs.tracker_specs(settings.cameras)
        decider = AlertDecider(
            outbox,
            specs.rule_specs(settings.cameras),
            announce=alerts.append,
            registry=registry,
            # The frames' own clock, so timers (ends, ticks) follow the synthetic capture times.
            clock=lambda: clock_at[0],
            **extra,
        )
        decider.start()
        cpu_clock = _decider_clock()
        began = 0.0
        try:
            for index in range(frames + WARM_UP_FRAMES):
                if index == WARM_UP_FRAMES:
                    began = _settled_cpu(cpu_clock)
                at = start + index / FPS
                clock_at[0] = at
                decider.submit(FrameResult("cost", index + 1, at, DETECTOR, faces(objects, index / FPS)))
                if name == "anomaly only":
                    decider.submit(FrameResult("cost", index + 1, at, ANOMALY, (), anomaly_score=0.1))
                time.sleep(PACE_S)
            spent = _settled_cpu(cpu_clock) - began
        finally:
            decider.stop(10.0)
            outbox.close()
        return {"ms_per_frame": 1000.0 * spent / frames, "alerts": float(len(alerts))}


def measure_all(cameras: Sequence[str], frames: int) -> dict[str, dict[str, dict[str, float]]]:
    return {name: {str(objects): measure(name, objects, frames) for objects in OBJECTS} for name in cameras}


def _baseline_package(revision: str, directory: Path) -> Path:
    """The baseline's ``gateway`` package, extracted from git into ``directory``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "gateway"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory


def measure_baseline(root: Path, frames: int) -> dict[str, dict[str, dict[str, float]]]:
    completed = subprocess.run(
        [sys.executable, __file__, "--gateway-root", str(root), "--worker", "--frames", str(frames)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, dict[str, dict[str, float]]] = json.loads(completed.stdout.splitlines()[-1])
    return result


def run(frames: int, rounds: int, baseline: Path | None) -> dict[str, dict[str, dict[str, Any]]]:
    versions = ["current", *(["baseline"] if baseline is not None else [])]
    samples: dict[str, dict[str, dict[str, list[float]]]] = {version: {} for version in versions}
    alerts: dict[str, dict[str, dict[str, float]]] = {version: {} for version in versions}
    for round_index in range(rounds):
        measured = {"current": measure_all(list(CAMERAS), frames)}
        if baseline is not None:
            measured["baseline"] = measure_baseline(baseline, frames)
        for version, table in measured.items():
            for name, row in table.items():
                for objects, result in row.items():
                    samples[version].setdefault(name, {}).setdefault(objects, []).append(
                        result["ms_per_frame"]
                    )
                    alerts[version].setdefault(name, {})[objects] = result["alerts"]
        print(f"round {round_index + 1}/{rounds} done", flush=True)
    return {
        version: {
            name: {
                objects: {
                    "median_ms": statistics.median(values),
                    "min_ms": min(values),
                    "max_ms": max(values),
                    "samples_ms": values,
                    "alerts_per_run": alerts[version][name][objects],
                }
                for objects, values in row.items()
            }
            for name, row in table.items()
        }
        for version, table in samples.items()
    }


def verdict(tables: dict[str, dict[str, dict[str, Any]]]) -> dict[str, object]:
    """Without track rules: the current decider against the baseline, per object count; measurable
    when the medians differ by more than the wider of the two ranges over rounds."""
    findings: dict[str, object] = {}
    baseline = tables.get("baseline")
    for name in ("no rules", "anomaly only"):
        current = tables["current"][name]
        row: dict[str, object] = {}
        for objects in map(str, OBJECTS):
            now = current[objects]
            if baseline is None:
                continue
            then = baseline[name][objects]
            spread = max(now["max_ms"] - now["min_ms"], then["max_ms"] - then["min_ms"])
            difference = now["median_ms"] - then["median_ms"]
            row[objects] = {
                "current_ms": now["median_ms"],
                "baseline_ms": then["median_ms"],
                "difference_ms": difference,
                "spread_ms": spread,
                "measurable": abs(difference) > spread,
            }
        findings[name] = row
    return findings


def markdown(tables: dict[str, dict[str, dict[str, Any]]], findings: dict[str, object]) -> str:
    lines = [
        "| camera | decider | " + " | ".join(f"{n} objects: ms/frame (range)" for n in OBJECTS) + " |",
        "|---|---|" + "---|" * len(OBJECTS),
    ]
    for name in CAMERAS:
        for version, table in tables.items():
            if name not in table:
                continue
            row = table[name]
            cells = [
                f"{row[str(n)]['median_ms']:.3f} ({row[str(n)]['min_ms']:.3f}-{row[str(n)]['max_ms']:.3f})"
                for n in OBJECTS
            ]
            lines.append(f"| {name} | {version} | " + " | ".join(cells) + " |")
    lines.append("")
    for name, found in findings.items():
        assert isinstance(found, dict)
        for objects, finding in found.items():
            outcome = "measurable" if finding["measurable"] else "within the range over rounds"
            lines.append(
                f"- {name}, {objects} objects: current - baseline {finding['difference_ms']:+.4f} ms/frame, "
                f"range {finding['spread_ms']:.4f} ms: {outcome}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="measured frames per run (after warm-up)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--baseline", default=BASELINE, help="git revision to compare with ('' for none; default %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "tracking-cost.json")
    parser.add_argument("--gateway-root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.worker:
        # A baseline's subprocess: one round of its cameras, as JSON on the last line.
        print(json.dumps(measure_all(BASELINE_CAMERAS, arguments.frames)))
        return 0
    load_before = os.getloadavg()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tracking-cost-baseline-") as directory:
        baseline = _baseline_package(arguments.baseline, Path(directory)) if arguments.baseline else None
        tables = run(arguments.frames, arguments.rounds, baseline)
    findings = verdict(tables)
    load_after = os.getloadavg()
    document = {
        "benchmark": "tracking-cost",
        "method": "AlertDecider (specs from config, real outbox) fed detector results about 1 ms apart "
        "(capture times 0.2 s apart); CPU clock of the decider thread per frame",
        "baseline": arguments.baseline or None,
        "frames": arguments.frames,
        "rounds": arguments.rounds,
        "tables": tables,
        "findings": findings,
        "seconds": time.perf_counter() - began,
        "load_average": {"before": load_before, "after": load_after},
        "machine": {"python": platform.python_version(), "cpu": platform.machine(), "cores": os.cpu_count()},
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(document, indent=2) + "\n")
    text = markdown(tables, findings)
    loads = ", ".join(
        f"{before:.1f} -> {after:.1f}" for before, after in zip(load_before, load_after, strict=True)
    )
    baseline_text = (
        f"baseline: commit {arguments.baseline}'s decider" if arguments.baseline else "no baseline"
    )
    arguments.out.with_suffix(".md").write_text(
        "# Alert decider CPU per frame, with and without track rules\n\n"
        f"`.venv/bin/python bench/tracking_cost.py`: {document['method']}; {baseline_text}; "
        f"{arguments.frames} frames x {arguments.rounds} rounds, {document['seconds']:.0f} s on "
        f"{os.cpu_count()} cores, load average (1, 5, 15 min) {loads}. Median over rounds (min-max).\n\n"
        f"{text}\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
