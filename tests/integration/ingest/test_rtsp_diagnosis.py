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
        self._received = threading.Condition()
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
        with self._received:
            self.requests.append(first)
            self.sessions += [line for line in headers if line.lower().startswith("session:")]
            self._received.notify_all()
        sequence = next((line for line in headers if line.lower().startswith("cseq")), "CSeq: 0")
        return self.script(first.split(" ")[0], sequence)

    def received(self, first_line: str, within_s: float = 5.0) -> bool:
        """Whether a request with this first line arrives within ``within_s`` (one the client sends
        without waiting for its answer can reach this thread after the client has returned)."""
        with self._received:
            return self._received.wait_for(lambda: first_line in self.requests, within_s)

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


def test_a_content_length_of_a_non_ascii_digit_is_named_through_the_real_open(
    serve: Callable[..., ScriptedServer],
) -> None:
    # Given: a DESCRIBE whose Content-Length is latin-1 "²", a digit to str.isdigit() but not to int()
    server = serve(answering(described(length=b"\xb2")))
    # When: the real open fails and asks the server why
    with pytest.raises(SourceError) as caught:
        OpenCvSource(server.url, open_timeout_s=3, read_timeout_s=1)
    # Then: a SourceError (the reader retries), not a ValueError that ends the camera's reader
    assert "the server's Content-Length '²' is no byte count" in str(caught.value)


@pytest.mark.parametrize(
    "length",
    [b"\xb2", b"-5", b"abc", b"1e3"],
    ids=["superscript", "negative", "text", "exponent"],
)
def test_a_content_length_that_is_no_byte_count_is_named(
    serve: Callable[..., ScriptedServer], length: bytes
) -> None:
    server = serve(answering(described(length=length)))
    message = rtsp_failure(server.url, 2.0)
    # Then: FFmpeg reads no description after such a length (strtol takes it for 0): that is named.
    assert "is no byte count: the server answered 'RTSP/1.0 200 OK'" in message


@pytest.mark.parametrize("length", [b"99999999", b"9" * 5000], ids=["huge", "past-int-digits"])
def test_a_content_length_past_the_description_sent_is_named(
    serve: Callable[..., ScriptedServer], length: bytes
) -> None:
    # Given: more bytes announced than sent (5000 digits are past what int() takes from a string)
    server = serve(answering(described(length=length)))
    # When
    started = time.monotonic()
    message = rtsp_failure(server.url, 2.0)
    # Then: named at once, not waited for until the budget ends
    assert f"but sent {len(VIDEO_SDP)}: the server answered 'RTSP/1.0 200 OK'" in message
    assert message.startswith("the server announced a description of 9")
    assert time.monotonic() - started < 1.0


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


def test_a_status_line_with_no_status_code_is_not_blamed_on_the_path(
    serve: Callable[..., ScriptedServer],
) -> None:
    server = serve(answering(b"RTSP/1.0 xyz\r\nCSeq: 1\r\n\r\n"))
    message = rtsp_failure(server.url, 2.0)
    assert message == "the server's answer has no RTSP status: the server answered 'RTSP/1.0 xyz'"


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
    # Given: a description of audio alone, written seven bytes at a time
    server = serve(answering(described(AUDIO_SDP)), piece=7)
    # When
    message = rtsp_failure(server.url, 5.0)
    # Then: read to its Content-Length, its media named
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


@pytest.mark.parametrize(
    ("play", "hint"),
    [
        (b"RTSP/1.0 454 Session Not Found\r\nCSeq: 4\r\n\r\n", "the server does not know the session"),
        (b"RTSP/1.0 500 Internal Server Error\r\nCSeq: 4\r\n\r\n", "the server failed"),
    ],
    ids=["454", "500"],
)
def test_a_refused_play_is_named_by_its_status(
    serve: Callable[..., ScriptedServer], play: bytes, hint: str
) -> None:
    # Given: a server that describes and sets up the video, then refuses PLAY
    server = serve(answering(described(), play=play))
    # When
    message = rtsp_failure(server.url, 2.0)
    # Then: not "wrong path or credentials?" for the DESCRIBE and SETUP that worked
    line = play.split(b"\r\n")[0].decode()
    assert message == (
        "the server answered DESCRIBE and SETUP, so the path and credentials are right, but it refused "
        f"to play the stream ({hint}): it answered PLAY with {line!r}"
    )
    # And: PLAY went to the presentation in the session SETUP returned, which is then torn down
    assert f"PLAY {server.url} RTSP/1.0" in server.requests
    assert server.sessions[-2:] == ["Session: 1234", "Session: 1234"]
    assert server.received(f"TEARDOWN {server.url} RTSP/1.0")


def test_a_stream_whose_every_request_succeeds_is_not_blamed_on_the_path(
    serve: Callable[..., ScriptedServer],
) -> None:
    # Given: a server that answers DESCRIBE, SETUP, OPTIONS and PLAY with 200 OK
    server = serve(answering(described()))
    # When
    message = rtsp_failure(server.url, 2.0)
    # Then: what the answers show, not a guess at the path
    assert "wrong path" not in message
    assert message.startswith("the server answered DESCRIBE and SETUP, so the path and credentials are right")


def test_a_refused_options_is_named(serve: Callable[..., ScriptedServer]) -> None:
    options = b"RTSP/1.0 500 Internal Server Error\r\nCSeq: 3\r\n\r\n"
    server = serve(answering(described(), options=options))
    message = rtsp_failure(server.url, 2.0)
    refused = (
        "but it refused OPTIONS, which FFmpeg asks first: it answered 'RTSP/1.0 500 Internal Server Error'"
    )
    assert refused in message


@pytest.mark.parametrize(
    ("sdp", "words"),
    [
        (b"", "the server's description (SDP) lists no media FFmpeg can read"),
        (b"\x00\x01garbage\xff" * 50, "the server's description (SDP) lists no media FFmpeg can read"),
        (
            VIDEO_SDP.replace(b"H264/90000", b"FOOC/90000"),
            "the stream's video codec (fooc) is not one FFmpeg reads",
        ),
    ],
    ids=["empty", "garbage", "unknown-codec"],
)
def test_an_sdp_ffmpeg_cannot_use_is_named(
    serve: Callable[..., ScriptedServer], sdp: bytes, words: str
) -> None:
    # Given: a 200 OK to DESCRIBE whose SDP FFmpeg cannot use
    server = serve(answering(described(sdp)))
    # When
    message = rtsp_failure(server.url, 2.0)
    # Then: the SDP named, not "wrong path or credentials?" for the 200 OK
    assert message == f"{words}: the server answered 'RTSP/1.0 200 OK'"


def test_an_sdp_with_a_codec_ffmpeg_reads_is_set_up(serve: Callable[..., ScriptedServer]) -> None:
    # Given: a track offering an unknown codec and H.264: FFmpeg picks what it reads
    sdp = VIDEO_SDP.replace(b"RTP/AVP 96", b"RTP/AVP 98 96") + b"a=rtpmap:98 FOOC/90000\r\n"
    server = serve(answering(described(sdp)))
    # When
    rtsp_failure(server.url, 2.0)
    # Then: the track is set up, not named unreadable
    assert f"SETUP {server.url}/trackID=1 RTSP/1.0" in server.requests


def test_a_redirect_names_where_it_points_without_credentials(serve: Callable[..., ScriptedServer]) -> None:
    # Given: a redirect to a URL with credentials and a secret in its query
    location = b"rtsp://admin:hunter2@10.0.0.9:8554/main?token=sekrit"
    server = serve(answering(b"RTSP/1.0 302 Found\r\nCSeq: 1\r\nLocation: " + location + b"\r\n\r\n"))
    # When
    message = rtsp_failure(server.url, 2.0)
    # Then: where it points, redacted as camera URLs are, and that FFmpeg does not go there
    assert message.startswith("the server redirects to rtsp://10.0.0.9:8554/main?token=")
    assert "which FFmpeg's RTSP client does not follow" in message
    assert "it answered DESCRIBE with 'RTSP/1.0 302 Found'" in message
    assert "hunter2" not in message
    assert "sekrit" not in message
    assert "admin" not in message


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        (b"//admin:hunter2@10.0.0.9/live", "//10.0.0.9/live"),
        (b"/other/path?password=hunter2", "/other/path?password=***"),
        (b"admin:hunter2@10.0.0.9/live", "***@10.0.0.9/live"),
    ],
)
def test_a_redirect_without_a_scheme_shows_no_credentials(
    serve: Callable[..., ScriptedServer], location: bytes, shown: str
) -> None:
    # A reference without a scheme went through the URL redaction unchanged, credentials and all
    server = serve(answering(b"RTSP/1.0 302 Found\r\nCSeq: 1\r\nLocation: " + location + b"\r\n\r\n"))
    message = rtsp_failure(server.url, 2.0)
    assert message.startswith(f"the server redirects to {shown}, which")
    assert "hunter2" not in message


def test_a_redirect_without_a_location_is_said_so(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(answering(b"RTSP/1.0 302 Found\r\nCSeq: 1\r\n\r\n"))
    message = rtsp_failure(server.url, 2.0)
    assert message == "the server redirects DESCRIBE but names no Location: it answered 'RTSP/1.0 302 Found'"


@pytest.mark.parametrize(
    ("setup", "hint"),
    [
        (b"RTSP/1.0 454 Session Not Found\r\nCSeq: 2\r\n\r\n", "the server does not know the session"),
        (b"RTSP/1.0 500 Internal Server Error\r\nCSeq: 2\r\n\r\n", "the server failed"),
    ],
    ids=["454", "500"],
)
def test_a_setup_refused_for_another_reason_than_the_transport_does_not_blame_tcp(
    serve: Callable[..., ScriptedServer], setup: bytes, hint: str
) -> None:
    # Given: a SETUP refused with another status than 461 Unsupported Transport
    server = serve(answering(described(), setup=setup))
    # When
    message = rtsp_failure(server.url, 2.0)
    # Then: its status named; only 461 means the camera streams over UDP alone
    line = setup.split(b"\r\n")[0].decode()
    assert (
        message == f"the server refused to set up the video track ({hint}): it answered SETUP with {line!r}"
    )
    assert "TCP" not in message


def test_a_redirected_setup_is_named_a_redirect(serve: Callable[..., ScriptedServer]) -> None:
    setup = b"RTSP/1.0 302 Found\r\nCSeq: 2\r\nLocation: rtsp://127.0.0.1:1/cam\r\n\r\n"
    server = serve(answering(described(), setup=setup))
    message = rtsp_failure(server.url, 2.0)
    assert message == (
        "the server redirects to rtsp://127.0.0.1:1/cam, which FFmpeg's RTSP client does not follow; "
        "use that URL for the camera: it answered SETUP with 'RTSP/1.0 302 Found'"
    )


def test_a_server_that_answers_after_the_read_timeout_is_named_by_its_answer(
    serve: Callable[..., ScriptedServer],
) -> None:
    # Given: a server on a slow link, whose 404 comes 1.5 s after the DESCRIBE, past the read
    # timeout that ends FFmpeg's open (1 s) but within the open's budget (4 s)
    def slow(method: str, sequence: str) -> bytes:
        if method == "DESCRIBE":
            time.sleep(1.5)
            return f"RTSP/1.0 404 Not Found\r\n{sequence}\r\n\r\n".encode()
        return f"RTSP/1.0 200 OK\r\n{sequence}\r\n\r\n".encode()

    server = serve(slow)
    with pytest.raises(SourceError) as caught:
        OpenCvSource(server.url, open_timeout_s=4, read_timeout_s=1)
    # Then: what it answered, not a server that never answered
    assert "no stream at this path" in str(caught.value)
    assert "did not answer" not in str(caught.value)
