"""``/metrics`` of a running ``serve`` carries each per-camera family once per label set, and no
``_created`` sample: prometheus_client adds one to every counter and histogram child (one per camera,
per camera and alert kind, ...), which a scrape of the text format stores as a series of its own
that nothing reads. Runs the real ``edge-gateway`` on the demo clip and the shipped face detector."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import yaml

from tests.support.serve import CLIP, Process, face_repository, wait_for

CAMERA_FAMILIES = (
    "edge_gateway_camera_latency_seconds",
    "edge_gateway_camera_frames_total",
    "edge_gateway_camera_frames_processed_total",
    "edge_gateway_camera_frames_dropped_total",
    "edge_gateway_camera_reconnects_total",
    "edge_gateway_camera_stalls_total",
    "edge_gateway_camera_state",
    "edge_gateway_camera_motion_changed_ratio",
)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return str(reply.read().decode("utf-8"))


def test_metrics_carry_no_created_samples(tmp_path: Path, processes: list[Process]) -> None:
    # Given a gateway with one camera that has processed frames
    config = tmp_path / "gateway.yaml"
    camera = {"id": "gate", "url": str(CLIP), "detect_fps": 5, "model": "face-detector"}
    config.write_text(
        yaml.safe_dump(
            {
                "device_id": "metrics-box",
                "state_dir": str(tmp_path / "state"),
                "http": {"port": 0},
                "models": {"repository": str(face_repository(tmp_path))},
                "inference": {"workers": 1},
                "cameras": [camera],
            }
        )
    )
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    port = gateway.api_port()
    latency_count = re.compile(r'^edge_gateway_camera_latency_seconds_count\{camera="gate"\} [1-9]', re.M)
    wait_for(lambda: latency_count.search(scrape(port)) is not None, "a processed frame", process=gateway)
    # and motion gating has compared a frame with its background.
    motion = re.compile(r'^edge_gateway_camera_motion_changed_ratio\{camera="gate"\} [0-9.e-]+$', re.M)
    wait_for(lambda: motion.search(scrape(port)) is not None, "a compared frame", process=gateway)

    # When /metrics is read
    body = scrape(port)

    # Then every camera family is there, and no sample is a _created one
    for family in CAMERA_FAMILIES:
        assert f"# TYPE {family} " in body, family
    assert re.search(r"^edge_gateway_inference_requests_total\{[^}]*\} [1-9]", body, re.M), body
    created = [line for line in body.splitlines() if re.match(r"^\w+_created[{ ]", line)]
    assert created == []
    assert gateway.terminate() == 0
