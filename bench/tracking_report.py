"""The tracking benchmark's results: per-clip record, pooled summary, markdown tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.tracking_metrics import MotScore
from bench.tracking_rules import RULES
from bench.tracking_scenes import SCENES

TARGET_SWITCHES_PER_100 = 1.0


@dataclass(frozen=True, slots=True)
class ClipResult:
    clip: str
    scene: str
    seed: int
    hold_out: bool
    frames: int
    judged_frames: int
    complete: bool
    late_results: int
    drops: dict[str, int]
    score: MotScore
    switches_per_100: float
    decider_cpu_ms_per_frame: float
    """The decider thread's CPU per judged frame: tracker, rules, queueing the commits."""
    truth: dict[str, object]
    rules: dict[str, dict[str, Any]]
    """Per rule: ``RuleScore.as_json`` (``bench/tracking_rules.py``)."""
    events: list[dict[str, object]]


def _pooled_rules(group: Sequence[ClipResult]) -> dict[str, dict[str, float]]:
    pooled: dict[str, dict[str, float]] = {}
    for rule in RULES:
        scores = [result.rules[rule] for result in group]
        pooled[rule] = {
            "truth": sum(item["truth"] for item in scores),
            "events": sum(item["events"] for item in scores),
            "matched": sum(item["matched"] for item in scores),
            "optional": sum(item["optional"] for item in scores),
            "optional_matched": sum(item["optional_matched"] for item in scores),
            "missed": sum(len(item["missed"]) for item in scores),
            "extra": sum(len(item["extra"]) for item in scores),
            "wrong_count": sum(len(item["wrong_count"]) for item in scores),
            "exact_clips": sum(1 for item in scores if item["exact"]),
            "max_offset_s": max((item["max_offset_s"] for item in scores), default=0.0),
        }
    return pooled


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
            "rules": _pooled_rules(group),
        }

    held = [result for result in results if result.hold_out]
    hold_out = pooled(held)
    tuning = pooled([result for result in results if not result.hold_out])
    rate = hold_out["switches_per_100"]
    assert isinstance(rate, float)
    met = {
        "switches_per_100": bool(held) and rate <= TARGET_SWITCHES_PER_100,
        "crossings_exact": bool(held) and all(result.rules["crossing"]["exact"] for result in held),
        "rule_events_exact": bool(held)
        and all(result.rules[rule]["exact"] for result in held for rule in RULES[1:]),
        "every_clip_played": all(result.complete for result in results),
    }
    return {"hold_out": hold_out, "tuning": tuning, "met": met, "meets_targets": all(met.values())}


def markdown(results: Sequence[ClipResult], summary: dict[str, object]) -> str:
    lines = [
        "| clip | set | judged/frames | truth boxes | MOTA | IDF1 | ID switches | per 100 | FP | misses "
        "| detector recall | decider CPU ms/frame |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in _ordered(results):
        item = result.score
        lines.append(
            f"| {result.clip} | {'hold-out' if result.hold_out else 'tuning'} "
            f"| {result.judged_frames}/{result.frames} "
            f"| {item.truth_boxes} | {item.mota:.3f} | {item.idf1:.3f} | {item.id_switches} "
            f"| {result.switches_per_100:.2f} | {item.false_positives} | {item.misses} "
            f"| {item.detector_recall:.3f} | {result.decider_cpu_ms_per_frame:.3f} |"
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


def _ordered(results: Sequence[ClipResult]) -> list[ClipResult]:
    return sorted(results, key=lambda result: (not result.hold_out, result.seed, SCENES.index(result.scene)))


def _cell(score: dict[str, Any]) -> str:
    text = f"{score['matched']}/{score['truth']}"
    if score["optional"]:
        text += f" (optional {score['optional_matched']}/{score['optional']})"
    if score["missed"]:
        text += f" -{len(score['missed'])}"
    if score["extra"]:
        text += f" +{len(score['extra'])}"
    if score["wrong_count"]:
        text += " count " + ", ".join(f"{truth} vs {got}" for truth, got in score["wrong_count"])
    return text


def rules_markdown(results: Sequence[ClipResult], summary: dict[str, object]) -> str:
    """What each clip should make the rules raise (bench/tracking_truth.py) against what the gateway
    committed, then every miss and extra event with its time (clip seconds) and mover."""
    lines = [
        "| clip | set | crossings in/out: truth | alerts | matched | loiter | count | stationary | exact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for result in _ordered(results):
        rules = result.rules
        crossing = rules["crossing"]
        exact = all(rules[rule]["exact"] for rule in RULES)
        lines.append(
            f"| {result.clip} | {'hold-out' if result.hold_out else 'tuning'} "
            f"| {crossing['truth_in']}/{crossing['truth_out']} "
            f"| {crossing['events_in']}/{crossing['events_out']} "
            f"| {_cell(crossing)} | {_cell(rules['loiter'])} | {_cell(rules['count'])} "
            f"| {_cell(rules['stationary'])} | {'yes' if exact else '**no**'} |"
        )
        for rule in RULES:
            for what, sign in (("missed", "missed"), ("extra", "extra")):
                for item in rules[rule][what]:
                    where = f", {item['direction']}" if item["direction"] else ""
                    who = f", mover {item['mover']}" if item["mover"] else ""
                    track = f", track {item['track_id']}" if item["track_id"] is not None else ""
                    notes.append(f"- {result.clip} {rule}: {sign} at {item['t']:.1f} s{where}{who}{track}")
    for name in ("hold_out", "tuning"):
        group = summary[name]
        assert isinstance(group, dict)
        if group["clips"]:
            pooled = group["rules"]
            cells = [
                f"{pooled[rule]['matched']}/{pooled[rule]['truth']} -{pooled[rule]['missed']} "
                f"+{pooled[rule]['extra']}, off by <= {pooled[rule]['max_offset_s']:.1f} s"
                + (
                    f" (optional {pooled[rule]['optional_matched']}/{pooled[rule]['optional']})"
                    if pooled[rule]["optional"]
                    else ""
                )
                for rule in RULES
            ]
            exact_rules = sum(pooled[rule]["exact_clips"] for rule in RULES)
            lines.append(
                f"| **{name.replace('_', '-')}** ({group['clips']} clips) | | "
                f"{pooled['crossing']['truth']} | {pooled['crossing']['events']} | {' | '.join(cells)} "
                f"| {exact_rules}/{len(RULES) * group['clips']} rule-clips |"
            )
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")
