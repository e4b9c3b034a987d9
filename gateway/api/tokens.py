"""The API's bearer tokens, replaceable while it runs, and the console sessions they opened.

A reload reads the tokens file again (``serve``): a token revoked there must stop working at once,
not at the next restart. ``ReplaceableTokens`` is the ``TokenCheck`` the middlewares and the
sessions ask; ``replace`` swaps in a whole new check in one assignment, so a request sees either
the old tokens or the new, never a mix. A console session is keyed by the client its token names
(a digest prefix, never the token): ``ApiSessions`` ends one whose token is no longer taken when it
is next presented, which is as soon as it could be used.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from gateway.protocol.bearer import TokenCheck
from gateway.web.session import Session, Sessions


class ReplaceableTokens(TokenCheck):
    """``fixed`` tokens (given to the app factory) plus those of the tokens file, which ``replace``
    changes. The file's tokens are kept as the clients they name, like ``TokenCheck`` keeps them."""

    def __init__(self, fixed: Iterable[str], from_file: Iterable[str]) -> None:
        super().__init__(())
        self._fixed = frozenset(fixed)
        self._in_force = _InForce.of(self._fixed | frozenset(from_file))

    @property
    def enabled(self) -> bool:
        return self._in_force.check.enabled

    def client_of(self, authorization: str | None) -> str | None:
        return self._in_force.check.client_of(authorization)

    def takes(self, client: str) -> bool:
        """Whether ``client`` (a ``client_of`` answer) is still named by a token in force."""
        return client in self._in_force.clients

    def replace(self, from_file: Iterable[str]) -> None:
        """Take ``from_file`` instead of the file's tokens taken so far. Refuses (ValueError) to be
        left with no token at all where there were some: an API bound beyond loopback on the
        strength of its tokens must not become an open one."""
        in_force = _InForce.of(self._fixed | frozenset(from_file))
        if self.enabled and not in_force.check.enabled:
            raise ValueError("no tokens: the API keeps the tokens it has")
        self._in_force = in_force  # one assignment: requests see the old set or the new one


class _InForce:
    """A check and the clients its tokens name, replaced together."""

    __slots__ = ("check", "clients")

    def __init__(self, check: TokenCheck, clients: frozenset[str]) -> None:
        self.check = check
        self.clients = clients

    @classmethod
    def of(cls, tokens: frozenset[str]) -> _InForce:
        check = TokenCheck(tokens)
        clients = frozenset(
            client for token in tokens if (client := check.client_of(f"Bearer {token}")) is not None
        )
        return cls(check, clients)


class ApiSessions(Sessions):
    """Console sessions that end once the token they were opened with is no longer taken."""

    def __init__(self, tokens: ReplaceableTokens) -> None:
        super().__init__(tokens)
        self._replaceable = tokens

    def find(self, request: web.Request) -> Session | None:
        session = super().find(request)
        if session is not None and not self._replaceable.takes(session.client):
            self.close(request)
            return None
        return session


TOKENS: web.AppKey[ReplaceableTokens] = web.AppKey("edge_gateway_api_tokens", ReplaceableTokens)


def replace_tokens(app: web.Application, from_file: Iterable[str]) -> None:
    """Give the running ``app`` (``create_app``'s) the tokens file's new tokens."""
    app[TOKENS].replace(from_file)
