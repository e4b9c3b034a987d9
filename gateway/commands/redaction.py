"""Credentials out of anything the command line prints or logs: a last guard behind the call sites,
which should never have put them there."""

from __future__ import annotations

import re

__all__ = ["redact"]

# User info runs to the last '@' before the path: a password may hold an unescaped '@' or ':'.
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^\s/?#]+@", re.IGNORECASE)
# libpq also takes the password as a query parameter: postgresql://host/db?password=... It ends at
# the next parameter, a space or quote, or the ": " of a message that goes on after the URL.
_PASSWORD_PARAMETER = re.compile(r"([?&;](?:ssl)?password=)(?:[^\s&;#'\":]|:(?!\s|$))*", re.IGNORECASE)


def redact(text: str) -> str:
    """Credentials in any URL of ``text`` (user info, a password parameter) become ``***``."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _URL_CREDENTIALS.sub(r"\1***@", text))
