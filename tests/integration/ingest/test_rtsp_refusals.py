"""RTSP servers that refuse a stream, each named by what it answered: a loopback server that speaks
just enough RTSP (DESCRIBE with an SDP, SETUP) for the real OpenCV open and for the diagnosis."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from gateway.errors import SourceError
from gateway.ingest.sources import OpenCvSource

VIDEO_SDP = (
    b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    b"m=audio 0 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\na=control:audio\r\n"
    b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n"
)


class RefusingServer:
    """Answers DESCRIBE with ``describe`` (the SDP above when it is 200 OK) and every other request
    with ``setup``; records the requests' first lines."""

    def __init__(self, describe: str, setup: str = "200 OK") -> None:
        self.describe, self.setup = describe, setup
        self.requests: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="test-rtsp-refusals", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        pending = b""
        with connection:
            while True:
                try:
                    data = connection.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                pending += data
                while b"\r\n\r\n" in pending:
                    request, pending = pending.split(b"\r\n\r\n", 1)
                    connection.sendall(self._reply(request.decode("latin-1")))

    def _reply(self, request: str) -> bytes:
        first, *headers = request.split("\r\n")
        self.requests.append(first)
        sequence = next((line for line in headers if line.lower().startswith("cseq")), "CSeq: 0")
        method, url = first.split(" ")[:2]
        status = self.describe if method == "DESCRIBE" else self.setup
        if method == "OPTIONS":
            status = "200 OK"
        head = f"RTSP/1.0 {status}\r\n{sequence}\r\n"
        if method == "DESCRIBE" and status.startswith("200"):
            head += f"Content-Base: {url}/\r\nContent-Type: application/sdp\r\n"
            head += f"Content-Length: {len(VIDEO_SDP)}\r\n"
            return head.encode() + b"\r\n" + VIDEO_SDP
        return head.encode() + b"\r\n"

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def serve() -> Iterator[list[RefusingServer]]:
    servers: list[RefusingServer] = []
    yield servers
    for server in servers:
        server.close()


def open_error(server: RefusingServer, serve: list[RefusingServer]) -> str:
    serve.append(server)
    with pytest.raises(SourceError) as caught:
        OpenCvSource(f"rtsp://127.0.0.1:{server.port}/live", open_timeout_s=3, read_timeout_s=1)
    return str(caught.value)


def test_a_camera_that_streams_over_udp_only_is_named_by_its_answer_to_setup(
    serve: list[RefusingServer],
) -> None:
    server = RefusingServer("200 OK", setup="461 Unsupported Transport")
    message = open_error(server, serve)
    # Then: not "wrong path or credentials?" for the 200 OK its DESCRIBE got, but what failed and
    # the fix; the SETUP went to the video track, at the Content-Base.
    assert "the camera streams over UDP only; enable RTSP over TCP on it" in message
    assert "it answered SETUP with 'RTSP/1.0 461 Unsupported Transport'" in message
    assert f"SETUP rtsp://127.0.0.1:{server.port}/live/trackID=1 RTSP/1.0" in server.requests


@pytest.mark.parametrize(
    ("describe", "hint"),
    [
        ("503 Service Unavailable", "the server is busy or serves no more clients"),
        ("500 Internal Server Error", "the server failed"),
        ("404 Not Found", "no stream at this path"),
    ],
)
def test_a_refused_describe_is_named_by_its_status(
    serve: list[RefusingServer], describe: str, hint: str
) -> None:
    message = open_error(RefusingServer(describe), serve)
    assert f"({hint}: the server answered 'RTSP/1.0 {describe}')" in message
