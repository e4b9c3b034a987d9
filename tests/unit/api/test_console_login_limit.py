"""The console's login limit, over real HTTP: a client gets ATTEMPT_BURST attempts at once, then one
a second, and a refusal says how long to wait; the API's own rate limit is neither used nor spent.
Login attempts took tokens from the API's rate limit (200 a second by default), so a script could
guess tokens as fast as the API answers requests."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway.config import AdmissionConfig
from gateway.web import login
from gateway.web.login import ATTEMPT_BURST
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeCameras

TOKEN = "console-test-token"


def test_login_attempts_past_the_burst_are_refused_with_the_wait(make_api: ApiFactory) -> None:
    api = make_api(
        tokens=frozenset({TOKEN}),
        cameras=FakeCameras(),
        admission=AdmissionConfig(rate_per_s=1000, burst=1000),
    )

    def attempt(token: str) -> tuple[int, dict[str, str], str]:
        reply = api.post_json("/v1/session", {"token": token})
        return (
            reply.status,
            dict(reply.headers),
            json.loads(reply.body)["error"] if reply.status != 200 else "",
        )

    # Given a client that spent its burst on wrong guesses,
    for _ in range(ATTEMPT_BURST):
        assert attempt("a-guess")[0] == 401
    # the next attempt is refused before the token is even looked at, saying when to try again,
    status, headers, error = attempt(TOKEN)
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert error == "too many login attempts from this client: try again in 1 s"
    # while the API, under its own limit, still answers the client's requests.
    assert api.get("/v1/cameras", {"Authorization": f"Bearer {TOKEN}"}).status == 200


def test_the_console_takes_its_login_limit_from_the_one_shared_definition(
    make_api: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The console and the audit service's fleet page kept a copy each of the same two numbers, so a
    # change to one left the other as it was; both now build their limit from gateway.web.login.
    # Given the shared definition changed to a burst of three,
    monkeypatch.setattr(login, "ATTEMPT_BURST", 3)
    api = make_api(tokens=frozenset({TOKEN}), cameras=FakeCameras())
    # the console's fourth attempt at once is refused, the burst its own copy said (ten) or not.
    statuses = [api.post_json("/v1/session", {"token": "a-guess"}).status for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_the_shared_limit_is_a_burst_then_one_attempt_a_second_per_address() -> None:
    now = [100.0]
    throttle = login.attempts_by_address(lambda: now[0])
    here = make_mocked_request("POST", "/v1/session", transport=_Peer("10.0.0.1"))
    there = make_mocked_request("POST", "/v1/session", transport=_Peer("10.0.0.2"))
    assert [throttle(here) for _ in range(login.ATTEMPT_BURST)] == [0.0] * login.ATTEMPT_BURST
    assert throttle(here) == pytest.approx(1.0 / login.ATTEMPTS_PER_S)
    assert throttle(there) == 0.0  # another address has its own bucket
    now[0] += 1.0 / login.ATTEMPTS_PER_S
    assert throttle(here) == 0.0


class _Peer:
    """A transport that names its peer, all ``request.remote`` reads of it."""

    def __init__(self, host: str) -> None:
        self._host = host

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self._host, 50000) if name == "peername" else default
