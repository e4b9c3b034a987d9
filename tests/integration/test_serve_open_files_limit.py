"""``serve`` raises its soft open-files limit to the hard limit at start (systemd hands services 1024
and a hard limit far above it), says so in its log, and sizes the API's connection cap after it."""

from __future__ import annotations

import http.client
from pathlib import Path

from tests.support.serve import CLIP, serve_cameras

SOFT = 200
HARD = 4096


def open_files_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files line in /proc/PID/limits")


def test_serve_raises_its_soft_limit_to_the_hard_one(tmp_path: Path) -> None:
    camera = {"id": "door", "url": str(CLIP), "detect_fps": 5, "model": "face-detector"}
    gateway = serve_cameras(tmp_path, "raised", [camera], prefix=("prlimit", f"--nofile={SOFT}:{HARD}", "--"))
    try:
        port = gateway.api_port()
        assert open_files_limits(gateway.pid) == (HARD, HARD)
        assert f"open-files limit: raised from {SOFT} to the hard limit {HARD}" in gateway.output()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics")
        metrics = connection.getresponse().read().decode()
        connection.close()
        # The cap follows the raised limit: three quarters of the 1024 descriptors select() watches
        assert "edge_gateway_http_connections_limit 768.0" in metrics
        assert gateway.terminate() == 0
    finally:
        gateway.kill()
