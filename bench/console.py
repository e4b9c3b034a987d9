"""Console benchmark: first paint of the cameras page, and what one viewer of a 720p live view at
5 fps costs the gateway.

One command, run from the repository root after ``make setup``::

    .venv/bin/python bench/console.py            # writes bench/results/console.json and .md

It upscales the demo clip to 1280x720, runs the real ``edge-gateway serve`` on it (face-detector,
detect_fps 5, no tokens, loopback), then:

- live view: the gateway process's CPU time (utime + stime from /proc) over alternating windows
  with no viewer and with one viewer reading ``/v1/cameras/{id}/stream.mjpeg``; the viewer's own
  reading happens in this process, so the difference is what serving the view costs the gateway.
  Inference and decoding make the whole process's figure noisy on a loaded machine, so the same
  difference is also taken on the threads that serve the view (event loop and API pool, found by
  their kernel ids on ``/debug/threads``) alone.
  As a steadier cross-check, the CPU time of drawing and encoding one 720p live-view frame
  (``draw_snapshot``, the function the stream calls) is measured in-process and multiplied by 5.
- first paint: Debian's chromium (Playwright) opens the cameras page in a fresh profile, several
  times; first-contentful-paint from the Paint Timing API, and the time until the camera's tile
  with its live picture is on the page.

The machine's load average is recorded with the figures: on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import ZoneConfig  # noqa: E402
from gateway.domain import Detection  # noqa: E402
from gateway.ingest.snapshot import draw_snapshot  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.serve import CLIP, Process, face_repository  # noqa: E402

WIDTH, HEIGHT = 1280, 720
TARGET_FIRST_PAINT_MS = 1000.0
TARGET_VIEWER_CPU_PERCENT = 2.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
YARD = [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]


def upscale_clip(target: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(CLIP), "-vf", f"scale={WIDTH}:{HEIGHT}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(target)],
        check=True,
        timeout=300,
    )  # fmt: skip
    return target


def process_cpu_s(pid: int) -> float:
    return _cpu_s(Path(f"/proc/{pid}/stat"))


def serving_threads(port: int) -> list[int]:
    """Kernel ids of the threads that serve HTTP: the event loop (the main thread) and the API's
    thread pool, where live-view frames are drawn and encoded. Camera readers, the sampler and
    inference run on threads of their own, doing the same work whether or not anyone watches."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/debug/threads")
        threads = json.loads(connection.getresponse().read())["threads"]
    finally:
        connection.close()
    return [
        thread["native_id"]
        for thread in threads
        if thread["name"] == "MainThread" or thread["name"].startswith("api-worker")
    ]


def threads_cpu_s(pid: int, threads: list[int]) -> float:
    total = 0.0
    for thread in threads:
        try:
            total += _cpu_s(Path(f"/proc/{pid}/task/{thread}/stat"))
        except OSError:  # a thread that ended meanwhile
            continue
    return total


def _cpu_s(stat: Path) -> float:
    fields = stat.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


class Viewer:
    """Reads the MJPEG stream on a thread, counting frames, until stopped."""

    def __init__(self, port: int, camera: str) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self._connection.request("GET", f"/v1/cameras/{camera}/stream.mjpeg")
        self._response = self._connection.getresponse()
        assert self._response.status == 200, self._response.status
        self.frames = 0
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="bench-viewer", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            self._frames()
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            if not self._stop.is_set():  # closing the connection ends the read with one of these
                raise

    def _frames(self) -> None:
        while not self._stop.is_set():
            line = self._response.readline()
            if not line:
                return
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
                self._response.readline()
                self.bytes += len(self._response.read(length))
                self.frames += 1

    def close(self) -> None:
        self._stop.set()
        self._connection.close()
        self._thread.join(5)


def measure_viewer(pid: int, port: int, camera: str, window_s: float, pairs: int) -> dict[str, Any]:
    warm_up = Viewer(port, camera)  # the API's pool starts its threads with the first frames
    time.sleep(2.0)
    warm_up.close()
    time.sleep(1.0)
    serving_ids = serving_threads(port)
    idle: list[float] = []
    watched: list[float] = []
    serving_idle: list[float] = []
    serving_watched: list[float] = []
    rates: list[float] = []
    frame_bytes: list[float] = []
    for _ in range(pairs):
        before, serving = process_cpu_s(pid), threads_cpu_s(pid, serving_ids)
        time.sleep(window_s)
        idle.append(100 * (process_cpu_s(pid) - before) / window_s)
        serving_idle.append(100 * (threads_cpu_s(pid, serving_ids) - serving) / window_s)
        viewer = Viewer(port, camera)
        time.sleep(1.0)  # the encoder task starts with the first viewer
        before, serving = process_cpu_s(pid), threads_cpu_s(pid, serving_ids)
        frames, received = viewer.frames, viewer.bytes
        time.sleep(window_s)
        watched.append(100 * (process_cpu_s(pid) - before) / window_s)
        serving_watched.append(100 * (threads_cpu_s(pid, serving_ids) - serving) / window_s)
        rates.append((viewer.frames - frames) / window_s)
        frame_bytes.append((viewer.bytes - received) / max(1, viewer.frames - frames))
        viewer.close()
        time.sleep(1.0)
    added = [with_view - without for with_view, without in zip(watched, idle, strict=True)]
    serving_added = [
        with_view - without for with_view, without in zip(serving_watched, serving_idle, strict=True)
    ]
    return {
        "window_s": window_s,
        "pairs": pairs,
        "gateway_cpu_percent_no_viewer": idle,
        "gateway_cpu_percent_one_viewer": watched,
        "added_cpu_percent_of_one_core": added,
        "added_cpu_percent_median": statistics.median(added),
        "serving_threads": len(serving_ids),
        "serving_threads_cpu_percent_no_viewer": serving_idle,
        "serving_threads_cpu_percent_one_viewer": serving_watched,
        "serving_threads_added_cpu_percent": serving_added,
        "serving_threads_added_cpu_percent_median": statistics.median(serving_added),
        "viewer_fps": rates,
        "jpeg_bytes_per_frame": statistics.median(frame_bytes),
    }


def measure_encode(frames: int = 100) -> dict[str, Any]:
    """CPU time of one 720p live-view frame: detections, a zone and the JPEG, as the stream does."""
    capture = cv2.VideoCapture(str(CLIP))
    ok, frame = capture.read()
    capture.release()
    assert ok, "cannot read the demo clip"
    image = np.ascontiguousarray(cv2.resize(frame, (WIDTH, HEIGHT)), dtype=np.uint8)
    detections = (Detection("FACE_FEMALE", 0.8, (0.69, 0.45, 0.86, 0.75), 7),)
    zones = (ZoneConfig(name="yard", polygon=[(0.1, 0.5), (0.9, 0.5), (0.9, 1.0), (0.1, 1.0)]),)
    draw_snapshot(image, detections, zones)
    started = time.thread_time()
    for _ in range(frames):
        draw_snapshot(image, detections, zones)
    per_frame_ms = 1000 * (time.thread_time() - started) / frames
    return {"frames": frames, "cpu_ms_per_frame": per_frame_ms, "cpu_percent_at_5_fps": per_frame_ms * 5 / 10}


def measure_first_paint(base: str, runs: int) -> dict[str, Any]:
    paints: list[float] = []
    tiles: list[float] = []
    with chromium() as browser:
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(base + "/#/cameras")
            page.wait_for_function(
                "() => { const image = document.querySelector('[data-camera] img');"
                " return image && image.naturalWidth > 0; }",
                timeout=15_000,
            )
            tiles.append(page.evaluate("performance.now()"))
            paints.append(
                page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
            )
            context.close()
    return {
        "runs": runs,
        "first_contentful_paint_ms": paints,
        "first_contentful_paint_median_ms": statistics.median(paints),
        "tile_with_live_picture_ms": tiles,
        "tile_with_live_picture_median_ms": statistics.median(tiles),
    }


def markdown(result: dict[str, Any]) -> str:
    viewer, encode, paint = result["live_view"], result["encode"], result["first_paint"]
    load = result["load_average"]
    return "\n".join(
        [
            "| console | measured | target |",
            "|---|---|---|",
            f"| first contentful paint, cameras page (median of {paint['runs']}) | "
            f"{paint['first_contentful_paint_median_ms']:.0f} ms | < {TARGET_FIRST_PAINT_MS:.0f} ms |",
            f"| cameras page with the live picture shown (median) | "
            f"{paint['tile_with_live_picture_median_ms']:.0f} ms | |",
            f"| one 720p viewer at {statistics.median(viewer['viewer_fps']):.1f} fps: gateway CPU added "
            f"(median of {viewer['pairs']} A/B windows of {viewer['window_s']:.0f} s) | "
            f"{viewer['added_cpu_percent_median']:.1f} % of one core | <= {TARGET_VIEWER_CPU_PERCENT} % |",
            "| the same, on the threads that serve it (event loop + API pool, median) | "
            f"{viewer['serving_threads_added_cpu_percent_median']:.1f} % of one core | "
            f"<= {TARGET_VIEWER_CPU_PERCENT} % |",
            f"| draw + encode one 720p frame (in-process, x5 fps) | {encode['cpu_ms_per_frame']:.2f} ms "
            f"= {encode['cpu_percent_at_5_fps']:.1f} % of one core | <= {TARGET_VIEWER_CPU_PERCENT} % |",
            f"| nobody watching | {result['encoders_when_unwatched']:.0f} encoders running | 0 |",
            "",
            f"{result['machine']}; load average {load['start'][0]:.2f} at start, "
            f"{load['end'][0]:.2f} at end; "
            f"JPEG {viewer['jpeg_bytes_per_frame'] / 1024:.0f} KiB per frame. Command: `{result['command']}`",
        ]
    )


def encoders(port: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    match = re.search(r"^edge_gateway_console_stream_encoders (\S+)$", text, re.MULTILINE)
    assert match is not None, "no encoder gauge"
    return float(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=15.0, help="seconds per CPU window")
    parser.add_argument("--pairs", type=int, default=3, help="no-viewer/one-viewer window pairs")
    parser.add_argument("--paint-runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results")
    arguments = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as scratch:
        directory = Path(scratch)
        clip = upscale_clip(directory / "clip720.mp4")
        config = directory / "gateway.yaml"
        config.write_text(
            json.dumps(
                {
                    "device_id": "bench-console",
                    "state_dir": str(directory / "state"),
                    "http": {"port": 0},
                    "models": {"repository": str(face_repository(directory))},
                    "cameras": [
                        {
                            "id": "door",
                            "url": str(clip),
                            "detect_fps": 5,
                            "model": "face-detector",
                            "zones": [{"name": "yard", "polygon": YARD}],
                        }
                    ],
                }
            )
        )
        process = Process(["serve", "--config", str(config)], directory / "serve.log")
        try:
            port = process.api_port()
            process.wait_for_log("camera connecting -> streaming")
            time.sleep(3.0)  # past start-up work
            live_view = measure_viewer(process.pid, port, "door", arguments.window, arguments.pairs)
            unwatched = encoders(port)
            first_paint = measure_first_paint(f"http://127.0.0.1:{port}", arguments.paint_runs)
        finally:
            process.terminate()
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": " ".join(["python", "bench/console.py", *(argv if argv is not None else sys.argv[1:])]),
        "clip": f"demo clip upscaled to {WIDTH}x{HEIGHT}, 10 fps; stream capped at 5 fps",
        "load_average": {"start": load_before, "end": os.getloadavg()},
        "live_view": live_view,
        "encode": measure_encode(),
        "encoders_when_unwatched": unwatched,
        "first_paint": first_paint,
    }
    arguments.output.mkdir(parents=True, exist_ok=True)
    (arguments.output / "console.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (arguments.output / "console.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
