"""Camera URLs: which kind of source they name, and a form safe to show (credentials removed)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

SourceKind = Literal["rtsp", "http", "file"]

# Query keys that cameras commonly use for secrets (e.g. Axis/Hikvision snapshot and MJPEG URLs;
# ``pw`` and ``loginpas`` on cheap P2P cameras).
_SECRET_KEYS = re.compile(r"pas|pw|token|secret|key|auth|sig", re.IGNORECASE)
REDACTED = "***"


def source_kind(url: str) -> SourceKind:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        return "rtsp"
    if scheme in ("http", "https"):
        return "http"
    return "file"


def file_path(url: str) -> str:
    """The local path of a file source (``file:///x.mp4`` or a plain path)."""
    parts = urlsplit(url)
    return parts.path if parts.scheme.lower() == "file" else url


def redact_url(url: str) -> str:
    """``url`` without user name, password or secret-looking query values; file paths unchanged."""
    parts = urlsplit(url)
    if not parts.scheme or parts.scheme.lower() == "file" or len(parts.scheme) == 1:
        return url
    scheme, _, rest = url.partition("://")
    if "@" in rest and "@" not in parts.netloc:
        # A password holding '/', '?' or '#' ends urlsplit's host before it, and the rest would show
        # as the path or query. The config refuses that for the schemes it knows, but a GStreamer
        # pipeline takes any scheme: nothing up to the last '@' is shown.
        parts = urlsplit(f"{scheme}://{rest.rpartition('@')[2]}")
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc = f"{netloc}:{port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(key, REDACTED if _SECRET_KEYS.search(key) else value) for key, value in pairs], safe="*"
        )
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, ""))
