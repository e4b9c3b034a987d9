"""Why an RTSP stream did not open. OpenCV's failed open says nothing, so the server is asked again,
without credentials and within what is left of the open's budget: its answer to DESCRIBE tells a
wrong path (404), missing credentials (401), a redirect (which FFmpeg does not follow) or a web
server from a stream; the SDP tells a stream with no video, or with a video codec FFmpeg does not
read; where the server describes video, its answer to SETUP over TCP, which is the transport the
reader asks for, tells a camera that streams over UDP only (461 Unsupported Transport) from one that
refuses for another reason; and where SETUP succeeds, PLAY (then TEARDOWN) is asked too, so a
refused PLAY is named by its status rather than blamed on the path or credentials that just worked.

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

from gateway.ingest.http_diagnosis import GUESS
from gateway.ingest.urls import REDACTED, redact_url
from gateway.url_credentials import masked_parameters

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
    "454": "the server does not know the session",
    "503": "the server is busy or serves no more clients",
}
VIDEO_CODECS = frozenset(
    {"h264", "h265", "hevc", "mp4v-es", "jpeg", "h263", "h263-1998", "h263-2000", "h261", "mpv", "vp8", "vp9"}
    | {"av1", "theora", "x-pn-realvideo", "raw", "mp2t", "vc2"}
)
"""Video encodings (SDP rtpmap names, lower case) FFmpeg's RTP depacketizers read."""
STATIC_VIDEO_TYPES = {"26": "jpeg", "31": "h261", "32": "mpv", "33": "mp2t", "34": "h263"}
"""RTP payload types whose video encoding RFC 3551 fixes (no rtpmap needed)."""


@dataclass(frozen=True, slots=True)
class _Answer:
    line: str
    """The status line, secrets of the URL's query masked."""
    head: bytes
    body: bytes

    @property
    def status(self) -> str:
        return self.line.split(" ", 2)[1] if self.line.count(" ") >= 1 else ""


@dataclass(frozen=True, slots=True)
class _Answers:
    """What the server answered to each request; None where it was not asked or said nothing."""

    describe: _Answer | None = None
    setup: _Answer | None = None
    options: _Answer | None = None
    play: _Answer | None = None


def rtsp_failure(url: str, timeout_s: float) -> str:
    """Why ``url`` did not open, in words, from what the server answers (a guess when it says nothing)."""
    return answered_failure(url, timeout_s) or GUESS


def answered_failure(url: str, timeout_s: float) -> str | None:
    """Why ``url`` did not open, from what the server answers; None when it answers nothing within
    ``timeout_s`` (hung, or closing the connection at once)."""
    answers = _Answers()
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
            answers = _converse(connection, target, parts.query, deadline)
    except (OSError, ValueError):
        pass  # whatever was answered before names the problem
    # ValueError covers UnicodeError and a URL urlsplit cannot take apart; each request's answer is
    # kept as it arrives, so a later failure loses nothing said before it.
    if answers.describe is None:
        return None
    return _reason(answers.describe, answers, credentials=credentials)


def _converse(connection: socket.socket, target: str, query: str, deadline: float) -> _Answers:
    """DESCRIBE, then (for a video FFmpeg reads) SETUP, OPTIONS and PLAY, as far as each succeeds."""
    answers = _Answers()

    def ask(request: str, sequence: int, *headers: str) -> _Answer | None:
        return _ask(connection, request, sequence, "\r\n".join(headers), query=query, deadline=deadline)

    try:
        describe = ask(f"DESCRIBE {target}", 1, "Accept: application/sdp")
        answers = _Answers(describe)
        if describe is None or describe.status != "200" or "video" not in _media(describe.body):
            return answers
        if _unreadable_codecs(describe.body):
            return answers  # no codec FFmpeg reads: named from the SDP alone
        setup = ask(f"SETUP {_video_control(describe, target)}", 2, f"Transport: {SETUP_TRANSPORT}")
        answers = _Answers(describe, setup)
        session = _header(setup.head, "session").split(";", 1)[0] if setup is not None else ""
        if setup is None or setup.status != "200" or not session:
            return answers
        aggregate = _aggregate_control(describe, target)
        try:
            # OPTIONS (which FFmpeg asks first) before PLAY: after PLAY the connection carries RTP.
            options = ask(f"OPTIONS {aggregate}", 3, f"Session: {session}")
            answers = _Answers(describe, setup, options)
            play = ask(f"PLAY {aggregate}", 4, f"Session: {session}", "Range: npt=0.000-")
            answers = _Answers(describe, setup, options, play)
        finally:
            # The session is ended rather than left to time out; its answer is not waited for.
            message = f"TEARDOWN {aggregate} RTSP/1.0\r\nCSeq: 5\r\nSession: {session}\r\n\r\n"
            connection.sendall(message.encode("latin-1", "replace"))
    except (OSError, ValueError):
        pass  # the answers so far stand
    return answers


def _reason(describe: _Answer, answers: _Answers, *, credentials: bool) -> str:
    if not describe.line.startswith("RTSP/"):
        return f"not an RTSP server: it answered {describe.line!r}"
    if describe.status.startswith("3"):
        return _redirect(describe, "DESCRIBE")
    if describe.status == "200":
        return _described(describe, answers, credentials=credentials)
    return f"{_hint(describe.status, credentials)}: the server answered {describe.line!r}"


def _described(describe: _Answer, answers: _Answers, *, credentials: bool) -> str:
    """Why a stream whose DESCRIBE succeeded did not open: the path and credentials are right."""
    setup, options, play = answers.setup, answers.options, answers.play
    media = _media(describe.body)
    said = f"the server answered {describe.line!r}"
    length = _header(describe.head, "content-length")
    if length and _content_length(describe.head) is None:
        # FFmpeg takes such a length for 0 (strtol) and so reads no description at all.
        return f"the server's Content-Length {length[:MAX_ANSWER_SHOWN]!r} is no byte count: {said}"
    announced = _content_length(describe.head)
    if announced is not None and len(describe.body) < announced:
        # FFmpeg waits for the whole description, so its open times out.
        return (
            f"the server announced a description of {length[:MAX_ANSWER_SHOWN]} bytes (Content-Length) "
            f"but sent {len(describe.body)}: {said}"
        )
    if not media:
        return f"the server's description (SDP) lists no media FFmpeg can read: {said}"
    if "video" not in media:
        return f"the stream has no video, only {', '.join(sorted(media))}: {said}"
    codecs = _unreadable_codecs(describe.body)
    if codecs:
        shown = ", ".join(sorted(codecs))[:MAX_ANSWER_SHOWN]
        return f"the stream's video codec ({shown}) is not one FFmpeg reads: {said}"
    if setup is None:
        return f"the server described the stream but did not answer SETUP: {said}"
    if setup.status.startswith("3") and setup.line.startswith("RTSP/"):
        return _redirect(setup, "SETUP")
    if setup.status != "200":
        return _refused_setup(setup, credentials)
    known = "the server answered DESCRIBE and SETUP, so the path and credentials are right"
    if options is not None and options.status != "200":
        return f"{known}, but it refused OPTIONS, which FFmpeg asks first: it answered {options.line!r}"
    if play is None:
        return f"{known}; it did not answer PLAY"
    if play.status != "200":
        hint = _hint(play.status, credentials)
        return f"{known}, but it refused to play the stream ({hint}): it answered PLAY with {play.line!r}"
    return f"{known}, and it answered PLAY; the stream's media did not open within the time allowed"


def _refused_setup(setup: _Answer, credentials: bool) -> str:
    if setup.status == "461":
        # The one refusal that means the transport: the reader asks for RTP over TCP.
        hint = "the camera streams over UDP only; enable RTSP over TCP on it"
        return (
            f"the server refused to stream the video over TCP ({hint}): it answered SETUP with {setup.line!r}"
        )
    hint = _hint(setup.status, credentials)
    return f"the server refused to set up the video track ({hint}): it answered SETUP with {setup.line!r}"


def _redirect(answer: _Answer, method: str) -> str:
    location = _header(answer.head, "location")
    if not location:
        return f"the server redirects {method} but names no Location: it answered {answer.line!r}"
    shown = _shown_location(location)
    return (
        f"the server redirects to {shown[: MAX_ANSWER_SHOWN * 2]}, which FFmpeg's RTSP client does not "
        f"follow; use that URL for the camera: it answered {method} with {answer.line!r}"
    )


def _shown_location(location: str) -> str:
    """``location`` as an error may show it: without user info or secret-looking query values, a
    reference without a scheme (``//user:password@host/path``) too, and nothing before an '@' left
    in it (where no URL parser found the user info, it may be anywhere before)."""
    try:
        parts = urlsplit(location)
        if parts.scheme:
            shown = redact_url(location)
        elif location.startswith("//"):
            shown = redact_url(f"rtsp:{location}").removeprefix("rtsp:")
        else:  # a path on the same server
            shown = urlunsplit(("", "", parts.path, masked_parameters(parts.query), ""))
    except ValueError:
        return REDACTED  # a Location no URL parser takes apart may hold credentials anywhere
    at = shown.rfind("@")
    return shown if at < 0 else REDACTED + shown[at:]


def _hint(status: str, credentials: bool) -> str:
    if not re.fullmatch(r"[0-9]{3}", status):
        return "the server's answer has no RTSP status"
    hints = dict(STATUS_HINTS)
    if not credentials:
        # Asked without credentials: a 401 says something only of a URL that has none.
        hints["401"] = "credentials missing"
    return hints.get(status, "the server failed" if status.startswith("5") else GUESS)


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
        if length is None or length > MAX_ANSWER_BYTES or len(answer) - match.end() >= length:
            break  # a length past what is read here is not waited for: it is named as it is
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


def _video_section(sdp: bytes) -> bytes:
    sections = re.split(rb"^m=", sdp, flags=re.MULTILINE)
    return next((part for part in sections[1:] if part.lower().startswith(b"video")), b"")


def _video_codecs(sdp: bytes) -> frozenset[str]:
    """The encodings the first video track offers (lower case), by rtpmap or static payload type."""
    section = _video_section(sdp)
    types = {kind.decode("latin-1") for kind in section.split(b"\n", 1)[0].split()[3:]}
    mapped = {
        kind.decode("latin-1"): name.decode("latin-1").lower()
        for kind, name in re.findall(rb"^a=rtpmap:[ \t]*(\d+)[ \t]+([^/\s]+)", section, re.MULTILINE)
    }
    return frozenset(mapped.get(kind, STATIC_VIDEO_TYPES.get(kind, "")) for kind in types) - {""}


def _unreadable_codecs(sdp: bytes) -> frozenset[str]:
    """The video track's codecs when it names some and FFmpeg reads none of them; else empty."""
    codecs = _video_codecs(sdp)
    return codecs if not codecs & VIDEO_CODECS else frozenset()


def _video_control(describe: _Answer, target: str) -> str:
    """The URL to SETUP the first video track at (RFC 2326, C.1.1: relative to Content-Base)."""
    return _control(describe, _video_section(describe.body), target)


def _aggregate_control(describe: _Answer, target: str) -> str:
    """The URL to PLAY the whole presentation at: the session-level control, as FFmpeg does."""
    return _control(describe, re.split(rb"^m=", describe.body, flags=re.MULTILINE)[0], target)


def _control(describe: _Answer, section: bytes, target: str) -> str:
    match = re.search(rb"^a=control:[ \t]*(\S+)", section, re.MULTILINE)
    control = match.group(1).decode("latin-1") if match is not None else "*"
    if "://" in control:
        return control
    base = _header(describe.head, "content-base") or target
    if control == "*":
        return base
    return f"{base.rstrip('/')}/{control}"
