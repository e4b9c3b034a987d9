"""Replaying recorded detections through the tracker and the rules, scored as ``bench/tracking.py``.

``bench/tracking.py --detections FILE`` records every judged frame's raw face-detector output with
its capture time. This plays that record through a fresh ``Tracker`` and ``RuleEngine`` built from
the clip's config exactly as the decider builds them, and scores the result with the benchmark's own
``evaluate``. The detector's output and the frames' timing are then the same for every tracker
change, so a change can be judged on many clips in seconds, and differences are the tracker's
alone. It chooses changes, it does not report: the figures that count come from ``bench/tracking.py``
on clips the change was not chosen on.

Usage: ``.venv/bin/python bench/tracking_replay.py FILE [--clips NAME ...]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# Run as a script, bench/ comes first on sys.path, where bench/tensorrt.py would shadow TensorRT.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

import json  # noqa: E402

from bench.tracking import TUNING_SEEDS, evaluate  # noqa: E402
from bench.tracking_clips import Clip  # noqa: E402
from bench.tracking_play import MODEL, JudgedFrame, Played, gateway_config  # noqa: E402
from bench.tracking_report import ClipResult, markdown, rules_markdown, summarise  # noqa: E402
from bench.tracking_scenes import scene  # noqa: E402
from gateway.domain import AlertEvent, Detection, FrameResult, ModelRef  # noqa: E402
from gateway.pipeline.specs import camera_rules, tracker_specs  # noqa: E402
from gateway.rules.engine import RuleEngine  # noqa: E402
from gateway.tracking import Tracker  # noqa: E402

Record = list[dict[str, object]]
"""One clip's judged frames as ``bench/tracking.py --detections`` writes them."""


def replay(name: str, record: Record) -> ClipResult:
    """The clip ``name`` (``scene-seed``) judged again from its recorded detections."""
    scene_name, seed = name.rsplit("-", 1)
    spec = scene(scene_name, int(seed))
    camera = gateway_config(spec, Path("unused.mkv"), Path("unused")).cameras[0]
    tracker = Tracker(tracker_specs([camera])[spec.name])
    engine = RuleEngine([camera_rules(camera)])
    model = ModelRef(MODEL, 1)
    played = Played(complete=True)
    events: list[AlertEvent] = []
    captured_at = 0.0
    for frame in record:
        seq, captured_at = int(str(frame["seq"])), float(str(frame["captured_at"]))
        rows: Sequence[Sequence[object]] = frame["detections"]  # type: ignore[assignment]
        detections = [
            Detection(str(row[0]), float(str(row[1])), tuple(float(str(value)) for value in row[2:6]))  # type: ignore[arg-type]
            for row in rows
        ]
        output = tracker.update(captured_at, detections)
        result = FrameResult(spec.name, seq, captured_at, model, output.detections, tracks=output.tracks)
        played.frames.append(JudgedFrame(seq, captured_at, output.detections))
        events += engine.process(result)
    events += engine.close(captured_at)
    played.events = events
    return evaluate(Clip(spec), played, hold_out=int(seed) not in TUNING_SEEDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record", type=Path, help="a file bench/tracking.py --detections wrote")
    parser.add_argument("--clips", nargs="*", help="clip names to replay (default: every one recorded)")
    arguments = parser.parse_args(argv)
    records: dict[str, Record] = json.loads(arguments.record.read_text())
    names = arguments.clips or sorted(records, key=lambda name: (name.rsplit("-", 1)[1], name))
    results = [replay(name, records[name]) for name in names]
    summary = summarise(results)
    print(markdown(results, summary))
    print()
    print(rules_markdown(results, summary))
    return 0 if summary["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
