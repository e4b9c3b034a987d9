"""Credentials out of anything the command line prints or logs: a last guard behind the call sites,
which should never have put them there."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from gateway.url_credentials import MASK, is_secret_name

__all__ = ["print_problems", "redact"]

# User info runs to the last '@' before the path: a password may hold an unescaped '@' or ':'.
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^\s/?#]+@", re.IGNORECASE)
# A query parameter named for a secret (libpq's password=, a camera's token=): its value ends at the
# next parameter, a space or quote, or the ": " of a message that goes on after the URL.
_PARAMETER = re.compile(r"([?&;][\w.%+-]*=)((?:[^\s&;#'\":]|:(?!\s|$))*)")


def _masked(parameter: re.Match[str]) -> str:
    return f"{parameter[1]}{MASK}" if is_secret_name(parameter[1][1:-1]) else parameter[0]


def redact(text: str) -> str:
    """Credentials in any URL of ``text`` (user info, a secret-named parameter) become ``***``."""
    return _PARAMETER.sub(_masked, _URL_CREDENTIALS.sub(rf"\1{MASK}@", text))


def print_problems(problems: Iterable[object], prefix: str = "") -> None:
    """Each problem on its own line of standard error, through ``redact``: every command prints a
    config's problems here, so none prints a URL's credentials (``serve`` and four others printed
    them unredacted while ``check-config`` did not)."""
    for problem in problems:
        print(f"{prefix}{redact(str(problem))}", file=sys.stderr)
