"""Browser sessions for the console and the fleet page: a bearer token traded once for an HttpOnly
cookie, and the CSRF check every state-changing request made with that cookie must pass.

A browser cannot attach ``Authorization: Bearer`` to an ``<img>`` stream or keep a token out of
page script, so ``POST /v1/session`` takes a token (JSON, which a cross-site form cannot send) and
answers with a random session id in an ``HttpOnly; SameSite=Strict`` cookie. Sessions live in
memory only (a restart logs everyone out), keyed by the id's SHA-256, bounded in number and age.

The cookie is sent by the browser on its own, so a request it authenticates may have been started
by another site: ``GET``/``HEAD`` change nothing, and any other method must also carry the session's
CSRF token in ``X-CSRF-Token`` (script of our own origin reads it from ``GET /v1/session``) and, if
the browser names an ``Origin``, it must be this server. Without tokens configured (loopback only)
there are no sessions, but a browser request another site started is still refused by the same
origin check, while curl and scripts, which send neither header, stay open as the API is. The origin
check compares the page's name with the one the request was sent to, so a page of another site whose
name now points at this machine (DNS rebinding) passes it: ``host_check`` refuses those by ``Host``.

The cookie is ``Secure`` when the browser reached us over https: the request itself came over TLS,
or the browser's own ``Origin`` (which page script cannot set; ``fetch`` sends it with every POST,
the login's included) says the page is https, as it is behind a TLS-terminating proxy. A proxy's
``X-Forwarded-Proto`` is not read: anyone can send it, and which proxies to believe would be one
more thing to configure. ``Origin`` is the very thing a browser keeps a ``Secure`` cookie by; a
client that forges it (curl) can only make its own cookie ``Secure``, never drop the attribute from
anyone else's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from gateway.protocol.bearer import TokenCheck

COOKIE = "edge_gateway_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 12 * 3600.0
MAX_SESSIONS = 256
"""Oldest sessions are forgotten first past this many; a login costs one entry."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PREFIX = "open:"
"""Route names starting with this need no token and take no rate-limit token (pages, login, probes)."""


@dataclass(frozen=True, slots=True)
class Session:
    client: str
    csrf_token: str
    expires_at: float


class RefusedError(Exception):
    """A request the session rules turn away: ``status`` (401 or 403) and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Sessions:
    """Live console sessions. Thread-safe; the clock is injectable for tests of expiry.

    Each session holds the client its token names (a digest prefix, never the token): one whose
    token is no longer taken (``replace``, a reload of the tokens file) ends, so a revoked token
    also logs out the browsers it logged in."""

    def __init__(self, tokens: TokenCheck, clock: Callable[[], float] = time.monotonic) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._now = clock

    @property
    def required(self) -> bool:
        """Whether the console needs a login at all (tokens are configured)."""
        return self._tokens.enabled

    def open(self, token: str) -> tuple[str, Session] | None:
        """A new session for a valid bearer ``token``: (the cookie value, the session); else None."""
        client = self._tokens.client_of(f"Bearer {token}")
        if client is None:
            return None
        session_id = secrets.token_urlsafe(32)
        session = Session(client, secrets.token_urlsafe(32), self._now() + SESSION_TTL_S)
        with self._lock:
            self._sessions[_key(session_id)] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session_id, session

    def find(self, request: web.Request) -> Session | None:
        """The live session named by the request's cookie, or None."""
        session_id = request.cookies.get(COOKIE)
        if not session_id:
            return None
        key = _key(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and (
                session.expires_at <= self._now() or not self._tokens.takes(session.client)
            ):
                del self._sessions[key]
                session = None
        return session

    def replace(self, tokens: Iterable[str]) -> None:
        """Take ``tokens`` instead of those taken so far (``TokenCheck.replace``, ValueError
        included) and end the sessions opened with a token no longer among them."""
        with self._lock:
            self._tokens.replace(tokens)
            ended = [key for key, session in self._sessions.items() if not self._tokens.takes(session.client)]
            for key in ended:
                del self._sessions[key]

    def close(self, request: web.Request) -> bool:
        session_id = request.cookies.get(COOKIE)
        if not session_id:
            return False
        with self._lock:
            return self._sessions.pop(_key(session_id), None) is not None

    def client_of(self, request: web.Request) -> str | None:
        """The client a session cookie authenticates, after the CSRF check for unsafe methods.

        None when there is no (live) session; raises RefusedError(403) when there is one but the
        request fails the CSRF check."""
        session = self.find(request)
        if session is None:
            return None
        if request.method not in SAFE_METHODS:
            check_origin(request)
            presented = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(
                presented.encode("utf-8", "surrogatepass"), session.csrf_token.encode()
            ):
                raise RefusedError(403, f"missing or wrong {CSRF_HEADER}: state-changing requests need it")
        return session.client


def check_origin(request: web.Request) -> None:
    """Refuse (403) an unsafe request that a browser says another site started."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise RefusedError(403, "cross-site request refused")
    origin = request.headers.get("Origin")
    # Host only: behind a TLS-terminating proxy the browser's scheme is not the one seen here.
    if origin is None:
        return
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        raise RefusedError(403, f"request from origin {origin!r} refused: not a URL") from None
    if netloc != request.host:
        raise RefusedError(403, f"request from origin {origin!r} refused")


def reached_over_https(request: web.Request) -> bool:
    """Whether the browser reached us over https: the request's own TLS, or the page's origin as the
    browser names it (see the module's docstring for why that, and not ``X-Forwarded-Proto``)."""
    if request.secure:
        return True
    try:
        return urlsplit(request.headers.get("Origin", "")).scheme.lower() == "https"
    except ValueError:
        return False


def set_cookie(response: web.StreamResponse, session_id: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(SESSION_TTL_S),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=secure,
    )


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()
