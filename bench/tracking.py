"""Tracking benchmark: generated clips with ground-truth tracks and rule truth, through the gateway.

Each clip (``bench/tracking_clips.py``: six scenes x seeds) is written as a lossless video (FFV1)
and played once as a file camera, in real time at 10 fps, through a gateway built by
``Gateway.from_config``, the wiring ``serve`` uses (``bench/tracking_play.py``): ``CameraPipeline``
(reader thread, sampler at ``detect_fps`` 5) -> ``InferenceService`` (the shipped face-detector, a
real pretrained YOLOv8n) -> ``AlertDecider`` (the camera's tracker, then its rules: a line crossing,
loiter, count and stationary rule built from the clip's line, zone and rule parameters) -> the
signed outbox. The sampler takes frames at 5 fps from a 10 fps clip on its own clock, so the tracker
sees the real, uneven time steps, with frames skipped now and then.

Scored per clip: MOTA, IDF1 and ID switches per 100 track-frames (``bench/tracking_metrics.py``,
py-motmetrics) on the frames the rules judged, with the tracker's ids as the decider's ``observe``
hook saw them; the detector's own recall, so a miss can be told from a tracking error; and the
committed alerts against the clip's rule truth (``bench/tracking_truth.py``, judged by
``bench/tracking_rules.py``): crossings by direction and time, loiter / count / stationary starts,
the count's value. Targets (DESIGN.md): crossings exact, ID switches <= 1 per 100 track-frames, rule
events exact.

Hold-out: the tracker's knobs were tuned on seed 0 only. Each later pair of seeds was a hold-out
once, played after every change before it was fixed; what each found was fixed on it, and the pair
then joined the tuning set: seeds 1 and 2 (a crossing missed on pole-2: a face scoring under
``new_track_score`` until past the line, which led to tracing a new track's origin back through weak
detections, ``gateway/tracking/tracker.py``); seeds 3 and 4 (a crossing missed on pole-3: a
tentative track dropped on a missed frame, then restarted past the line, which led to the trace
forgiving missed frames and passing through dropped tentative tracks; and a loiter on stop-and-go-4
whose mover stayed in the zone for exactly ``min_s``, which led to the truth marking such events
optional, ``bench/tracking_truth.py``); seeds 5 and 6 (a loiter alert 2.1 s late on loiter-6: as a
passer walked in front of the loiterer, the loiterer's half-covered box seemed to stop, and it came
out on the passer's far side, where its track did not look; a new track restarted its time in the
zone; which led to a track hidden behind another object taking the detection that comes out of it
first); seeds 7 and 8 (a loiter alert 3.1 s late on loiter-8: the loiterer came out from behind a
passer scoring 0.34, under ``high_score``, and its track ran out of ``max_lost_s`` before it scored
more, which led to hidden tracks taking low-score detections too; and a crossing 0.6 s late on
crowd-7: a face whose track scored over the rule's ``min_score`` only on its tentative first frame
was not followed until it scored so again, which led to ``Track.peak_score``); seeds 9 and 10 (a
crossing 0.6 s late on crowd-10: a face turning up across the line scored under ``new_track_score``
on most frames around it, and the tentative track its one strong frame started was dropped on the
frame the detector missed it, so its track was confirmed only past the line; which led to a
confirmed track missed on the previous frame only looking for the object as a hidden one does, and
to a strong detection on a path of weak ones being confirmed at once); seeds 11 and 12 (a crossing
1.4 s late on loiter-12, on another object's box: the detector missed a passer on the frame the
loiterer came out behind it, and the passer's track took the loiterer's box before the loiterer's
hidden track could, which led to searching tracks competing with the others in one pass; the
crossing itself stays 1.8 s late, as the small face scored the rules' ``min_score`` only then);
seeds 13 and 14 (a crossing 0.7 s late on crowd-13: the face scored 0.32..0.46 around its crossing,
under the rules' default ``min_score`` 0.5, as loiter-12's had; which led to the rules using
face-detector's operating point, 0.4, as the embedded config does (``tracking_play.MIN_SCORE``),
and, as replays at 0.4 showed the detector's duplicates of a face, one box per label, starting
tracks of their own, a crowd of six out of five on crowd-2 and crowd-11, to a duplicate of a
tracked box starting no track); seeds 15 and 16 (every crossing on time; a loiter alert 2.3 s late
on loiter-15: the detector missed the loiterer on the frame before a passer reached it, so its track
was not taken as hidden by the passer, and it came out on the far side scoring 0.36 to a new track;
which led to a missing track being hidden by a track confirmed before it went missing that passes
over it later); seeds 17 and 18 (every crossing on time; on loiter-17 a loiter alert 1.1 s late:
the detector did not see the loiterer for 1.6 s as it walked in, longer than ``max_lost_s``, then
saw it weakly inside the zone for three frames before a new track started, which led to a track's
time in a zone counting from its origin, and from halfway between the last frame outside and the
first inside; and a second loiter start: a passer's box cut by the face in front of it ended within
the detector's jitter of the face's, short of touching it, so its track was not taken as hidden and
the face's track took the passer coming out, which led to boxes within ``measurement_noise`` of
touching counting as touching). So seeds 0-18 are the tuning set (``TUNING_SEEDS``), and seeds 19
and 20, never played before those changes were fixed, are the hold-out, reported first.
``--quick`` (CI) plays three scenes of seed 20.

Load: clips play one at a time, each needing detect_fps (5) model runs a second, so the tracker
sees the time steps it would on a box with capacity to spare (``judged/frames``: 150 of 300 is
every sampled frame). On 2 cores shared with other work (load average 6..11), two clips at a time
already lost a third of the frames, and three at a time more than half: longer, less even steps,
which is what an overloaded box does, and what makes ids harder to keep (0.64 ID switches per 100
track-frames on the hold-out at two at a time, 1.5 on the quick set at three).

Usage::

    .venv/bin/python bench/tracking.py [--quick] [--out bench/results/tracking.json]

writes the JSON and a markdown table next to it (tracking.md). Exit status 1 if the hold-out misses
a target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# Run as a script, bench/ comes first on sys.path, where bench/tensorrt.py would shadow TensorRT.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from bench.run_record import run_record  # noqa: E402
from bench.tracking_clips import Clip, ClipSpec, write_video  # noqa: E402
from bench.tracking_metrics import TruthBox, score  # noqa: E402
from bench.tracking_play import DETECT_FPS, MODEL, Played, play, rules_config  # noqa: E402
from bench.tracking_report import (  # noqa: E402
    TARGET_SWITCHES_PER_100,
    ClipResult,
    markdown,
    rules_markdown,
    summarise,
)
from bench.tracking_rules import CROSSING_TOLERANCE_S, START_TOLERANCE_S, judge, owners  # noqa: E402
from bench.tracking_scenes import SCENES, scene  # noqa: E402
from bench.tracking_truth import rule_truth  # noqa: E402
from gateway.domain import AlertEvent  # noqa: E402
from gateway.tracking import TrackerSpec  # noqa: E402

TUNING_SEEDS = tuple(range(19))
HOLD_OUT_SEEDS = (19, 20)
QUICK_SEED = HOLD_OUT_SEEDS[1]
"""CI's regression check: a hold-out seed whose crossing, pole and crowd clips were exact when it
was played."""
QUICK_SCENES = ("crossing", "pole", "crowd")
"""The hardest for ids: two objects crossing each other, an occlusion, five people close together."""


def prepare(spec: ClipSpec, directory: Path) -> Path:
    """Write the clip's video (runs in a worker process)."""
    video = directory / f"{spec.name}.mkv"
    write_video(Clip(spec), video)
    return video


def _clip_time(played: Played, fps: float) -> dict[int, float]:
    """Capture time (in microseconds, as alerts carry it) -> clip seconds, per judged frame."""
    return {round(frame.captured_at * 1e6): (frame.seq - 1) / fps for frame in played.frames}


def evaluate(clip: Clip, played: Played, hold_out: bool) -> ClipResult:
    spec = clip.spec
    frames = sorted(played.frames, key=lambda frame: frame.seq)
    numbers = {mover.name: number for number, mover in enumerate(spec.movers)}
    truths = {frame.seq: clip.truth(frame.seq - 1) for frame in frames}
    result = score(
        [
            (
                frame.seq,
                [TruthBox(numbers[item.mover], item.box, item.visibility) for item in truths[frame.seq]],
                frame.detections,
            )
            for frame in frames
        ]
    )
    movers = owners(
        (
            [(item.mover, item.box) for item in truths[frame.seq]],
            [(d.track_id, d.box) for d in frame.detections if d.track_id is not None and d.box is not None],
        )
        for frame in frames
    )
    exact = _clip_time(played, spec.fps)
    # Events that no judged frame fired (ends on a timer or at stop) are placed by the mean offset.
    offset = (
        statistics.fmean(frame.captured_at - (frame.seq - 1) / spec.fps for frame in frames)
        if frames
        else 0.0
    )

    def clip_time(frame_ts: float) -> float:
        return exact.get(round(frame_ts * 1e6), frame_ts - offset)

    truth = rule_truth(spec, 1.0 / DETECT_FPS)
    rules = judge(truth, played.events, clip_time, movers)
    return ClipResult(
        clip=spec.name,
        scene=spec.scene,
        seed=int(spec.name.rsplit("-", 1)[1]),
        hold_out=hold_out,
        frames=spec.frame_count,
        judged_frames=len(frames),
        complete=played.complete,
        late_results=played.late,
        drops=played.drops,
        score=result,
        switches_per_100=result.switches_per_100,
        decider_cpu_ms_per_frame=1000 * played.decider_cpu_s / max(1, len(frames) - 1),
        truth=truth.as_json(),
        rules={name: rule.as_json() for name, rule in rules.items()},
        events=[_event_json(event, clip_time(event.frame_ts), movers) for event in played.events],
    )


def _event_json(event: AlertEvent, t: float, movers: dict[int, str]) -> dict[str, object]:
    return {
        "t": round(t, 3),
        "kind": event.kind.value,
        "rule": event.rule,
        "track_id": event.track_id,
        "mover": movers.get(event.track_id) if event.track_id is not None else None,
        "direction": event.direction.value if event.direction else None,
        "count": event.count,
    }


DetectionLog = dict[str, list[dict[str, object]]]
"""Per clip: each judged frame's ``seq``, ``captured_at`` and raw ``detections`` as
``[label, score, x1, y1, x2, y2]`` rows."""


def _log(played: Played) -> list[dict[str, object]]:
    return [
        {
            "seq": frame.seq,
            "captured_at": frame.captured_at,
            "detections": [
                [d.label, round(d.score, 4), *(round(value, 5) for value in d.box)]
                for d in frame.detections
                if d.box is not None
            ],
        }
        for frame in played.frames
    ]


def run(specs: Sequence[ClipSpec], motion: bool = False) -> tuple[list[ClipResult], DetectionLog]:
    results: list[ClipResult] = []
    log: DetectionLog = {}
    with tempfile.TemporaryDirectory(prefix="tracking-") as directory:
        workdir = Path(directory)
        with ProcessPoolExecutor(max_workers=2) as pool:
            videos = list(pool.map(prepare, specs, [workdir] * len(specs)))
        # One clip at a time: on a small box, clips played at once lose frames (module docstring).
        for spec, video in zip(specs, videos, strict=True):
            played = play(spec, video, workdir / f"state-{spec.name}", motion=motion)
            hold_out = int(spec.name.rsplit("-", 1)[1]) not in TUNING_SEEDS
            results.append(evaluate(Clip(spec), played, hold_out))
            log[spec.name] = _log(played)
            print(f"{spec.name}: {len(played.frames)} frames judged, {len(played.events)} alerts", flush=True)
    return results, log


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"hold-out seed {QUICK_SEED}, scenes {', '.join(QUICK_SCENES)} (for CI, about 2 minutes)",
    )
    parser.add_argument("--seeds", type=int, nargs="*", help="seeds to play (default: tuning and hold-out)")
    parser.add_argument("--scenes", nargs="*", choices=SCENES, help="scenes to play (default: all)")
    parser.add_argument(
        "--motion",
        action="store_true",
        help="motion gating on, as the config defaults it (off for the targets: bench/tracking_play.py)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "tracking.json")
    parser.add_argument(
        "--detections",
        type=Path,
        help="also write every judged frame's raw detections here (JSON), to replay",
    )
    arguments = parser.parse_args(argv)
    seeds = arguments.seeds or ([QUICK_SEED] if arguments.quick else [*HOLD_OUT_SEEDS, *TUNING_SEEDS])
    names = arguments.scenes or (QUICK_SCENES if arguments.quick else SCENES)
    specs = [scene(name, seed) for seed in seeds for name in names]
    began = time.perf_counter()
    load_before = os.getloadavg()
    results, log = run(specs, arguments.motion)
    if arguments.detections is not None:
        arguments.detections.write_text(json.dumps(log) + "\n")
    summary = summarise(results)
    load_after = os.getloadavg()
    document = {
        "benchmark": "tracking",
        "mode": "quick" if arguments.quick else "subset" if arguments.seeds or arguments.scenes else "full",
        "method": "file cameras (FFV1 clips, 10 fps, played once) -> Gateway.from_config: CameraPipeline "
        f"(detect_fps {DETECT_FPS:g}, motion gating {'on' if arguments.motion else 'off'}) -> "
        f"InferenceService ({MODEL}) -> AlertDecider (tracker, rules) -> outbox; one clip at a time",
        "tracker": asdict(TrackerSpec()),
        "rules": rules_config(specs[0]) if specs else [],
        "targets": {
            "switches_per_100": TARGET_SWITCHES_PER_100,
            "crossings": "exact",
            "rule_events": "exact",
            "crossing_tolerance_s": CROSSING_TOLERANCE_S,
            "start_tolerance_s": START_TOLERANCE_S,
        },
        "summary": summary,
        "clips": [asdict(result) for result in results],
        **run_record(began, load_before, load_after),
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(document, indent=2) + "\n")
    table = markdown(results, summary)
    rules_table = rules_markdown(results, summary)
    command = " ".join(["bench/tracking.py", *(argv if argv is not None else sys.argv[1:])])
    loads = ", ".join(
        f"{before:.1f} -> {after:.1f}" for before, after in zip(load_before, load_after, strict=True)
    )
    arguments.out.with_suffix(".md").write_text(
        f"# Tracking and track rules through the gateway ({document['mode']})\n\n"
        f"`.venv/bin/python {command}`: {document['method']}; {document['seconds']:.0f} s on "
        f"{os.cpu_count()} cores, load average (1, 5, 15 min) {loads}. Tracker knobs tuned on seed(s) "
        f"{', '.join(map(str, TUNING_SEEDS))} only; hold-out first.\n\n"
        f"## Tracks\n\n{table}\n\n"
        f"## Rule events against the truth\n\n"
        f"Crossings matched by direction within {CROSSING_TOLERANCE_S} s, loiter / count / stationary "
        f"starts within {START_TOLERANCE_S} s (`bench/tracking_rules.py`); each cell: matched/truth, "
        "then what was missed (-) or extra (+).\n\n"
        f"{rules_table}\n"
    )
    print(table)
    print()
    print(rules_table)
    print(
        f"\nwritten {arguments.out} in {document['seconds']:.1f} s; targets met: {summary['meets_targets']}"
    )
    return 0 if summary["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
