"""Playing one benchmark clip through the gateway as ``serve`` wires it, and recording what it did.

``Gateway.from_config`` builds the real parts (``CameraPipeline`` -> ``InferenceService`` ->
``AlertDecider`` with the camera's tracker -> rules -> outbox) from a config holding one file camera
with the clip's line, zone and rules. Three of its hooks record, none replaces a part:

- ``open_source`` wraps the real file source so the clip plays once: OpenCV's file source loops,
  and a second pass would replay every crossing with new track ids. After the clip's last frame the
  stream goes quiet until the benchmark lets it end (``PlayOnce.release``); the camera's
  ``read_timeout_s`` is far longer than that, so the watchdog never calls the quiet a stall.
- ``observe`` (on the decider's thread) sees every frame result exactly as the rules judge it, with
  the tracker's ids: the MOT metrics are scored on it. It also reads the decider thread's CPU time.
- ``alert_echo`` receives every alert once the outbox has committed it (signed alert v2 JSON, one
  a line): the rule events, judged against the clip's truth by ``bench/tracking_rules.py``.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.tracking_clips import ClipSpec
from gateway.config import CameraConfig, GatewayConfig
from gateway.domain import AlertEvent, Detection, FrameResult, Image
from gateway.errors import SourceError
from gateway.ingest.sources import FrameSource, SourceFactory, source_factory
from gateway.pipeline.gateway import Gateway
from gateway.protocol.alerts import decode_alert

MODEL = "face-detector"
MIN_SCORE = 0.4
"""The rules' ``min_score``: face-detector's operating point, as the embedded config sets it (its
moving faces score 0.4..0.55; at the default 0.5 a face turning up across a line is counted only
once it scores more, 0.7 s late on crowd-13 and 1.8 s on loiter-12)."""
DETECT_FPS = 5.0
SETTLE_S = 1.0
"""After the clip's last frame: time for the frames still in inference to reach the rules."""
QUIET_READ_TIMEOUT_S = 3600.0
"""The camera's read_timeout_s: longer than any clip, so the quiet after its end is no stall."""


def rules_config(spec: ClipSpec) -> list[dict[str, object]]:
    """The clip's track rules, as a user of face-detector writes them (README "Counting and
    dwell"): ``min_score`` the detector's operating point, label and timing keys left at their
    defaults. ``stationary`` covers the whole frame, as the truth does."""
    parameters = spec.rules
    rules: list[dict[str, object]] = [
        {"name": "crossing", "type": "line_crossing", "line": spec.line.name, "direction": "any"},
        {"name": "loiter", "type": "loiter", "zones": ["zone"], "min_s": parameters.loiter_min_s},
        {
            "name": "count",
            "type": "count",
            "zones": ["zone"],
            "min_count": parameters.count_min,
            "min_s": parameters.count_min_s,
        },
        {"name": "stationary", "type": "stationary", "min_s": parameters.stationary_min_s},
    ]
    return [{**rule, "min_score": MIN_SCORE} for rule in rules]


def gateway_config(spec: ClipSpec, video: Path, state_dir: Path, motion: bool = False) -> GatewayConfig:
    line = spec.line
    camera = {
        "id": spec.name,
        "url": str(video),
        "detect_fps": DETECT_FPS,
        "model": MODEL,
        # Off by default: the scenes hold objects standing still on a still background, and with
        # motion gating a camera whose only objects stand still runs no inference (``--motion``
        # measures what that does to the rules).
        "motion": {"enabled": motion},
        "read_timeout_s": QUIET_READ_TIMEOUT_S,
        "zones": [{"name": "zone", "polygon": [list(point) for point in spec.zone]}],
        "lines": [
            {
                "name": line.name,
                "points": [list(point) for point in line.points],
                "in_direction": list(line.in_direction),
            }
        ],
        "rules": rules_config(spec),
    }
    return GatewayConfig.model_validate(
        {
            "device_id": "tracking",
            "state_dir": str(state_dir),
            "models": {"repository": str(Path(__file__).resolve().parent.parent / "models")},
            "cameras": [camera],
        }
    )


class _OnceSource:
    """The real source, cut off after ``frames`` frames: then quiet until released, then ended."""

    def __init__(self, inner: FrameSource, player: PlayOnce) -> None:
        self._inner = inner
        self._player = player

    def grab(self) -> None:
        player = self._player
        if player.grabbed >= player.frames:
            player.finished.set()
            player.release.wait()
            raise SourceError("the clip has played to its end")
        self._inner.grab()
        player.grabbed += 1

    def retrieve(self) -> Image:
        return self._inner.retrieve()

    def read(self) -> Image:
        self.grab()
        return self.retrieve()

    def close(self) -> None:
        self._inner.close()


class PlayOnce:
    """``open_source`` for the gateway: the camera's real source, played once (one camera only)."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.grabbed = 0
        """Frames taken from the file (only the camera's reader thread counts them)."""
        self.opened = 0
        self.finished = threading.Event()
        """Set once the last frame was grabbed and the reader asked for one more."""
        self.release = threading.Event()
        """Set by the benchmark before it stops the gateway: the quiet stream ends."""

    def __call__(self, config: CameraConfig) -> SourceFactory:
        real = source_factory(config)

        def open_source() -> FrameSource:
            if self.opened:
                # A reopen would start the file again: every crossing twice, with new track ids.
                raise SourceError("the clip plays once")
            self.opened += 1
            return _OnceSource(real(), self)

        return open_source


@dataclass(frozen=True, slots=True)
class JudgedFrame:
    seq: int
    """The camera's frame number: 1-based position in the clip (the clip plays once)."""
    captured_at: float
    detections: tuple[Detection, ...]
    """As the rules saw them: the tracker's output, ``track_id`` set on confirmed tracks."""


@dataclass(slots=True)
class Played:
    frames: list[JudgedFrame] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)
    """Every committed alert, in seq order."""
    drops: dict[str, int] = field(default_factory=dict)
    late: int = 0
    """Results the decider dropped as late (a newer frame had been judged)."""
    decider_cpu_s: float = 0.0
    """CPU time of the decider thread from the first judged frame to the last."""
    seconds: float = 0.0
    complete: bool = False
    """The clip played to its end (else the run gave up waiting)."""


class _Observer:
    def __init__(self, played: Played) -> None:
        self._played = played
        self._first_cpu_s: float | None = None

    def __call__(self, result: FrameResult) -> None:
        # On the decider thread: its CPU time between the first and the last judged frame covers
        # the tracker, the rules and the queueing of commits of every frame in between.
        cpu = time.thread_time()
        if self._first_cpu_s is None:
            self._first_cpu_s = cpu
        self._played.decider_cpu_s = cpu - self._first_cpu_s
        self._played.frames.append(JudgedFrame(result.frame_seq, result.captured_at, result.detections))


def _late(registry: CollectorRegistry) -> int:
    value = registry.get_sample_value("edge_gateway_decider_results_dropped_total", {"reason": "late"})
    return int(value or 0)


def play(spec: ClipSpec, video: Path, state_dir: Path, *, motion: bool = False) -> Played:
    """Play the clip once through a gateway built by ``Gateway.from_config``; what it judged and
    committed. ``motion``: with the camera's motion gating on (the config default)."""
    played = Played()
    player = PlayOnce(spec.frame_count)
    echo = io.StringIO()
    registry = CollectorRegistry()
    gateway = Gateway.from_config(
        gateway_config(spec, video, state_dir, motion),
        registry=registry,
        alert_echo=echo,
        open_source=player,
        observe=_Observer(played),
    )
    began = time.monotonic()
    gateway.start()
    try:
        played.complete = player.finished.wait(1.5 * spec.duration_s + 30.0)
        time.sleep(SETTLE_S)
        played.drops = {
            reason.value: count
            for status in gateway.cameras.cameras()
            for reason, count in status.drops.items()
        }
    finally:
        player.release.set()
        gateway.stop()
    played.seconds = time.monotonic() - began
    played.late = _late(registry)
    played.events = [decode_alert(line.encode()).event for line in echo.getvalue().splitlines() if line]
    return played
