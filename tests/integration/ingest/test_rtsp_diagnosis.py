"""The failed-open diagnosis against loopback servers scripted to answer in odd ways: whatever they
send, it names the problem in words and never raises (it runs in the camera's reader thread), and it
names the cause the answers show rather than a guess."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from gateway.errors import SourceError
from gateway.ingest.rtsp_diagnosis import rtsp_failure
from gateway.ingest.sources import OpenCvSource

VIDEO_SDP = (
    b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n"
)
AUDIO_SDP = (
    b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=c\r\nt=0 0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n"
)

Script = Callable[[str, str], bytes]
"""The whole answer (head and body) to a request, from its method and its CSeq line."""


def described(sdp: bytes = VIDEO_SDP, *, length: bytes | None = None) -> bytes:
    """A DESCRIBE's 200 OK carrying ``sdp``, its Content-Length ``length`` (else the true one)."""
    count = str(len(sdp)).encode() if length is None else length
    return (
        b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: "
        + count
        + (b"\r\n\r\n" + sdp)
    )


def answering(describe: bytes, setup: bytes = b"", options: bytes = b"", play: bytes = b"") -> Script:
    """A script answering each method with its bytes (a bare 200 OK where none is given; SETUP's
    200 carries a session)."""

    def answer(method: str, sequence: str) -> bytes:
        given = {"DESCRIBE": describe, "SETUP": setup, "OPTIONS": options, "PLAY": play}.get(method, b"")
        if given:
            return given
        session = "Session: 1234;timeout=60\r\n" if method == "SETUP" else ""
        return f"RTSP/1.0 200 OK\r\n{sequence}\r\n{session}\r\n".encode()

    return answer


class ScriptedServer:
    """Answers each request by ``script``, ``piece`` bytes at a time (each its own TCP segment);
    records the requests' first lines and their Session headers."""

    def __init__(self, script: Script, piece: int = 0) -> None:
        self.script, self.piece = script, piece
        self.requests: list[str] = []
        self.sessions: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"rtsp://127.0.0.1:{self.port}/live"
        threading.Thread(target=self._serve, name="test-rtsp-diagnosis", daemon=True).start()

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
                    if not self._send(connection, self._reply(request.decode("latin-1"))):
                        return

    def _reply(self, request: str) -> bytes:
        first, *headers = request.split("\r\n")
        self.requests.append(first)
        self.sessions += [line for line in headers if line.lower().startswith("session:")]
        sequence = next((line for line in headers if line.lower().startswith("cseq")), "CSeq: 0")
        return self.script(first.split(" ")[0], sequence)

    def _send(self, connection: socket.socket, answer: bytes) -> bool:
        pieces = (
            [answer[i : i + self.piece] for i in range(0, len(answer), self.piece)]
            if self.piece
            else [answer]
        )
        try:
            for piece in pieces:
                connection.sendall(piece)
                if self.piece:
                    time.sleep(0.01)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Script, piece: int = 0) -> ScriptedServer:
        servers.append(ScriptedServer(script, piece))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_content_length_of_a_non_ascii_digit_fails_the_real_open_with_a_source_error(
    serve: Callable[..., ScriptedServer],
) -> None:
    # Given: a DESCRIBE whose Content-Length is latin-1 "²", a digit to str.isdigit() but not to int()
    server = serve(answering(described(length=b"\xb2")))
    # When: the real open fails and asks the server why
    with pytest.raises(SourceError) as caught:
        OpenCvSource(server.url, open_timeout_s=3, read_timeout_s=1)
    # Then: a SourceError (the reader retries), not a ValueError that ends the camera's reader
    assert "server reached but stream did not open" in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        b"RTSP/1.0 xyz\r\n\r\n",
        b"RTSP/1.0\r\n\r\n",
        b"RTSP/1.0 200 OK\r\nContent-Length: \xb2\r\n\r\n" + VIDEO_SDP,
        b"RTSP/1.0 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n" + VIDEO_SDP,
        b"RTSP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n" + VIDEO_SDP,
        b"RTSP/1.0 200 OK\r\nContent-Length: 40\r\n\r\n" + VIDEO_SDP,
        b"RTSP/1.0 200 OK\r\n\r\n" + b"\xff\xfe\x00garbage\xff" * 50,
        b"RTSP/1.0 200 OK\r\nContent-Length\r\nContent-Base:\r\n\r\n" + VIDEO_SDP,
        b"RTSP/1.0 200 OK\r\nContent-Base: rtsp://[::1/\r\n\r\n" + VIDEO_SDP.replace(b"trackID=1", b"*"),
        b"RTSP/1.0 302 Found\r\nLocation: rtsp://[bad\r\n\r\n",
        b"\xff\xfe\x00\x80\r\n\r\n",
        b"RTSP/1.0 200 \xff\xfe\r\n\r\n",
    ],
    ids=[
        "status-text",
        "no-status",
        "length-superscript",
        "length-past-int-digits",
        "length-huge",
        "length-short",
        "sdp-bytes",
        "headers-empty",
        "content-base-bad",
        "location-bad",
        "undecodable",
        "reason-undecodable",
    ],
)
def test_no_malformed_describe_answer_raises(serve: Callable[..., ScriptedServer], answer: bytes) -> None:
    # Given: a DESCRIBE answered with a malformed answer
    server = serve(answering(answer))
    # When: the diagnosis reads it (best effort), within a short budget
    started = time.monotonic()
    message = rtsp_failure(server.url, 1.0)
    # Then: words, within the budget
    assert isinstance(message, str)
    assert message
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("line_end", ["\r\n", "\n"], ids=["crlf", "bare-lf"])
def test_an_answer_arriving_a_few_bytes_at_a_time_is_read_whole(
    serve: Callable[..., ScriptedServer], line_end: str
) -> None:
    # Given: a 404 written four bytes at a time, each its own TCP segment
    answer = line_end.join(["RTSP/1.0 404 Not Found", "CSeq: 1", "", ""]).encode()
    server = serve(answering(answer), piece=4)
    # When
    message = rtsp_failure(server.url, 3.0)
    # Then: the whole status line, not "not an RTSP server: it answered 'R'"
    assert message == "no stream at this path: the server answered 'RTSP/1.0 404 Not Found'"


def test_an_sdp_arriving_a_few_bytes_at_a_time_is_read_whole(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(answering(described(AUDIO_SDP)), piece=7)
    message = rtsp_failure(server.url, 5.0)
    assert message == "the stream has no video, only audio: the server answered 'RTSP/1.0 200 OK'"


def test_an_audio_only_sdp_with_bare_lf_line_ends_is_named_audio_only(
    serve: Callable[..., ScriptedServer],
) -> None:
    # Given: RFC 2326 lets lines end in a bare LF, head and SDP alike; FFmpeg reads them
    body = AUDIO_SDP.replace(b"\r\n", b"\n")
    head = f"RTSP/1.0 200 OK\nCSeq: 1\nContent-Type: application/sdp\nContent-Length: {len(body)}\n\n"
    server = serve(answering(head.encode() + body))
    # When
    message = rtsp_failure(server.url, 2.0)
    # Then: as with CRLF
    assert message == "the stream has no video, only audio: the server answered 'RTSP/1.0 200 OK'"
