"""Why an ``http://`` (MJPEG) camera did not open. OpenCV's failed open says nothing, so the server is
asked again, without credentials and within what is left of the open's budget: the status of its
answer to a GET tells a wrong path (404) or missing credentials (401), and its Content-Type tells a
web page (a camera's login page, a wrong path that a web server answers with 200) from a stream.

Only the answer's head is read: an MJPEG stream never ends. ``https://`` is not asked (its
certificate is no business of a diagnosis); its failure keeps the guess.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit, urlunsplit

from gateway.ingest.urls import REDACTED

__all__ = ["GUESS", "http_failure"]

MAX_ANSWER_SHOWN = 80
"""Characters of a status line or Content-Type quoted in an error."""
MAX_HEAD_BYTES = 16384
GUESS = "wrong path or credentials?"
"""What a stream that did not open is said to be when the server's answers tell nothing better."""
STREAM_TYPES = ("multipart/x-mixed-replace", "image/")
"""Content-Types a camera's picture comes as: MJPEG, or one image a request."""


def http_failure(url: str, timeout_s: float) -> str:
    """Why the ``http://`` camera ``url`` did not open, in words, from what its server answers (a
    guess when it says nothing)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return GUESS
    host, port = parts.hostname or "", parts.port or 80
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\nConnection: close\r\n\r\n"
    deadline = time.monotonic() + timeout_s
    head = b""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            connection.sendall(request.encode("latin-1", "replace"))
            while b"\r\n\r\n" not in head and len(head) < MAX_HEAD_BYTES:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    break
                connection.settimeout(remaining_s)
                chunk = connection.recv(MAX_HEAD_BYTES - len(head))
                if not chunk:
                    break
                head += chunk
    except (OSError, UnicodeError):
        pass  # whatever was answered before names the problem
    return _reason(head, query=parts.query, credentials=parts.username is not None)


def _reason(head: bytes, *, query: str, credentials: bool) -> str:
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    line = _shown(lines[0], query)
    if not line:
        return GUESS
    if not line.startswith("HTTP/"):
        return f"not an HTTP server: it answered {line!r}"
    status = line.split(" ", 2)[1] if " " in line else ""
    if status == "401" and not credentials:
        return f"credentials missing: the server answered {line!r}"
    if status == "404":
        return f"no stream at this path: the server answered {line!r}"
    if status.startswith("2"):
        content_type = _shown(_header(lines[1:], "content-type"), query)
        if not content_type.lower().startswith(STREAM_TYPES):
            return (
                f"not a camera stream: the server answered {line!r} with Content-Type {content_type!r}; "
                "a camera's MJPEG stream has a path of its own"
            )
        return f"no picture could be decoded from the stream: the server answered {line!r} ({content_type})"
    if status.startswith("5"):
        return f"the server failed: it answered {line!r}"
    return f"{GUESS}: the server answered {line!r}"


def _header(lines: list[str], name: str) -> str:
    for header in lines:
        key, _, value = header.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""


def _shown(text: str, query: str) -> str:
    text = text.strip()[:MAX_ANSWER_SHOWN]
    return text.replace(query, REDACTED) if query else text
