"""The session cookie's ``Secure`` attribute, over real HTTP: set when the browser's login came from
an https page (its ``Origin``, as behind a TLS-terminating proxy), not from an http one, and never
on a proxy header anyone can send. Behind such a proxy the cookie was sent without ``Secure``, so a
browser would also send it over a plain-http link to the same host.

Why the browser's ``Origin`` and not ``X-Forwarded-Proto`` is in ``gateway.web.session``'s
docstring. Chromium sends ``Origin`` with the console's same-origin login ``fetch``, under the
pages' ``Referrer-Policy: no-referrer`` too (``fetch`` is a cors-mode request)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.cookies import SimpleCookie

import pytest

from tests.unit.api.conftest import ApiFactory

TOKEN = "console-test-token"


def cookie_after_login(make_api: ApiFactory, headers: Mapping[str, str]) -> SimpleCookie:
    api = make_api(tokens=frozenset({TOKEN}))
    reply = api.request(
        "POST",
        "/v1/session",
        json.dumps({"token": TOKEN}).encode(),
        {"Content-Type": "application/json", **headers},
    )
    assert reply.status == 200, reply.body
    return SimpleCookie(reply.headers["Set-Cookie"])


@pytest.mark.parametrize(
    "headers",
    [
        # The proxy passes the browser's Host on, as the login's origin check needs.
        {"Origin": "https://gateway.example", "Host": "gateway.example"},
        {"Origin": "HTTPS://gateway.example:8443", "Host": "gateway.example:8443"},
        {"Origin": "https://gateway.example", "Host": "gateway.example", "X-Forwarded-Proto": "http"},
    ],
)
def test_a_login_from_an_https_page_gets_a_secure_cookie(
    make_api: ApiFactory, headers: Mapping[str, str]
) -> None:
    morsel = cookie_after_login(make_api, headers)["edge_gateway_session"]
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://127.0.0.1:8080", "Host": "127.0.0.1:8080"},
        {"X-Forwarded-Proto": "https"},
        {"Forwarded": "proto=https"},
    ],
)
def test_a_login_from_elsewhere_gets_no_secure_cookie(
    make_api: ApiFactory, headers: Mapping[str, str]
) -> None:
    # A Secure cookie would be dropped by the browser of a page served over plain http: no login.
    morsel = cookie_after_login(make_api, headers)["edge_gateway_session"]
    assert morsel["secure"] == ""
