"""The ``Host`` a server without tokens answers: names of the loopback only, so that a page of
another site cannot read or drive it through a browser on this machine (DNS rebinding).

Without tokens (``http.tokens_file`` unset) a server binds loopback only and answers every request;
a browser is kept from another site's pages by the same-origin policy, and that policy goes by name:
a page of ``http://evil.test:8080`` whose DNS answer is then changed to 127.0.0.1 is of the same
origin as ``http://evil.test:8080/v1/events``, which now reaches this server. The browser says which
name it used, in ``Host``, and the page cannot change it; so, as Jupyter's and Vite's servers do,
a request is answered only when its ``Host`` names the loopback itself: an address in 127.0.0.0/8,
``::1`` (in brackets), ``localhost`` or a name under ``.localhost`` (RFC 6761: browsers resolve
those to the loopback themselves, never through DNS), or the configured listen host; with or without
a port, which names nothing an attacker cannot also use. Anything else is a 421 saying what to do.

- A request without ``Host`` (HTTP/1.0) is answered: a browser always sends one, and any other
  client on this machine may use the API as it is.
- An ``--insecure`` server bound beyond the loopback takes any IP address too: a page's origin that
  is an address is that address's own, so it cannot be another site's rebound name, and the box is
  reached by its addresses. A name other than the listen host is refused there too.
- With tokens, ``Host`` is not looked at: a rebound page has neither the bearer token nor the
  session cookie, which is host-only (no ``Domain``), so the browser keeps it for the name that
  logged in and never sends it to ``evil.test``.

The answer for the usual ``Host`` values (``127.0.0.1:8080``, ``localhost:8080``) is a set lookup,
kept for as many distinct values as ``KNOWN_HOSTS``; the front door asks it for every ``/v2``
request of a server without tokens.
"""

from __future__ import annotations

import ipaddress

from gateway.protocol.bearer import TokenCheck, is_loopback

MISDIRECTED = 421
"""Misdirected Request (RFC 9110, 15.5.20): the server does not answer for the authority named."""
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
"""Loopback names taken without parsing an address."""
LOCALHOST_DOMAIN = ".localhost"
KNOWN_HOSTS = 64
"""Distinct ``Host`` values taken whose verdict is kept; others are parsed at each request."""


class HostCheck:
    """Whether a server that answers without tokens may answer a request for the ``Host`` it names.

    Reads ``tokens`` at each request, so it is never in the way of a server with tokens."""

    def __init__(self, tokens: TokenCheck, listen_host: str) -> None:
        self._tokens = tokens
        self._names = LOOPBACK_NAMES | {listen_host.lower().strip("[]").removesuffix(".")}
        self._any_address = not is_loopback(listen_host)
        self._taken: set[str] = set()
        if self._any_address:
            self._answered = f"its IP addresses, localhost or {listen_host}"
            self._advice = "by one of its IP addresses"
        else:
            self._answered = "127.0.0.1, [::1] or localhost"
            self._advice = "as 127.0.0.1 (or localhost)"

    def misdirected(self, host: str | None) -> str | None:
        """Why a request whose ``Host`` is ``host`` (None: it sent none) is not answered; None when
        it may be."""
        if host is None or host in self._taken or self._tokens.enabled:
            return None
        if not self._takes(host):
            return (
                f"Host {host!r} is not a name of this server: without tokens it answers only requests "
                f"for {self._answered}, as a page of another site whose name was pointed at this "
                f"machine would send its own name; open it {self._advice}, or set http.tokens_file "
                "to reach it under other names"
            )
        if len(self._taken) < KNOWN_HOSTS:
            self._taken.add(host)
        return None

    def misdirected_request(self, header: str | None, host: str) -> str | None:
        """``misdirected`` for a request's ``Host`` header and for ``host``, the name aiohttp's
        ``request.host`` gives: the header's own, or an absolute-form target's (``GET http://evil.test/``),
        which RFC 9112 (3.2.2) has a server go by instead of the header. Both must name this server, so
        that no reading of the request (the origin check's among them) finds another site's name."""
        problem = self.misdirected(header)
        if problem is None and host != header:
            # aiohttp gives an absolute-form target's IPv6 address bare (``::1``), as a Host never is.
            problem = self.misdirected(
                f"[{host}]" if host.count(":") > 1 and not host.startswith("[") else host
            )
        return problem

    def _takes(self, host: str) -> bool:
        name = _name(host)
        if name is None:
            return False
        if name in self._names or name.endswith(LOCALHOST_DOMAIN):
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback or self._any_address


def _name(host: str) -> str | None:
    """The name or address a ``Host`` value names, in lower case, without its port, its trailing
    dot or an IPv6 address's brackets; None when it is not a host with an optional port."""
    if not host.isascii():
        return None  # a browser sends a name in its ASCII (punycode) form
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or rest[:1] not in ("", ":"):
            return None
        port = rest[1:]
    else:
        name, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    return name.lower().removesuffix(".")
