"""A camera's ``url``: what the reader can open, and the characters a network URL must
percent-encode, checked when the config is read so that a typo is named with its line, not found at
run time as a misleading "no such video file" or a camera's 400 Bad Request."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from gateway.config.fields import checked_port, without_credentials
from gateway.printable import printable
from gateway.url_credentials import split_user_info

__all__ = ["NETWORK_SCHEMES", "url_problem"]


NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
"""URL schemes the camera reader opens as network streams (gateway/ingest/urls.py); with ``file``
and plain paths, all it reads."""


def url_problem(url: str, *, any_scheme: bool) -> str | None:
    """What is wrong with a camera URL, or None. ``any_scheme``: a GStreamer pipeline is given the URL,
    so any scheme it knows is fine."""
    if not url.strip():
        return "the camera url is empty: give an rtsp://, rtsps://, http(s):// URL or a video file's path"
    if url.partition("://")[0].lower() in NETWORK_SCHEMES:
        problem = _unencoded_problem(url)
        if problem is not None:
            return problem
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"the camera url is not a valid URL: {exc}"
    scheme = parts.scheme.lower()
    if scheme in NETWORK_SCHEMES:
        address = parts.netloc.rpartition("@")[2]
        if address.count(":") > 1 and not address.startswith("["):
            # urlsplit takes "fe80::1" for the host "fe80" and a port ":1": an IPv6 address unbracketed.
            return (
                f"the camera url {without_credentials(url)} has an IPv6 address without brackets: "
                "write it in brackets, as [fe80::1], or [fe80::1]:554 with a port"
            )
        if address.startswith("[") and "%25" in address.partition("]")[0]:
            # RFC 6874's form, which FFmpeg and the resolver take for part of the address.
            return (
                f"the camera url {without_credentials(url)} writes its IPv6 zone as '%25': the reader "
                "takes it after a bare '%', as [fe80::1%eth0]"
            )
        if not parts.hostname:
            return f"the camera url {without_credentials(url)} has no host"
        try:
            checked_port(url, parts)
        except ValueError as exc:
            return str(exc)
        return None
    if any_scheme:
        return None
    if scheme == "file":
        return (
            None
            if parts.path
            else (f"the camera url {without_credentials(url)} has no path: write file:///path/to/video.mp4")
        )
    # A single letter is a Windows drive, which the reader takes as a path (as redact_url does).
    if scheme and len(scheme) > 1:
        return (
            f"the camera url's scheme {scheme!r} is not one the reader opens: use rtsp://, rtsps://, "
            "http(s)://, file:// or a file path (one with a colon in its name as ./name)"
        )
    return None


_NEVER_IN_A_URL = frozenset(' "<>\\^`{|}\x7f') | frozenset(map(chr, range(0x20)))
"""What RFC 3986 never lets a URL hold as it is: space, controls and ``"<>\\^`{|}``. FFmpeg sends a
space in a path to the camera as it is (answered 400 Bad Request), Python's URL parser drops the tabs
and line breaks FFmpeg keeps, and a GStreamer pipeline ends the source element's URL at a space."""
_CHARACTER_NAMES = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a carriage return"}
_HEX_DIGIT = re.compile(r"[0-9A-Fa-f]{2}")


def _unencoded_problem(url: str) -> str | None:
    """Which character of a network camera URL must be percent-encoded, and where it stands; None
    when none must. A user name or password is decoded before it is sent (FFmpeg turns ``%20`` back
    into a space), so percent-encoding is how a camera password with a space is written."""
    scheme, user_info, address = split_user_info(url)
    credentials_end = len(scheme) + len(user_info)
    host_end = len(url) - len(address) + len(re.split(r"[/?#]", address, maxsplit=1)[0])
    for index, character in enumerate(url):
        in_host = credentials_end <= index < host_end
        if character in _NEVER_IN_A_URL:
            name = _CHARACTER_NAMES.get(character) or (
                f"a {character!r}" if " " < character < "\x7f" else f"the control character {character!r}"
            )
            encoded = f"as %{ord(character):02X}"
        elif character == "%" and not in_host and not _HEX_DIGIT.match(url, index + 1):
            # Not in the host: an IPv6 zone (``[fe80::1%eth0]``) is written raw there for FFmpeg.
            name, encoded = "a '%' without two hexadecimal digits after it", "a '%' itself as %25"
        elif character in "[]" and index < credentials_end:
            # Outside the host, where it marks an IPv6 address, urlsplit refuses it as a broken one.
            name, encoded = f"a {character!r}", f"as %{ord(character):02X}"
        else:
            continue
        shown_url = printable(without_credentials(url))
        if in_host:
            return f"the camera url {shown_url} has {name} in its host, which no host name holds"
        where, reader = (
            ("user name or password", "decoded again before it logs in")
            if index < credentials_end
            else ("path or query", "the camera decodes it")
        )
        return (
            f"the camera url {shown_url} has {name} in its {where}: "
            f"write it percent-encoded, {encoded} ({reader})"
        )
    return None
