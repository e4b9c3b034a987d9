"""Offline replay: a clip's per-frame decisions through the gateway's RuleEngine on the clip's own
timeline (frame ``i`` of the played part is captured at ``i / fps``), then judged like a pipeline run.

Used where no pipeline runs: ours offline (the enrolled ONNX model), the OpenCV baselines, and the
numpy reference while tuning. The only difference from a pipeline run is timing: no reader lag and
no dropped frames, so a method's figures here are its own, without the pipeline's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.accuracy_metrics import (
    ANOMALY_LABEL,
    CameraRecord,
    ClipResult,
    JudgedFrame,
    anomaly_rule,
    evaluate,
)
from bench.clips import Clip, ClipSpec
from gateway.config import GatewayConfig
from gateway.domain import AnomalyMap, Detection, FrameResult, ModelRef
from gateway.pipeline.specs import rule_specs
from gateway.rules.engine import RuleEngine

BENCH = Path(__file__).resolve().parent
THRESHOLD = 0.5
"""Where the squashed scores of ``Decision`` put the threshold, as the models' own outputs do."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One played frame as a method judged it."""

    score: float
    flagged: bool
    anomaly_map: npt.NDArray[np.float32] | None = None
    """Cells, squashed like the model's map output (0.5 at the threshold), for the rules."""


def rule_engine(spec: ClipSpec, model: str) -> RuleEngine:
    camera = {"id": spec.name, "url": f"{spec.name}.mkv", "anomaly": anomaly_rule(model)}
    config = GatewayConfig.model_validate({"device_id": "replay", "cameras": [camera]})
    return RuleEngine(rule_specs(config.cameras))


def replay(spec: ClipSpec, decisions: Iterable[Decision], model: str = "replay") -> CameraRecord:
    rules = rule_engine(spec, model)
    reference = ModelRef(model, 1)
    record = CameraRecord(spec.frame_count - spec.enroll_frames)
    last = 0.0
    for seq, decision in enumerate(decisions, start=1):
        last = (seq - 1) / spec.fps
        detections = (Detection(ANOMALY_LABEL, min(decision.score, 1.0), None),) if decision.flagged else ()
        cells = None if decision.anomaly_map is None else AnomalyMap(decision.anomaly_map, THRESHOLD)
        result = FrameResult(spec.name, seq, last, reference, detections, decision.score, anomaly_map=cells)
        record.frames[seq] = JudgedFrame(seq, last, decision.score, decision.flagged)
        record.events += rules.process(result)
    record.events += rules.tick(last + 3600.0)
    return record


def judge(spec: ClipSpec, decisions: Sequence[Decision]) -> ClipResult:
    clip = Clip(spec)
    return evaluate(spec, clip.events, clip.presence, replay(spec, decisions), {})


def _digest(spec: ClipSpec) -> str:
    generator = hashlib.sha256(repr(spec).encode())
    for module in ("clips.py", "scene_families.py", "scene_motion.py"):
        generator.update((BENCH / module).read_bytes())
    return generator.hexdigest()[:16]


def cached_frames(spec: ClipSpec, cache: Path | None) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """(enrollment frames, played frames) of a clip, from ``cache`` when rendered before by the same
    generator (the file name carries a digest of the spec and of the generator's source)."""
    path = None if cache is None else cache / f"{spec.name}-{_digest(spec)}.npy"
    if path is not None and path.exists():
        frames = np.load(path, mmap_mode="r")
    else:
        clip = Clip(spec)
        frames = np.stack(list(clip.frames()))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, frames)
    rendered: npt.NDArray[np.uint8] = np.asarray(frames)
    return rendered[: spec.enroll_frames], rendered[spec.enroll_frames :]
