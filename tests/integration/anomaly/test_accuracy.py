from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_quick_accuracy_run_meets_the_targets(tmp_path: Path) -> None:
    # Given the short clip set (six scenes with events, 90 seconds of lighting drift only)
    out = tmp_path / "accuracy.json"

    # When the accuracy benchmark enrolls on each clip's normal part and plays the rest through file
    # cameras, the inference service and the rule engine, all clips at once in real time
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "accuracy.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )

    # Then precision and recall are at least 0.95, the drift-only clip raised no alert, and the
    # pipeline judged nearly every played frame
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(out.read_text())
    summary = result["summary"]
    assert summary["ground_truth_events"] >= 8
    assert summary["precision"] >= 0.95
    assert summary["recall"] >= 0.95
    assert summary["drift_false_alerts"] == 0
    drift = [clip for clip in result["clips"] if clip["ground_truth"] == 0]
    assert len(drift) == 1
    assert drift[0]["frames"] == 180
    assert summary["judged_frames"] >= 0.9 * summary["played_frames"]
    assert all(
        clip["played_frames"] == clip["frames"] - round(clip["fps"] * 15) for clip in result["clips"][:-1]
    )
    assert "| **all event clips** |" in completed.stdout
