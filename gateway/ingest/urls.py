"""Camera URLs: which kind of source they name, and a form safe to show (credentials removed)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import SplitResult, urlsplit, urlunsplit

from gateway.url_credentials import MASK, masked_parameters, split_user_info

SourceKind = Literal["rtsp", "http", "file"]

REDACTED = MASK


def source_kind(url: str) -> SourceKind:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        return "rtsp"
    if scheme in ("http", "https"):
        return "http"
    return "file"


def file_path(url: str) -> str:
    """The path of a file source (``file:///x.mp4``, ``file://localhost/x.mp4`` or a plain path) as
    written: ``?`` and ``#`` are part of a file's name here, not a query or fragment, and percent
    signs stay (``img%03d.png`` is an image sequence); see ``files.local_path``."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return url
    rest = url[len(parts.scheme) + 1 :]
    return rest[2 + len(parts.netloc) :] if rest.startswith("//") else rest


def file_host(url: str) -> str | None:
    """The host a ``file://host/path`` URL names (without any user name or password), when that is
    not this machine (empty or ``localhost``); else None."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme.lower() != "file" or host.lower() in ("", "localhost"):
        return None
    return host


def redact_url(url: str) -> str:
    """``url`` without user name, password or secret-looking query values; file paths unchanged."""
    parts = urlsplit(url)
    if not parts.scheme or parts.scheme.lower() == "file" or len(parts.scheme) == 1:
        return url
    scheme, user_info, address = split_user_info(url)
    if user_info and "@" not in parts.netloc:
        # A password holding '/', '?' or '#' ends urlsplit's host before it, and the rest would show
        # as the path or query. The config refuses that for the schemes it knows, but a GStreamer
        # pipeline takes any scheme: nothing up to the last '@' is shown.
        parts = urlsplit(f"{scheme}{address}")
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, masked_parameters(parts.query), ""))
