"""An http:// (MJPEG) camera that does not open is named by what its server answers (asked again,
without credentials), through the real OpenCV source against a loopback web server: a wrong path, a
login page, missing credentials. Each was "wrong path or credentials?", a 200 web page included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.errors import SourceError
from gateway.ingest.sources import OpenCvSource


class Answers(BaseHTTPRequestHandler):
    """Answers every GET with ``status`` and a body of ``content_type``."""

    status = 200
    content_type = "text/html"

    def log_message(self, *_: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b"<html><body><form>login</form></body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="camera"')
        self.end_headers()
        self.wfile.write(body)


@dataclass
class WebServer:
    answers: type[Answers]
    """Set its status and content_type for the next request."""
    port: int


@pytest.fixture
def web_server() -> Iterator[WebServer]:
    answers = type("ThisTest", (Answers,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), answers)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-web", daemon=True)
    thread.start()
    yield WebServer(answers, server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join(5)


def failure(url: str) -> str:
    with pytest.raises(SourceError) as caught:
        OpenCvSource(url, open_timeout_s=2, read_timeout_s=1)
    return str(caught.value)


@pytest.mark.parametrize(
    ("status", "content_type", "reason"),
    [
        (404, "text/html", "no stream at this path: the server answered 'HTTP/1.0 404 Not Found'"),
        (401, "text/html", "credentials missing: the server answered 'HTTP/1.0 401 Unauthorized'"),
        (
            200,
            "text/html; charset=utf-8",
            "not a camera stream: the server answered 'HTTP/1.0 200 OK' with Content-Type "
            "'text/html; charset=utf-8'; a camera's MJPEG stream has a path of its own",
        ),
        (
            200,
            "multipart/x-mixed-replace; boundary=frame",
            "no picture could be decoded from the stream: the server answered 'HTTP/1.0 200 OK' "
            "(multipart/x-mixed-replace; boundary=frame)",
        ),
        (503, "text/html", "the server failed: it answered 'HTTP/1.0 503 Service Unavailable'"),
    ],
)
def test_an_http_camera_that_does_not_open_is_named_by_its_answer(
    web_server: WebServer, status: int, content_type: str, reason: str
) -> None:
    web_server.answers.status, web_server.answers.content_type = status, content_type
    url = f"http://127.0.0.1:{web_server.port}/video.mjpg"
    assert failure(url) == f"server reached but stream did not open: {url} ({reason})"


def test_the_query_and_credentials_of_an_http_camera_are_never_shown(web_server: WebServer) -> None:
    web_server.answers.status = 401
    port = web_server.port
    message = failure(f"http://admin:hunter2@127.0.0.1:{port}/video.mjpg?user=admin&pwd=sekrit")
    # Asked without them, a 401 says nothing of credentials that were given
    assert message == (
        f"server reached but stream did not open: http://127.0.0.1:{port}/video.mjpg?user=admin&pwd=***"
        " (wrong path or credentials?: the server answered 'HTTP/1.0 401 Unauthorized')"
    )
