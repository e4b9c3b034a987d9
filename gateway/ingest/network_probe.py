"""The quick TCP connect before a network camera is opened: a wrong host or port is named at once
(cannot resolve, refused, timed out), where FFmpeg's failed open says nothing about why."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from gateway.errors import SourceError
from gateway.ingest.urls import redact_url

__all__ = ["probe_tcp"]


def probe_tcp(url: str, timeout_s: float) -> None:
    """Fail fast with a clear reason when a network camera's host or port is wrong."""
    parts = urlsplit(url)
    host = parts.hostname
    try:
        port = parts.port
    except ValueError as exc:
        raise SourceError(f"invalid port in {redact_url(url)}") from exc
    if not host:
        raise SourceError(f"no host in {redact_url(url)}")
    if port is None:
        port = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}.get(parts.scheme.lower(), 554)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror as exc:
        raise SourceError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    except UnicodeError as exc:
        # IDNA encoding refuses a host with an empty or over-long label ("cam..local"): a typo in
        # the URL, not an internal error (it must not end the reader).
        raise SourceError(f"invalid host name {host!r} in {redact_url(url)}: {exc}") from exc
    except TimeoutError as exc:
        raise SourceError(f"connecting to {host}:{port} timed out after {timeout_s:.1f} s") from exc
    except OSError as exc:
        raise SourceError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from exc
