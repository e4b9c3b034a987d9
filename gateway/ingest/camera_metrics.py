"""Per-camera Prometheus metrics, read at scrape time so the frame path pays nothing for them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.domain import CameraState
from gateway.ingest.sampler import CameraRuntime

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0)


def latency_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "edge_gateway_camera_latency_seconds",
        "Capture-to-result latency of processed camera frames.",
        ["camera"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )


class CameraCollector(Collector):
    def __init__(self, runtimes: Callable[[], Iterable[CameraRuntime]]) -> None:
        self._runtimes = runtimes

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        frames_in = CounterMetricFamily(
            "edge_gateway_camera_frames", "Frames decoded from the camera.", labels=["camera"]
        )
        processed = CounterMetricFamily(
            "edge_gateway_camera_frames_processed", "Frames with a detector result.", labels=["camera"]
        )
        dropped = CounterMetricFamily(
            "edge_gateway_camera_frames_dropped", "Frames dropped, by reason.", labels=["camera", "reason"]
        )
        reconnects = CounterMetricFamily(
            "edge_gateway_camera_reconnects", "Reopen attempts after the first open.", labels=["camera"]
        )
        stalls = CounterMetricFamily(
            "edge_gateway_camera_stalls", "Times the watchdog found a silent stream.", labels=["camera"]
        )
        state = GaugeMetricFamily(
            "edge_gateway_camera_state", "1 for the camera's current state.", labels=["camera", "state"]
        )
        motion = GaugeMetricFamily(
            "edge_gateway_camera_motion_changed_ratio",
            "Share of the newest sampled frame that differed from motion gating's background (none with "
            "gating off, or before a second frame): against motion.min_area, how near it is to motion.",
            labels=["camera"],
        )
        for runtime in self._runtimes():
            camera_id = runtime.config.id
            camera = runtime.camera
            frames_in.add_metric([camera_id], camera.frames_in)
            processed.add_metric([camera_id], runtime.processed)
            for reason, count in sorted(camera.drops.snapshot().items()):
                dropped.add_metric([camera_id, reason.value], count)
            reconnects.add_metric([camera_id], camera.reconnects)
            stalls.add_metric([camera_id], camera.stalls)
            changed = runtime.gate.last_changed
            if changed is not None:  # None before a second frame, and always with gating off
                motion.add_metric([camera_id], changed)
            current = camera.state
            for value in CameraState:
                state.add_metric([camera_id, value.value], 1.0 if value is current else 0.0)
        return [frames_in, processed, dropped, reconnects, stalls, state, motion]
