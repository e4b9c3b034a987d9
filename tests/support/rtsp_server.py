"""A loopback RTSP server serving real H.264 (and H.265, RTP/JPEG, audio), for the ingest tests and
the camera benchmark.

GStreamer's Python bindings (python3-gi, gir1.2-gst-rtsp-server-1.0) import only under Debian's own
``/usr/bin/python3``, never inside the venv, so this file has two halves:

- run as a script under ``/usr/bin/python3`` it *is* the server: every ``--mount NAME=SPEC`` serves
  ``rtsp://127.0.0.1:PORT/NAME``, where SPEC is ``pattern`` (a moving test pattern) or
  ``raw:PATH:WIDTHxHEIGHT:FPS`` (a raw I420 clip, looped forever; see ``tests/support/clips.py``;
  ``raw:PATH:WIDTHxHEIGHT:FPS:once`` plays it once and then sends nothing, the session left open),
  or ``fast-pattern`` (160x120 at 100 fps: quick to open, for connect/disconnect cycles), or one of
  ``CODEC_PATTERNS`` (H.265, RTP/JPEG, audio alone, audio beside H.264).
  It prints ``READY <port>`` once it accepts connections. SIGUSR1 drops every client; SIGTERM stops.
- imported from the tests, ``RtspServer`` starts that script as a subprocess, waits for READY and
  offers ``url()``, ``drop_clients()``, ``pause()`` (SIGSTOP), ``resume()`` (SIGCONT) and ``stop()``.

Each client gets its own media pipeline (not shared), so a reconnecting client sees the clip from its
first frame: the tests can then compute where each event frame must fall in time.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

SYSTEM_PYTHON = "/usr/bin/python3"
READY_TIMEOUT_S = 20.0


class RtspServer:
    """The server as a subprocess of the system Python; use as a context manager."""

    def __init__(self, mounts: dict[str, str], port: int = 0) -> None:
        self.mounts = dict(mounts)
        self.port = port
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> RtspServer:
        arguments = [SYSTEM_PYTHON, str(Path(__file__).resolve()), "--port", str(self.port)]
        for name, spec in self.mounts.items():
            arguments += ["--mount", f"{name}={spec}"]
        # A clean environment keeps the venv's site-packages away from the system interpreter.
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        environment.pop("VIRTUAL_ENV", None)
        self._process = subprocess.Popen(
            arguments,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        self.port = self._wait_ready(self._process)
        self._wait_accepting()
        return self

    def _wait_ready(self, process: subprocess.Popen[str]) -> int:
        assert process.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = process.stdout.readline()
        if not line.startswith("READY ") or time.monotonic() > deadline:
            error = _drain(process.stderr)
            process.kill()
            process.wait()
            raise RuntimeError(f"RTSP server did not start: {line!r} {error}")
        return int(line.split()[1])

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self._process is not None, "server not started"
        return self._process.pid

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def drop_clients(self) -> None:
        os.kill(self.pid, signal.SIGUSR1)

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _drain(stream: IO[str] | None) -> str:
    if stream is None:
        return ""
    try:
        return stream.read()[-2000:]
    except OSError:
        return ""


# ---- the server itself: runs only under /usr/bin/python3 with GStreamer's bindings ----------------

ENCODE = (
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={keyframe} bframes=0 threads=1 "
    "! video/x-raw,format=I420 ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1"
)


_PATTERN_SOURCE = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1"
_AUDIO_SOURCE = "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc"
CODEC_PATTERNS = {
    "hevc-pattern": (
        f"( {_PATTERN_SOURCE} ! x265enc tune=zerolatency speed-preset=ultrafast key-int-max=25 "
        "! h265parse ! rtph265pay name=pay0 pt=96 config-interval=1 )"
    ),
    "mjpeg-pattern": f"( {_PATTERN_SOURCE},format=I420 ! jpegenc quality=70 ! rtpjpegpay name=pay0 pt=26 )",
    "audio-only": f"( {_AUDIO_SOURCE} ! rtpopuspay name=pay0 pt=97 )",
    "audio-video": (
        f"( {_PATTERN_SOURCE} ! {ENCODE.replace(' ! video/x-raw,format=I420', '').format(keyframe=25)} "
        f"{_AUDIO_SOURCE} ! rtpopuspay name=pay1 pt=97 )"
    ),
}
"""Mounts of other codecs and odd streams: H.265, RTP/JPEG, audio with no video, audio beside H.264
(a camera with a microphone). A camera that stalls after some frames is ``raw:...:once``."""


def _launch_line(spec: str) -> tuple[str, tuple[str, int, int, int, bool] | None]:
    """The media factory's pipeline for SPEC, and for raw clips (path, width, height, fps, once)."""
    if spec in CODEC_PATTERNS:
        return CODEC_PATTERNS[spec], None
    if spec in ("pattern", "fast-pattern"):
        # FFmpeg's open waits for a few frames: at 100 fps a connect/disconnect cycle is ~3x faster.
        width, height, fps = (160, 120, 100) if spec == "fast-pattern" else (320, 240, 25)
        caps = f"video/x-raw,format=I420,width={width},height={height},framerate={fps}/1"
        encode = ENCODE.replace(" ! video/x-raw,format=I420", "").format(keyframe=fps)
        return f"( videotestsrc is-live=true pattern=ball ! {caps} ! {encode} )", None
    kind, path, size, fps_text, *mode = spec.split(":")
    if kind != "raw" or mode not in ([], ["once"]):
        raise ValueError(f"unknown mount spec {spec!r}")
    width, height = (int(part) for part in size.split("x"))
    fps = int(fps_text)
    caps = f"video/x-raw,format=I420,width={width},height={height},framerate={fps}/1"
    encode = ENCODE.replace(" ! video/x-raw,format=I420", "").format(keyframe=fps)
    # identity sync=true paces the pushed frames by their timestamps, so the clip plays in real time.
    line = f"( appsrc name=source is-live=true format=time caps={caps} ! identity sync=true ! {encode} )"
    return line, (path, width, height, fps, mode == ["once"])


def _serve(port: int, mounts: Sequence[tuple[str, str]]) -> None:  # pragma: no cover - system python
    # Lazy: these bindings exist only for the system interpreter, never in the venv that imports us.
    import gi  # noqa: PLC0415

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer  # noqa: PLC0415

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    mount_points = server.get_mount_points()

    def feeder(clip: tuple[str, int, int, int, bool]) -> Any:
        path, width, height, fps, once = clip
        data = Path(path).read_bytes()
        frame_bytes = width * height * 3 // 2
        frames = [data[offset : offset + frame_bytes] for offset in range(0, len(data), frame_bytes)]
        duration = Gst.SECOND // fps

        def configure(_factory: Any, media: Any) -> None:
            source = media.get_element().get_by_name_recurse_up("source")
            state = {"index": 0}

            def need_data(appsrc: Any, _length: int) -> None:
                index = state["index"]
                if once and index >= len(frames):
                    return  # a camera that stalls: no frame, no end of stream
                buffer = Gst.Buffer.new_wrapped(frames[index % len(frames)])
                buffer.pts = index * duration
                buffer.duration = duration
                state["index"] = index + 1
                appsrc.emit("push-buffer", buffer)

            source.connect("need-data", need_data)

        return configure

    for name, spec in mounts:
        line, clip = _launch_line(spec)
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(line)
        factory.set_shared(False)
        if clip is not None:
            factory.connect("media-configure", feeder(clip))
        mount_points.add_factory(f"/{name}", factory)

    loop = GLib.MainLoop()

    def drop_all() -> bool:
        server.client_filter(lambda _server, _client, *_: GstRtspServer.RTSPFilterResult.REMOVE)
        return True

    def quit_loop() -> bool:
        loop.quit()
        return False

    server.attach(None)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGUSR1, drop_all)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, quit_loop)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()


def main(argv: Sequence[str]) -> int:  # pragma: no cover - system python
    parser = argparse.ArgumentParser(description="loopback RTSP server for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mount", action="append", default=[], metavar="NAME=SPEC")
    arguments = parser.parse_args(argv)
    mounts = [tuple(item.split("=", 1)) for item in arguments.mount]
    _serve(arguments.port, [(name, spec) for name, spec in mounts])
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
