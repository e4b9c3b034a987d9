"""The accuracy benchmark's real path: clips enrolled like ``edge-gateway enroll`` does and played as
file cameras through the gateway's own parts, all at once.

For every clip: enroll ``scene-anomaly-<clip>`` on the clip's normal part (``gateway.enroll``), and
write the rest of the clip as a lossless video file (``clips.write_video``). Then all clips play at
once, one file camera per clip, wired as ``gateway.pipeline.Gateway`` wires them: ``CameraPipeline``
(camera reader threads at the file's own frame rate, the sampler) -> ``InferenceService``
(repository, batcher, worker pool, pre- and post-processing with the threshold stored with each
model) -> ``RuleEngine`` with each camera's ``anomaly:`` config. The outbox is left out: it would add
only a disk write per alert, and the metrics need each judged frame (sequence number, capture time,
score), which only the result sink sees.

Differences from a production config, each on purpose:

- motion gating is off, so every frame reaches the model (gating is a CPU saving, not a detector);
- the sampler visits each camera at twice the clip's frame rate: the reader and the sampler run on
  their own clocks, and at equal rates jitter would skip frames; a visit with no new frame is free;
- ``cooldown_s`` is 0, so an object that follows another soon after is its own event;
- no cap on frames pending across cameras (``Gateway`` uses twice the workers): all cameras start in
  the same sampler tick, and such a cap would drop most of them as ``busy``;
- a camera's frames after the clip's end (file cameras loop) are refused before inference.

Timing: frame ``seq`` (1-based, counted by the camera reader over every decoded frame) is the frame's
position in the video, so clip index = enrolled frames + seq - 1. The clip's start wall time T0 is
min(captured_at - (seq - 1) / fps) over the judged frames (the reader sleeps until each frame is due
and is never early, so the minimum is the on-time schedule); delays are measured against it, so they
include any lag of the camera reader.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.accuracy_metrics import END_AFTER_S, CameraRecord, JudgedFrame, anomaly_rule
from bench.clips import Clip, ClipSpec, Interval, write_video
from gateway.config import GatewayConfig
from gateway.domain import DetectOutput, Frame, FrameResult
from gateway.enroll import enroll_frames, model_name
from gateway.errors import OverloadedError
from gateway.inference.service import InferenceService
from gateway.pipeline_cameras import CameraPipeline
from gateway.rules.engine import ANOMALY, RuleEngine

SAMPLING_FACTOR = 2.0
SETTLE_S = 1.0
"""Wait after the last camera looped, for the results of its last frames."""


@dataclass(frozen=True, slots=True)
class PreparedClip:
    clip_set: str
    spec: ClipSpec
    events: tuple[Interval, ...]
    presence: tuple[Interval, ...]
    video: Path
    model: Path
    played_frames: int
    """Frames in the video: the clip after its enrollment part."""
    normal_quantile: float


def prepare(clip_set: str, spec: ClipSpec, workdir: Path) -> PreparedClip:
    """Enroll on the normal part, write the rest as the camera's video (runs in a worker process)."""
    clip = Clip(spec)
    enrolled = enroll_frames(
        clip.frames(0, spec.enroll_frames), camera_id=spec.name, repository=workdir / "models"
    )
    video = workdir / "clips" / f"{spec.name}.mkv"
    played = write_video(clip, video, spec.enroll_frames)
    return PreparedClip(
        clip_set,
        spec,
        clip.events,
        clip.presence,
        video,
        enrolled.model_path,
        played,
        enrolled.normal_quantile,
    )


def gateway_config(clips: Sequence[PreparedClip], workdir: Path) -> GatewayConfig:
    cameras = [
        {
            "id": clip.spec.name,
            "url": str(clip.video),
            "detect_fps": SAMPLING_FACTOR * clip.spec.fps,
            "motion": {"enabled": False},
            "anomaly": anomaly_rule(model_name(clip.spec.name)),
        }
        for clip in clips
    ]
    return GatewayConfig.model_validate(
        {
            "device_id": "accuracy",
            "state_dir": str(workdir / "state"),
            "models": {"repository": str(workdir / "models")},
            "cameras": cameras,
        }
    )


class Recorder:
    """Between the camera half and the rules: refuses replayed frames, records every judged frame and
    feeds the rule engine in one place (as the gateway's decider thread does)."""

    def __init__(self, inference: InferenceService, rules: RuleEngine, clips: Sequence[PreparedClip]) -> None:
        self._inference = inference
        self._rules = rules
        self._lock = threading.Lock()
        self.cameras = {clip.spec.name: CameraRecord(clip.played_frames) for clip in clips}

    def detect(self, reference: str, frame: Frame, deadline: float | None) -> Future[DetectOutput]:
        if frame.seq > self.cameras[frame.camera_id].played_frames:
            raise OverloadedError("clip already played to its end")
        return self._inference.submit_frame(reference, frame.image, deadline)

    def sink(self, frame: Frame, result: FrameResult) -> None:
        record = self.cameras[frame.camera_id]
        flagged = any(detection.label == ANOMALY for detection in result.detections)
        judged = JudgedFrame(frame.seq, frame.captured_at, result.anomaly_score or 0.0, flagged)
        with self._lock:
            record.frames[frame.seq] = judged
            record.events += self._rules.process(result)

    def close_events(self) -> None:
        """End events still open when their clip ended, as the gateway's tick would."""
        with self._lock:
            for camera_id, record in self.cameras.items():
                if record.frames:
                    last = max(judged.captured_at for judged in record.frames.values())
                    record.events += self._rules.tick(last + END_AFTER_S + 0.001, [camera_id])


def play(clips: Sequence[PreparedClip], workdir: Path) -> tuple[Recorder, dict[str, dict[str, int]]]:
    """All clips through the pipeline at once; returns the records and each camera's drop counts."""
    config = gateway_config(clips, workdir)
    registry = CollectorRegistry()
    inference = InferenceService.from_config(config, registry)
    recorder = Recorder(inference, RuleEngine.from_config(config), clips)
    cameras = CameraPipeline(config.cameras, recorder.detect, recorder.sink, registry)
    inference.start()
    try:
        cameras.start()
        longest = max(clip.played_frames / clip.spec.fps for clip in clips)
        give_up = time.monotonic() + 1.5 * longest + 30.0
        while time.monotonic() < give_up and any(
            cameras.frames_in(clip.spec.name) <= clip.played_frames for clip in clips
        ):
            time.sleep(0.25)
        time.sleep(SETTLE_S)
        drops = {status.camera_id: dict(status.drops) for status in cameras.cameras()}
    finally:
        cameras.stop()
        inference.stop()
    recorder.close_events()
    return recorder, drops
