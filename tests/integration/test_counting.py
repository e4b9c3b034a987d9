"""Counting through every real part: a GStreamer RTSP server serves real H.264 of a generated clip in
which one face walks in across a counting line and another walks out, the real ``edge-gateway
serve`` tracks them with the face detector on ONNX Runtime, and a real mosquitto receives exactly
one ``instant`` alert per crossing, with its direction and a track id of its own."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import yaml

from gateway.domain import AlertKind, Direction
from tests.support.alert_collector import AlertCollector
from tests.support.clips import CROSSING_FPS, crossing_clip, write_raw_i420
from tests.support.mosquitto import Mosquitto
from tests.support.rtsp_server import RtspServer
from tests.support.serve import Process, face_repository, last_committed_seq

DEVICE = "counter"
LOOPS = 2
WAIT_S = 120.0


def test_each_crossing_of_the_line_is_one_instant_alert_with_its_direction_and_track(
    tmp_path: Path, processes: list[Process]
) -> None:
    frames, crossings = crossing_clip()
    clip = tmp_path / "crossing.i420"
    key = secrets.token_hex(32)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "signing.key").write_text(key)
    with (
        RtspServer({"door": write_raw_i420(frames, clip, CROSSING_FPS)}) as rtsp,
        Mosquitto(tmp_path / "broker") as broker,
    ):
        collector = AlertCollector(broker.port, f"edge/{DEVICE}/alerts")
        try:
            camera = {
                "id": "door",
                "url": rtsp.url("door"),
                "detect_fps": 5,
                "model": "face-detector",
                "motion": {"enabled": False},
                "lines": [{"name": "middle", "points": [[0.5, 0.05], [0.5, 0.95]], "in_direction": [1, 0]}],
                "rules": [
                    {"name": "crossing", "type": "line_crossing", "labels": ["FACE_FEMALE", "FACE_MALE"],
                     "line": "middle"},
                ],
            }  # fmt: skip
            config = tmp_path / "gateway.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "device_id": DEVICE,
                        "state_dir": str(state_dir),
                        "http": {"port": 0},
                        "models": {"repository": str(face_repository(tmp_path))},
                        "mqtt": {"url": broker.url},
                        "cameras": [camera],
                    }
                )
            )
            gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
            processes.append(gateway)
            expected = [direction for _, direction in crossings] * LOOPS
            deadline = time.monotonic() + WAIT_S
            while last_committed_seq(state_dir) < len(expected) and time.monotonic() < deadline:
                assert gateway.process.poll() is None, gateway.output()
                time.sleep(0.5)
            assert gateway.terminate() == 0, gateway.output()
            total = last_committed_seq(state_dir)
            collector.wait_for(total, timeout_s=30)
            collector.assert_complete(total, bytes.fromhex(key))
            alerts = collector.alerts()
        finally:
            collector.close()
    # Then: only crossings, in the clip's order and directions, each with a track of its own.
    events = [alert.event for alert in alerts]
    assert all(event.kind is AlertKind.INSTANT for event in events), [event.kind for event in events]
    assert [event.direction for event in events][: len(expected)] == [Direction(d) for d in expected]
    track_ids = [event.track_id for event in events]
    assert None not in track_ids
    assert len(set(track_ids)) == len(track_ids)
    assert len({event.event_id for event in events}) == len(events)
    assert json.loads(collector.payloads[1])["count"] is None
    assert all(event.rule == "crossing" and event.box is not None for event in events)
