"""The tracking benchmark's quick variant: hold-out clips played as file cameras through a gateway built
by ``Gateway.from_config`` (the real face-detector, the camera's tracker, its track rules, the outbox),
scored against the clips' ground-truth tracks and rule truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.tracking import QUICK_SEED

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(330)
def test_quick_tracking_run_meets_the_targets(tmp_path: Path) -> None:
    # Given three scenes (two people crossing each other, a pole, a crowd) drawn with a hold-out seed,
    # on which no tracker knob was tuned
    out = tmp_path / "tracking.json"

    # When the benchmark plays each once through the gateway's own wiring
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tracking.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=320,
        check=False,
    )

    # Then every target holds: ID switches within 1 per 100 track-frames, crossings exact by
    # direction and time, loiter / count / stationary events exact
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(out.read_text())
    summary = result["summary"]
    assert summary["met"] == {
        "switches_per_100": True,
        "crossings_exact": True,
        "rule_events_exact": True,
        "every_clip_played": True,
    }
    held = summary["hold_out"]
    assert held["clips"] == 3
    assert held["truth_boxes"] >= 200
    assert held["switches_per_100"] <= 1.0
    assert held["mota"] >= 0.8
    assert {clip["scene"] for clip in result["clips"]} == {"crossing", "pole", "crowd"}
    assert all(
        clip["hold_out"] and clip["seed"] == QUICK_SEED and clip["complete"] for clip in result["clips"]
    )
    # The crowd exercises every rule: five crossing in and out, five loiterers, five standing still,
    # and one crowd of five, each matched by exactly one alert of the gateway's.
    crowd = next(clip for clip in result["clips"] if clip["scene"] == "crowd")
    rules = crowd["rules"]
    assert (rules["crossing"]["truth_in"], rules["crossing"]["truth_out"]) == (5, 5)
    assert (rules["crossing"]["events_in"], rules["crossing"]["events_out"]) == (5, 5)
    assert [rules[rule]["matched"] for rule in ("loiter", "count", "stationary")] == [5, 1, 5]
    assert [interval["max_count"] for interval in crowd["truth"]["count"]] == [5]
    assert all(rules[rule]["exact"] for rule in rules)
    assert "| **hold-out** (3 clips) |" in completed.stdout
