"""Where a URL carries credentials, for every part that shows one.

Two places: the user info, which runs to the last '@' before the host (a password may hold an
unescaped '@' or ':', and a '/', '?' or '#' in it ends urlsplit's host part early, so the split's
netloc cannot be trusted), and query parameters whose names say they hold a secret (libpq's
``password`` and ``sslpassword``, cameras' ``token``, ``auth``, ``pw`` and ``loginpas``). Each part
shows a URL its own way (a config problem drops the query, the camera list drops the user, the
audit keeps the user name, the command line's last guard works on free text); how a URL is taken
apart is written here, once. Neutral like ``domain``: it imports nothing of ours.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

__all__ = ["MASK", "is_secret_name", "masked_parameters", "secret_values", "split_user_info"]

MASK = "***"

_SECRET_NAME = re.compile(r"pas|pw|token|secret|key|auth|sig", re.IGNORECASE)
_PARAMETER = re.compile(r"(^|[&;])([^=&;#]*)=([^&;#]*)")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter called ``name`` (as written: percent-escapes are read) may hold a
    secret."""
    return _SECRET_NAME.search(unquote_plus(name)) is not None


def split_user_info(url: str) -> tuple[str, str, str]:
    """``url`` as (its scheme and '://', its user info, what follows the user info's '@'): user info
    is "" where there is none, and the first part "" for a URL without '://' (a path), which is then
    the third part whole."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return "", "", url
    user_info, _, address = rest.rpartition("@")
    return f"{scheme}{separator}", user_info, address


def masked_parameters(query: str) -> str:
    """``query`` (without its '?') as written, the value of each secret-named parameter masked."""
    return _PARAMETER.sub(
        lambda match: f"{match[1]}{match[2]}={MASK}" if is_secret_name(match[2]) else match[0], query
    )


def secret_values(query: str) -> list[str]:
    """The values of ``query``'s secret-named parameters, as written."""
    return [match[3] for match in _PARAMETER.finditer(query) if is_secret_name(match[2]) and match[3]]
