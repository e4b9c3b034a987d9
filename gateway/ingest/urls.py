"""Camera URLs: which kind of source they name, and a form safe to show (credentials removed)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

SourceKind = Literal["rtsp", "http", "file"]

# Query keys that cameras commonly use for secrets (e.g. Axis/Hikvision snapshot and MJPEG URLs).
_SECRET_KEYS = re.compile(r"pass|pwd|token|secret|key|auth|sig", re.IGNORECASE)
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
