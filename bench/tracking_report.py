"""The tracking benchmark's results: per-clip record, pooled summary, markdown tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.tracking_metrics import MotScore
from bench.tracking_scenes import SCENES

TARGET_SWITCHES_PER_100 = 1.0


@dataclass(frozen=True, slots=True)
class ClipResult:
    clip: str
    scene: str
    seed: int
    hold_out: bool
    frames: int
    tracked_frames: int
    late_results: int
    drops: dict[str, int]
    score: MotScore
    switches_per_100: float
    tracker_cpu_ms_mean: float
    truth: dict[str, object]
    events: list[dict[str, object]]


def summarise(results: Sequence[ClipResult]) -> dict[str, object]:
    def pooled(group: Sequence[ClipResult]) -> dict[str, object]:
        boxes = sum(result.score.truth_boxes for result in group)
        switches = sum(result.score.id_switches for result in group)
        errors = sum(
            result.score.misses + result.score.false_positives + result.score.id_switches for result in group
        )
        return {
            "clips": len(group),
            "truth_boxes": boxes,
            "id_switches": switches,
            "switches_per_100": 100.0 * switches / boxes if boxes else 0.0,
            "mota": 1.0 - errors / boxes if boxes else 0.0,
            "idf1_mean": sum(result.score.idf1 for result in group) / len(group) if group else 0.0,
            "false_positives": sum(result.score.false_positives for result in group),
            "misses": sum(result.score.misses for result in group),
            "detector_recall_mean": sum(result.score.detector_recall for result in group) / len(group)
            if group
            else 0.0,
        }

    hold_out = pooled([result for result in results if result.hold_out])
    tuning = pooled([result for result in results if not result.hold_out])
    rate = hold_out["switches_per_100"]
    assert isinstance(rate, float)
    met = bool(hold_out["clips"]) and rate <= TARGET_SWITCHES_PER_100
    return {"hold_out": hold_out, "tuning": tuning, "meets_target": met}


def markdown(results: Sequence[ClipResult], summary: dict[str, object]) -> str:
    lines = [
        "| clip | set | tracked/frames | truth boxes | MOTA | IDF1 | ID switches | per 100 | FP | misses "
        "| detector recall | tracker ms/frame |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in sorted(
        results, key=lambda result: (not result.hold_out, result.seed, SCENES.index(result.scene))
    ):
        item = result.score
        lines.append(
            f"| {result.clip} | {'hold-out' if result.hold_out else 'tuning'} "
            f"| {result.tracked_frames}/{result.frames} "
            f"| {item.truth_boxes} | {item.mota:.3f} | {item.idf1:.3f} | {item.id_switches} "
            f"| {result.switches_per_100:.2f} | {item.false_positives} | {item.misses} "
            f"| {item.detector_recall:.3f} | {result.tracker_cpu_ms_mean:.3f} |"
        )
    for name in ("hold_out", "tuning"):
        group = summary[name]
        assert isinstance(group, dict)
        if group["clips"]:
            lines.append(
                f"| **{name.replace('_', '-')}** ({group['clips']} clips) | | | {group['truth_boxes']} "
                f"| {group['mota']:.3f} | {group['idf1_mean']:.3f} (mean) | {group['id_switches']} "
                f"| {group['switches_per_100']:.2f} | {group['false_positives']} | {group['misses']} "
                f"| {group['detector_recall_mean']:.3f} (mean) | |"
            )
    return "\n".join(lines)


def truth_markdown(results: Sequence[ClipResult]) -> str:
    """What each clip should make a rules stage raise (bench/tracking_truth.py), and what it raised."""
    lines = [
        "| clip | crossings in/out | loiter intervals | count intervals (max) | stationary intervals "
        "| rule events | crossing events in/out |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in sorted(results, key=lambda result: (result.seed, SCENES.index(result.scene))):
        truth = result.truth
        count = truth["count"]
        loiter, stationary = truth["loiter"], truth["stationary"]
        assert isinstance(count, list)
        assert isinstance(loiter, list)
        assert isinstance(stationary, list)
        peaks = ", ".join(str(interval["max_count"]) for interval in count)
        directions = [event["direction"] for event in result.events]
        lines.append(
            f"| {result.clip} | {truth['crossings_in']}/{truth['crossings_out']} | {len(loiter)} "
            f"| {len(count)}{f' ({peaks})' if peaks else ''} | {len(stationary)} | {len(result.events)} "
            f"| {directions.count('in')}/{directions.count('out')} |"
        )
    return "\n".join(lines)
