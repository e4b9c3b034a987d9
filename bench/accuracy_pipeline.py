"""The accuracy benchmark's real path: clips enrolled like ``edge-gateway enroll`` does and played as
file cameras through the gateway as ``serve`` wires it, all at once.

For every clip: enroll ``scene-anomaly-<clip>`` on the clip's normal part (``gateway.enroll``), and
write the rest of the clip as a lossless video file (``video_file.write_lossless``). Then one gateway built
by ``Gateway.from_config`` plays every clip at once, one file camera per clip: ``CameraPipeline``
(reader threads at the file's own frame rate, the sampler) -> ``InferenceService`` (repository,
batcher, worker pool, pre- and post-processing with the threshold stored with each model) ->
``AlertDecider`` (the camera's anomaly rule: location, new normal, event lifecycle) -> outbox. Three
of its hooks record, none replaces a part:

- ``open_source`` plays each file once (``bench/tracking_play.PlayOnce``, one per camera): OpenCV's
  file source loops, and a second pass would replay every event;
- ``observe`` (on the decider's thread) sees every frame result as the rules judge it: sequence
  number, capture time, score, whether it carried the anomaly detection;
- ``alert_echo`` receives every alert once the outbox has committed it: the detected events.

Differences from a production config, each on purpose:

- motion gating is off, so every frame reaches the model (gating is a CPU saving, not a detector);
- the sampler visits each camera at twice the clip's frame rate: the reader and the sampler run on
  their own clocks, and at equal rates jitter would skip frames; a visit with no new frame is free;
- ``cooldown_s`` is 0, so an object that follows another soon after is its own event;
- the 10 fps event clips start in waves of ``WAVE`` cameras, one wave after the other, while the
  slow clips (drift-only, parking) play from the start: 30 event cameras at once would ask 2 cores
  for 300 frames a second, and the sampler would turn most of them away as ``busy`` (measured: 9,381
  of 17,680 hold-out frames judged) - a measure of the machine, not of the method.

Timing: frame ``seq`` (1-based, counted by the camera reader over every decoded frame) is the frame's
position in the video, so clip index = enrolled frames + seq - 1. The clip's start wall time T0 is
min(captured_at - (seq - 1) / fps) over the judged frames (the reader sleeps until each frame is due
and is never early, so the minimum is the on-time schedule); delays are measured against it, so they
include any lag of the camera reader.

Two paces (``play(paced=...)``):

- real time (the default, what the README reports): each file plays at its own frame rate whatever
  the pipeline does, the newest frame wins, and a machine too slow for every frame drops some (the
  ``drops``): accuracy as a camera on this machine would see it;
- paced by the pipeline (``--paced``, the CI test; ``accuracy_pace.py``): a camera takes its next
  frame once the rules have judged the one before, and frames carry the clip's own capture times,
  so every frame is judged and the rules' durations and the delays are the clip's on any machine;
  a loaded one only takes longer.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.accuracy_metrics import ANOMALY_LABEL, CameraRecord, JudgedFrame, anomaly_rule
from bench.accuracy_pace import PipelinePace
from bench.clips import Clip, ClipSpec, Image, Interval
from bench.tracking_play import QUIET_READ_TIMEOUT_S, PlayOnce
from bench.video_file import write_lossless
from gateway.config import CameraConfig, GatewayConfig
from gateway.domain import FrameResult
from gateway.enroll import enroll_frames, model_name
from gateway.ingest.sources import FrameSource, SourceFactory
from gateway.pipeline.gateway import Gateway
from gateway.protocol.alerts import decode_alert

SAMPLING_FACTOR = 2.0
WAVE = 8
"""Event clips playing at once."""
WAVE_GAP_S = 5.0
SETTLE_S = 2.0
"""After the last clip's last frame: time for the frames still in inference to reach the rules."""
PACED_FRAME_AGE_S = 600.0
"""Paced: each camera's ``max_frame_age_s``. The pace bounds what waits at the models, so a frame's
age there says how slow the machine is, not that a newer frame should win; at the default (1 s) a
starved machine dropped frames as stale or past their deadline."""


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


def prepare(clip_set: str, clip: Clip, frames: Sequence[Image], workdir: Path) -> PreparedClip:
    """Enroll on the normal part of ``frames`` (every frame of ``clip``, rendered once by the caller),
    write the rest as the camera's video (runs in a worker process)."""
    spec = clip.spec
    enrolled = enroll_frames(
        iter(frames[: spec.enroll_frames]), camera_id=spec.name, repository=workdir / "models"
    )
    video = workdir / "clips" / f"{spec.name}.mkv"
    played = write_lossless(iter(frames[spec.enroll_frames :]), video, spec.fps, (spec.width, spec.height))
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


def gateway_config(clips: Sequence[PreparedClip], workdir: Path, *, paced: bool = False) -> GatewayConfig:
    cameras = [
        {
            "id": clip.spec.name,
            "url": str(clip.video),
            "detect_fps": SAMPLING_FACTOR * clip.spec.fps,
            "motion": {"enabled": False},
            "read_timeout_s": QUIET_READ_TIMEOUT_S,
            "anomaly": anomaly_rule(model_name(clip.spec.name)),
            **({"max_frame_age_s": PACED_FRAME_AGE_S} if paced else {}),
        }
        for clip in clips
    ]
    return GatewayConfig.model_validate(
        {
            "device_id": "accuracy",
            "state_dir": str(workdir / "state"),
            "models": {"repository": str(workdir / "models")},
            "outbox": {"evidence": {"enabled": False}},
            "cameras": cameras,
        }
    )


def start_offsets(clips: Sequence[PreparedClip], *, paced: bool = False) -> dict[str, float]:
    """Seconds after the first camera opens at which each clip starts: event clips (10 fps) in waves
    of ``WAVE``, the slower clips at once; paced, every clip at once (the pace bounds the load)."""
    if paced:
        return {clip.spec.name: 0.0 for clip in clips}
    events = [clip for clip in clips if clip.spec.fps >= 10.0]
    wave_s = max((clip.played_frames / clip.spec.fps for clip in events), default=0.0) + WAVE_GAP_S
    offsets = {clip.spec.name: 0.0 for clip in clips}
    for index, clip in enumerate(events):
        offsets[clip.spec.name] = (index // WAVE) * wave_s
    return offsets


class Players:
    """``open_source`` for the gateway: each camera's real source, played once, opened at its
    clip's start offset (the file plays at its own rate from when it is opened); paced, each frame
    taken when ``pace`` lets it."""

    def __init__(self, clips: Sequence[PreparedClip], pace: PipelinePace | None = None) -> None:
        self.players = {clip.spec.name: PlayOnce(clip.played_frames) for clip in clips}
        self.pace = pace
        self.offsets = start_offsets(clips, paced=pace is not None)
        self.longest_s = max(
            self.offsets[clip.spec.name] + clip.played_frames / clip.spec.fps for clip in clips
        )
        self._lock = threading.Lock()
        self._began: float | None = None
        self._released = threading.Event()

    def __call__(self, config: CameraConfig) -> SourceFactory:
        player = self.players[config.id]
        real = player(config)
        offset = self.offsets[config.id]
        pace = self.pace

        def open_source() -> FrameSource:
            with self._lock:
                if self._began is None:
                    self._began = time.monotonic()
                start_at = self._began + offset
            self._released.wait(max(0.0, start_at - time.monotonic()))
            source = real()
            return source if pace is None else pace.source(config.id, source, player)

        return open_source

    def wait(self) -> bool:
        """Until every clip has played to its end; False when the run gave up first: real time,
        when the clips took half as long again as they last (and 30 s more); paced, when no frame
        was judged for ``STALL_S``."""
        if self.pace is not None:
            return self.pace.wait(list(self.players.values()))
        give_up = time.monotonic() + 1.5 * self.longest_s + 30.0
        return all(
            player.finished.wait(max(0.0, give_up - time.monotonic())) for player in self.players.values()
        )

    def release(self) -> None:
        self._released.set()
        if self.pace is not None:
            self.pace.stop()
        for player in self.players.values():
            player.release.set()


class Recorder:
    """``observe``: every judged frame of every camera, on the decider's thread."""

    def __init__(self, clips: Sequence[PreparedClip], pace: PipelinePace | None = None) -> None:
        self.cameras = {clip.spec.name: CameraRecord(clip.played_frames) for clip in clips}
        self._pace = pace

    def __call__(self, result: FrameResult) -> None:
        flagged = any(detection.label == ANOMALY_LABEL for detection in result.detections)
        record = self.cameras[result.camera_id]
        score = result.anomaly_score or 0.0
        record.frames[result.frame_seq] = JudgedFrame(result.frame_seq, result.captured_at, score, flagged)
        if self._pace is not None:
            self._pace.judged(result.camera_id, result.frame_seq)


@dataclass(frozen=True, slots=True)
class Played:
    recorder: Recorder
    drops: dict[str, dict[str, int]]
    complete: bool
    """Every clip played to its end (else the run gave up waiting)."""


def play(clips: Sequence[PreparedClip], workdir: Path, *, paced: bool = False) -> Played:
    """All clips through one gateway at once, in real time or ``paced`` by the pipeline (the module
    doc); the records, each camera's drop counts, and whether every clip played to its end."""
    pace = PipelinePace({clip.spec.name: clip.spec.fps for clip in clips}) if paced else None
    players = Players(clips, pace)
    recorder = Recorder(clips, pace)
    echo = io.StringIO()
    gateway = Gateway.from_config(
        gateway_config(clips, workdir, paced=paced),
        registry=CollectorRegistry(),
        alert_echo=echo,
        open_source=players,
        observe=recorder,
        capture_clock=None if pace is None else pace.clock,
    )
    if pace is not None:
        pace.attach(gateway)
    gateway.start()
    try:
        complete = players.wait()
        if pace is None:
            time.sleep(SETTLE_S)
        drops = {
            status.camera_id: {reason.value: count for reason, count in status.drops.items()}
            for status in gateway.cameras.cameras()
        }
    finally:
        players.release()
        gateway.stop()
    for line in echo.getvalue().splitlines():
        if line:
            event = decode_alert(line.encode()).event
            recorder.cameras[event.camera_id].events.append(event)
    return Played(recorder, drops, complete)
