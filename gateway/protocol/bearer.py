"""Bearer tokens: loading the tokens file, checking a request, and the bind-address rule, shared by
the gateway's API and the audit service's, so both sides follow the same rules.

Tokens are kept only as SHA-256 digests, so a presented token is hashed once and looked up in a
set: the time taken does not depend on how much of a stored token matches, and the tokens
themselves are never in memory longer than loading takes, nor in any log line.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from pathlib import Path

from gateway.config import read_text_file
from gateway.errors import ConfigError, ConfigProblem

BEARER = "bearer "


def load_tokens(path: Path) -> frozenset[str]:
    """One token per line; blank lines and lines starting with ``#`` are ignored."""
    try:
        text = read_text_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [ConfigProblem(str(path), None, "http.tokens_file", f"cannot read: {exc}")]
        ) from exc
    tokens = frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    if not tokens:
        raise ConfigError([ConfigProblem(str(path), None, "http.tokens_file", "holds no tokens")])
    return tokens


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, has_tokens: bool, insecure: bool, can_be_insecure: bool = True) -> None:
    """Refuse to expose an unauthenticated API beyond this machine unless told to on purpose
    (``--insecure``, where the command has it: ``can_be_insecure``)."""
    if is_loopback(host) or has_tokens or insecure:
        return
    hint = ", or pass --insecure to serve without authentication" if can_be_insecure else ""
    raise ConfigError(
        [
            ConfigProblem(
                "<config>", None, "http.host", f"{host} is not a loopback address: set http.tokens_file{hint}"
            )
        ]
    )


class TokenCheck:
    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = frozenset(_digest(token) for token in tokens)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def client_of(self, authorization: str | None) -> str | None:
        """The client identity for a valid ``Authorization: Bearer <token>`` header, else None.

        The identity is a digest prefix, so it can key rate limits without holding the token."""
        if authorization is None or authorization[: len(BEARER)].lower() != BEARER:
            return None
        digest = _digest(authorization[len(BEARER) :].strip())
        return "token:" + digest[:16] if digest in self._digests else None


def _digest(token: str) -> str:
    # What a header or JSON can carry: undecodable bytes (surrogate escapes) and lone surrogates.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
