"""The accuracy benchmark's offline half: every method on the same frames, through the same rules and
judging, without the pipeline (``replay.py``), and each method's CPU per frame.

Methods: ``ours`` (the enrolled ONNX model of the clip, run by ONNX Runtime directly), ``MOG2`` and
``KNN`` (``baselines.py``). Offline figures have no reader lag and no dropped frames; ours also runs
through the real pipeline (``accuracy_pipeline.py``), and the two rows for ours show what the
pipeline adds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import numpy as np
import onnxruntime as ort

from bench.accuracy_metrics import ClipResult, evaluate
from bench.accuracy_pipeline import PreparedClip
from bench.baselines import BASELINES, Subtractor, SubtractorSettings, cpu_per_frame_ms
from bench.clips import Clip, Image
from bench.replay import Decision, replay

OURS = "ours"
BATCH = 32
CPU_FRAMES = 300


def _session(prepared: PreparedClip) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(prepared.model), options, providers=["CPUExecutionProvider"])


def _ours(prepared: PreparedClip, frames: Sequence[Image]) -> Iterator[Decision]:
    session = _session(prepared)
    for start in range(0, len(frames), BATCH):
        scores, maps = session.run(None, {"frame": np.stack(frames[start : start + BATCH])})
        for score, cells in zip(scores, maps, strict=True):
            yield Decision(float(score), bool(score >= 0.5), np.asarray(cells, dtype=np.float32))


def offline(prepared: PreparedClip, frames: Sequence[Image]) -> dict[str, ClipResult]:
    """Every method on one clip, whose every frame is ``frames`` (runs in a worker process)."""
    enrolment, played = frames[: prepared.spec.enroll_frames], frames[prepared.spec.enroll_frames :]
    results = {OURS: _judge(prepared, _ours(prepared, played), OURS)}
    for settings in BASELINES:
        subtractor = Subtractor(settings)
        subtractor.learn(enrolment)
        results[settings.label] = _judge(prepared, subtractor.decisions(played), settings.label)
    return results


def _judge(prepared: PreparedClip, decisions: Iterator[Decision], model: str) -> ClipResult:
    record = replay(prepared.spec, decisions, model=model)
    return evaluate(prepared.spec, prepared.events, prepared.presence, record, {})


def cpu_per_frame(prepared: PreparedClip) -> dict[str, float]:
    """Median process CPU time per frame of each method, ms, one frame at a time on one thread."""
    spec = prepared.spec
    frames = list(Clip(spec).frames(spec.enroll_frames, spec.enroll_frames + CPU_FRAMES))
    session = _session(prepared)
    for frame in frames[:20]:
        session.run(None, {"frame": frame[np.newaxis]})
    times = []
    for frame in frames:
        began = time.process_time()
        session.run(None, {"frame": frame[np.newaxis]})
        times.append(time.process_time() - began)
    measured = {OURS: float(np.median(times) * 1000.0)}
    settings: SubtractorSettings
    for settings in BASELINES:
        measured[settings.label] = cpu_per_frame_ms(settings, frames)
    return measured
