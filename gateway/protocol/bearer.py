"""Bearer tokens: loading the tokens file, checking a request, and the bind-address rule, shared by
the gateway's API and the audit service's, so both sides follow the same rules.

Tokens are kept only as SHA-256 digests, so a presented token is hashed once and looked up in a
set: the time taken does not depend on how much of a stored token matches, and the tokens
themselves are never in memory longer than loading takes, nor in any log line.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
from collections.abc import Iterable
from pathlib import Path

from gateway.config import read_named_text
from gateway.errors import ConfigError, ConfigProblem

BEARER = "bearer "
BYTE_ORDER_MARK = "\ufeff"


KEY = "http.tokens_file"


def load_tokens(path: Path) -> frozenset[str]:
    """The tokens in the tokens file at ``path`` (``tokens_in``)."""
    return tokens_in(read_tokens_text(path), path)


def read_tokens_text(path: Path) -> str:
    """The tokens file's text, its errors naming the file and never its bytes (they may be tokens)."""
    return read_named_text(path, KEY, secret=True)


def tokens_in(text: str, path: Path) -> frozenset[str]:
    """The tokens in ``text``, read from the tokens file at ``path``: one per line; blank lines and
    lines starting with ``#`` are ignored. A byte order mark at the start (Windows editors write
    one) is no part of the first token. ConfigError naming ``path`` when it holds none."""
    tokens = frozenset(
        line.strip()
        for line in text.removeprefix(BYTE_ORDER_MARK).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    if not tokens:
        raise ConfigError([ConfigProblem(str(path), None, KEY, "holds no tokens")])
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
    """The tokens in force, as digests and the clients they name. ``replace`` swaps in a new set
    while requests are checked on other threads: both sets are one immutable pair, assigned in one
    step, so a check sees either the old tokens or the new, never a mix."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._in_force = _in_force(tokens)
        self._replacing = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._in_force[0])

    def client_of(self, authorization: str | None) -> str | None:
        """The client identity for a valid ``Authorization: Bearer <token>`` header, else None.

        The identity is a digest prefix, so it can key rate limits without holding the token."""
        if authorization is None or authorization[: len(BEARER)].lower() != BEARER:
            return None
        digest = _digest(authorization[len(BEARER) :].strip())
        return _client(digest) if digest in self._in_force[0] else None

    def takes(self, client: str) -> bool:
        """Whether ``client`` (a ``client_of`` answer) is still named by a token in force."""
        return client in self._in_force[1]

    def replace(self, tokens: Iterable[str]) -> None:
        """Take ``tokens`` instead of those taken so far (a reload of the tokens file). Refuses
        (ValueError) to be left with no token at all where there were some: an API bound beyond
        loopback on the strength of its tokens must not become an open one."""
        in_force = _in_force(tokens)
        with self._replacing:
            if self._in_force[0] and not in_force[0]:
                raise ValueError("no tokens: the API keeps the tokens it has")
            self._in_force = in_force


def _in_force(tokens: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The tokens' digests, and the clients they name."""
    digests = frozenset(_digest(token) for token in tokens)
    return digests, frozenset(_client(digest) for digest in digests)


def _client(digest: str) -> str:
    return "token:" + digest[:16]


def _digest(token: str) -> str:
    # What a header or JSON can carry: undecodable bytes (surrogate escapes) and lone surrogates.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
