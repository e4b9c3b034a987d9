"""Why an RTSP stream did not open. OpenCV's failed open says nothing, so the server is asked again,
without credentials and within what is left of the open's budget: its answer to DESCRIBE tells a
wrong path (404), missing credentials (401) or a web server from a stream; the SDP tells a stream
with no video; and where the server describes video, its answer to SETUP over TCP, which is the
transport the reader asks for, tells a camera that streams over UDP only (461 Unsupported
Transport) from one that refuses for another reason.

The diagnosis is best effort: an answer of any shape (a status line in pieces, bare LF line ends,
a Content-Length that is no number) yields words, never an exception, since it runs in the
camera's reader thread.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from gateway.ingest.urls import REDACTED

MAX_ANSWER_SHOWN = 80
"""Characters of a server's answer quoted in an error."""
MAX_ANSWER_BYTES = 16384
"""Of a server's answer read (a DESCRIBE's SDP names the stream's media and their controls)."""
SETUP_TRANSPORT = "RTP/AVP/TCP;unicast;interleaved=0-1"
_HEAD_END = re.compile(rb"\r?\n\r?\n")
"""The end of an answer's header block: CRLF CRLF, or bare LF LF, which RFC 2326 allows a server
to send and FFmpeg reads."""
STATUS_HINTS = {
    "404": "no stream at this path",
    "503": "the server is busy or serves no more clients",
}


@dataclass(frozen=True, slots=True)
class _Answer:
    line: str
    """The status line, secrets of the URL's query masked."""
    head: bytes
    body: bytes

    @property
    def status(self) -> str:
        return self.line.split(" ", 2)[1] if self.line.count(" ") >= 1 else ""


def rtsp_failure(url: str, timeout_s: float) -> str:
    """Why ``url`` did not open, in words, from what the server answers (a guess when it says nothing)."""
    describe: _Answer | None = None
    setup: _Answer | None = None
    credentials = False
    # One deadline for it all: a server that trickles its answer a byte at a time cannot hold it.
    deadline = time.monotonic() + timeout_s
    try:
        parts = urlsplit(url)
        credentials = parts.username is not None
        host, port = parts.hostname or "", parts.port or 554
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            describe = _ask(
                connection,
                f"DESCRIBE {target}",
                1,
                "Accept: application/sdp",
                query=parts.query,
                deadline=deadline,
            )
            if describe is not None and describe.status == "200" and "video" in _media(describe.body):
                control = _video_control(describe, target)
                transport = f"Transport: {SETUP_TRANSPORT}"
                setup = _ask(
                    connection, f"SETUP {control}", 2, transport, query=parts.query, deadline=deadline
                )
    except (OSError, ValueError):
        pass  # whatever was answered before names the problem
    # ValueError covers UnicodeError and a URL urlsplit cannot take apart: the diagnosis runs in the
    # camera's reader thread, and no answer, however malformed, may end it.
    return _reason(describe, setup, credentials=credentials)


def _reason(describe: _Answer | None, setup: _Answer | None, *, credentials: bool) -> str:
    if describe is None:
        return "wrong path or credentials?"
    if not describe.line.startswith("RTSP/"):
        return f"not an RTSP server: it answered {describe.line!r}"
    media = _media(describe.body)
    if describe.status == "200" and media and "video" not in media:
        return (
            f"the stream has no video, only {', '.join(sorted(media))}: the server answered {describe.line!r}"
        )
    if setup is not None and setup.status != "200" and setup.line.startswith("RTSP/"):
        hint = _hint(setup.status, credentials)
        if setup.status == "461":
            hint = "the camera streams over UDP only; enable RTSP over TCP on it"
        return (
            f"the server refused to stream the video over TCP ({hint}): it answered SETUP with {setup.line!r}"
        )
    return f"{_hint(describe.status, credentials)}: the server answered {describe.line!r}"


def _hint(status: str, credentials: bool) -> str:
    hints = dict(STATUS_HINTS)
    if not credentials:
        # Asked without credentials: a 401 says something only of a URL that has none.
        hints["401"] = "credentials missing"
    return hints.get(status, "the server failed" if status.startswith("5") else "wrong path or credentials?")


def _ask(
    connection: socket.socket, request: str, sequence: int, header: str, *, query: str, deadline: float
) -> _Answer | None:
    """One request and its answer; None when the server closes without a word."""
    message = f"{request} RTSP/1.0\r\nCSeq: {sequence}\r\n{header}\r\n\r\n"
    connection.sendall(message.encode("latin-1", "replace"))
    answer = _read(connection, deadline)
    line = answer.split(b"\n", 1)[0].decode("latin-1").strip()[:MAX_ANSWER_SHOWN]
    if query:
        line = line.replace(query, REDACTED)  # a server echoing the request shows no secrets
    match = _HEAD_END.search(answer)
    head, body = (answer[: match.start()], answer[match.end() :]) if match else (answer, b"")
    length = _content_length(head)
    return _Answer(line, head, body[:length] if length is not None else body) if line else None


def _read(connection: socket.socket, deadline: float) -> bytes:
    """An answer read until its header block ends (and, for a 200, its body is whole), as far as
    time and size allow: a server's answer may arrive a few bytes at a time."""
    answer = b""
    while len(answer) < MAX_ANSWER_BYTES:
        try:
            chunk = _receive(connection, MAX_ANSWER_BYTES - len(answer), deadline)
        except OSError:
            if not answer:
                raise
            break  # what arrived in time is what there is
        if not chunk:
            break
        answer += chunk
        if not b"RTSP/".startswith(answer[:5]):
            if b"\n" in answer:
                break  # no RTSP answer: its first line names it
            continue
        match = _HEAD_END.search(answer)
        if match is None:
            continue
        if not answer.startswith(b"RTSP/1.0 200"):
            break  # only a 200's body (the SDP) is read
        length = _content_length(answer[: match.start()])
        if length is None or len(answer) - match.end() >= length:
            break
    return answer


def _receive(connection: socket.socket, size: int, deadline: float) -> bytes:
    remaining_s = deadline - time.monotonic()
    if remaining_s <= 0:
        raise TimeoutError("no time left to read the answer")
    connection.settimeout(remaining_s)
    return connection.recv(size)


def _content_length(head: bytes) -> int | None:
    """The body's length in bytes; None when the header is absent or no count of ASCII digits (a
    latin-1 "²" is a digit to str.isdigit() and not to int())."""
    value = _header(head, "content-length")
    if not value or not value.isascii() or not value.isdigit():
        return None
    return int(value) if len(value) <= 9 else MAX_ANSWER_BYTES * 2


def _header(head: bytes, name: str) -> str:
    match = re.search(rb"^" + name.encode() + rb":[ \t]*(\S*)", head, re.IGNORECASE | re.MULTILINE)
    return match.group(1).decode("latin-1") if match is not None else ""


def _media(sdp: bytes) -> frozenset[str]:
    """The kinds of media an SDP lists: "video", "audio", "application"."""
    return frozenset(kind.decode("latin-1").lower() for kind in re.findall(rb"^m=(\w+)", sdp, re.MULTILINE))


def _video_control(describe: _Answer, target: str) -> str:
    """The URL to SETUP the first video track at (RFC 2326, C.1.1: relative to Content-Base)."""
    video = re.split(rb"^m=", describe.body, flags=re.MULTILINE)
    section = next((part for part in video[1:] if part.lower().startswith(b"video")), b"")
    match = re.search(rb"^a=control:[ \t]*(\S+)", section, re.MULTILINE)
    control = match.group(1).decode("latin-1") if match is not None else "*"
    if "://" in control:
        return control
    base = _header(describe.head, "content-base") or target
    if control == "*":
        return base
    return f"{base.rstrip('/')}/{control}"
