"""A loopback HTTP camera for the ingest tests: multipart/x-mixed-replace JPEG frames at 25 fps on
``/video.mjpg``, like most IP cameras (404 on any other path), served by a real HTTP server on
127.0.0.1."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from tests.support import clips

__all__ = ["MjpegServer"]

STREAM_PATH = "/video.mjpg"


class MjpegServer:
    """The camera, streaming from construction until ``close``. ``cut`` ends the stream open now,
    once (the camera rebooting, a proxy timing out): the next connection streams again."""

    def __init__(self) -> None:
        frames = [bytes(cv2.imencode(".jpg", frame)[1].tobytes()) for frame in clips.moving_clip(25)]
        stop, cut = threading.Event(), threading.Event()
        self._stop, self._cut = stop, cut

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != STREAM_PATH:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while not stop.is_set():
                        if cut.is_set():
                            cut.clear()
                            return
                        data = frames[index % len(frames)]
                        index += 1
                        header = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(
                            data
                        )
                        self.wfile.write(header + data + b"\r\n")
                        stop.wait(1 / clips.FPS)
                except (BrokenPipeError, ConnectionResetError):
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="test-mjpeg", daemon=True)
        self.thread.start()

    def url(self, path: str = STREAM_PATH, credentials: str = "") -> str:
        """The camera's URL at ``path``, with ``credentials`` (``user:password``) in it when given."""
        userinfo = f"{credentials}@" if credentials else ""
        return f"http://{userinfo}127.0.0.1:{self.server.server_address[1]}{path}"

    def cut(self) -> None:
        self._cut.set()

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
