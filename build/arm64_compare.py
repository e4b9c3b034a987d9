"""Compares two runs of the pipeline smoke (``arm64_smoke.py``): the x86_64 reference and a candidate.

It passes when the alerts agree (rule, label and kind, in order; the number of events; scores
within 0.02) and every /v2 output is within 1e-4 of the reference's for the same input (the
candidate was given the reference's inputs): absolutely for values within [-1, 1], relatively
beyond (see OUTPUT_TOLERANCE). It fails when the reference raised no alert, so it cannot pass by
comparing nothing with nothing. It also reports what it does not judge: whether the decoded frames
were bit-identical, and how far apart the per-frame top scores were.

Usage::

    python build/arm64_compare.py REFERENCE_DIR CANDIDATE_DIR

prints one line, writes CANDIDATE_DIR/comparison.json, and exits 1 naming each difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RESULT_FILE = "result.json"
V2_DIRECTORY = "v2"
INPUT_SUFFIX = ".input.npy"
OUTPUT_SUFFIX = ".output.npy"
SCORE_TOLERANCE = 0.02
OUTPUT_TOLERANCE = 1e-4
"""Absolute for outputs within [-1, 1] (class scores), relative beyond: box coordinates are in input
pixels, up to 320, where one float32 step is 3e-5 and another summation order moves the last few."""

Array = npt.NDArray[Any]


def save_arrays(directory: Path, suffix: str, arrays: Mapping[str, Array]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(directory / f"{name}{suffix}", array)


def load_arrays(directory: Path, suffix: str) -> dict[str, Array]:
    return {path.name.removesuffix(suffix): np.load(path) for path in sorted(directory.glob(f"*{suffix}"))}


@dataclass(frozen=True, slots=True)
class Comparison:
    problems: list[str]
    facts: dict[str, Any]


def _decisions(alerts: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    return [(alert["rule"], alert["label"], alert["kind"]) for alert in alerts]


def compare_alerts(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> Comparison:
    problems = []
    ours, theirs = reference["alerts"], candidate["alerts"]
    if not any(alert["kind"] == "start" for alert in ours):
        problems.append("the reference raised no alert: comparing would prove nothing")
    if _decisions(ours) != _decisions(theirs):
        problems.append(f"alerts differ: reference {_decisions(ours)}, candidate {_decisions(theirs)}")
    events = [len({alert["event_id"] for alert in alerts}) for alerts in (ours, theirs)]
    if events[0] != events[1]:
        problems.append(f"events differ: reference {events[0]}, candidate {events[1]}")
    score_gap = max(
        (abs(mine["score"] - other["score"]) for mine, other in zip(ours, theirs, strict=False)), default=0.0
    )
    if score_gap > SCORE_TOLERANCE:
        problems.append(f"alert scores differ by up to {score_gap:.4f} (tolerance {SCORE_TOLERANCE})")
    frame_gaps = [
        abs(mine["top_score"] - other["top_score"])
        for mine, other in zip(reference["per_frame"], candidate["per_frame"], strict=False)
        if mine["top_score"] is not None and other["top_score"] is not None
    ]
    facts = {
        "frames_judged": [reference["frames"]["judged"], candidate["frames"]["judged"]],
        "frames_identical": reference["frames"]["sha256"] == candidate["frames"]["sha256"],
        "alerts": [len(ours), len(theirs)],
        "events": events,
        "alert_score_max_difference": score_gap,
        "frame_top_score_max_difference": max(frame_gaps, default=0.0),
    }
    return Comparison(problems, facts)


def compare_outputs(reference: Mapping[str, Array], candidate: Mapping[str, Array]) -> Comparison:
    problems = []
    absolute: dict[str, float] = {}
    scaled: dict[str, float] = {}
    if not reference:
        problems.append("the reference has no /v2 outputs")
    for name, expected in reference.items():
        actual = candidate.get(name)
        if actual is None or actual.shape != expected.shape:
            problems.append(f"/v2 output for {name!r} is missing or has another shape")
            continue
        wanted = expected.astype(np.float64)
        difference = np.abs(actual.astype(np.float64) - wanted)
        absolute[name] = float(difference.max())
        scaled[name] = float((difference / np.maximum(1.0, np.abs(wanted))).max())
        if scaled[name] > OUTPUT_TOLERANCE:
            problems.append(
                f"/v2 output for {name!r} differs by up to {scaled[name]:.3g} of max(1, |reference|) "
                f"(tolerance {OUTPUT_TOLERANCE})"
            )
    facts = {"v2_max_abs_difference": absolute, "v2_max_scaled_difference": scaled}
    return Comparison(problems, facts)


def compare(reference_dir: Path, candidate_dir: Path) -> int:
    reference = json.loads((reference_dir / RESULT_FILE).read_text())
    candidate = json.loads((candidate_dir / RESULT_FILE).read_text())
    alerts = compare_alerts(reference, candidate)
    outputs = compare_outputs(
        load_arrays(reference_dir / V2_DIRECTORY, OUTPUT_SUFFIX),
        load_arrays(candidate_dir / V2_DIRECTORY, OUTPUT_SUFFIX),
    )
    problems = alerts.problems + outputs.problems
    facts = {
        "reference": reference["platform"],
        "candidate": candidate["platform"],
        **alerts.facts,
        **outputs.facts,
        "seconds": {"reference": reference["seconds"], "candidate": candidate["seconds"]},
    }
    gaps = ", ".join(
        f"{name} {gap:.2g} ({facts['v2_max_scaled_difference'][name]:.2g} of max(1, |reference|))"
        for name, gap in facts["v2_max_abs_difference"].items()
    )
    print(
        f"smoke {facts['reference']['machine']} vs {facts['candidate']['machine']}: frames judged "
        f"{facts['frames_judged']}, decoded frames bit-identical: {facts['frames_identical']}; alerts "
        f"{facts['alerts']}, events {facts['events']}, alert scores within "
        f"{facts['alert_score_max_difference']:.2g} (per-frame top scores within "
        f"{facts['frame_top_score_max_difference']:.2g}); /v2 outputs max |difference|: {gaps}"
    )
    (candidate_dir / "comparison.json").write_text(
        json.dumps({"problems": problems, **facts}, indent=2) + "\n"
    )
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("reference", type=Path, help="the reference run's --out directory (x86_64)")
    parser.add_argument("candidate", type=Path, help="the candidate run's --out directory (aarch64)")
    arguments = parser.parse_args(argv)
    return compare(arguments.reference, arguments.candidate)


if __name__ == "__main__":
    sys.exit(main())
