"""The request heads the front door reads itself (front_door.py): an HTTP/1.1 request line and its
header fields, parsed strictly enough that whatever is odd goes to aiohttp, whose parser answers it."""

from __future__ import annotations

import re

MAX_HEAD_BYTES = 16 * 1024
"""A head longer than this goes to aiohttp, whose limits answer it."""
HEAD_TIMEOUT_S = 5.0
"""Longest a connection may take to send its first request head whole, from its accept, and any
later head the front door reads, from its first byte; then it is closed unanswered. A client sends a
head in one write, so this only ever closes a connection held open without a request (a slowloris,
a browser's unused preconnect, which the browser replaces at once): such connections would
otherwise hold a file descriptor each for the 75 s keep-alive (nginx's ``client_header_timeout``,
shorter, as Go's ``ReadHeaderTimeout`` is meant to be set; aiohttp has no such option)."""
INFER_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
HEAD_END = b"\r\n\r\n"
LENGTH = re.compile(r"[0-9]{1,19}")
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A header's name (RFC 9110, 5.6.2)."""
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""No request line or header field may hold these (RFC 9110, 5.5; a bare CR or LF among them)."""
SINGLE_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "expect",
        "authorization",
        "connection",
        "host",
        "inference-header-content-length",
        "x-request-timeout-ms",
    }
)
"""Headers a head that repeats goes to aiohttp: joined, their values would be refused where
aiohttp's handler reads the first (as Triton's HTTP server does)."""
FIRST_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""Every method aiohttp's parser knows starts with one of these."""


class Head:
    """What the front door reads of a request head."""

    __slots__ = ("content_length", "headers", "method", "model", "path", "version", "versioned")

    def __init__(
        self,
        method: str,
        path: str,
        *,
        model: str | None,
        version: str | None,
        headers: dict[str, str],
        content_length: int,
    ):
        self.method = method
        self.path = path
        self.model = model
        self.version = version
        """The version an inference route names, as written (None: the route names none)."""
        self.versioned = 0 if version is None else 1
        """Index of the route in ``ROUTES``."""
        self.headers = headers
        self.content_length = content_length


def may_begin_a_head(prefix: bytearray) -> bool:
    """Whether the start of a head read so far may still become one the door reads: a method's
    first letter, and every line ended by CRLF."""
    return prefix[0] in FIRST_BYTES and prefix.count(b"\n") == prefix.count(b"\r\n")


def parse_head(head: bytes) -> Head | None:
    """The head of an HTTP/1.1 request whose body is framed by one ``Content-Length``, with the
    model an inference route names (None for any other target); None for anything else (a
    chunked body, an upgrade, HTTP/1.0, no ``Host``, a head that does not parse), which goes to
    aiohttp."""
    lines = head[: -len(HEAD_END)].decode("latin-1").split("\r\n")
    request_line = lines[0].split(" ")
    if (
        len(request_line) != 3
        or request_line[2] != "HTTP/1.1"
        or not lines[0].isascii()
        or CONTROL.search(lines[0])
    ):
        return None
    method, target = request_line[0], request_line[1]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not TOKEN.fullmatch(name) or CONTROL.search(value):
            return None
        name = name.lower()
        if name in headers:
            if name in SINGLE_HEADERS:
                return None
            headers[name] += ", " + value.strip()
        else:
            headers[name] = value.strip()
    # Without Content-Length or Transfer-Encoding a request has no body (RFC 9112, 6.3).
    raw_length = headers.get("content-length", "0")
    # RFC 9112, 3.2: an HTTP/1.1 request without Host is answered 400 (aiohttp does).
    if (
        "host" not in headers
        or "transfer-encoding" in headers
        or "upgrade" in headers
        or not LENGTH.fullmatch(raw_length)
    ):
        return None
    path = target.partition("?")[0]
    match = INFER_PATH.fullmatch(path) if "%" not in path else None
    return Head(
        method,
        path,
        model=match.group(1) if match else None,
        version=match.group(2) if match else None,
        headers=headers,
        content_length=int(raw_length),
    )
