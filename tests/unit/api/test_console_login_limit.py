"""The console's login limit, over real HTTP: a client gets ATTEMPT_BURST attempts at once, then one
a second, and a refusal says how long to wait; the API's own rate limit is neither used nor spent.
Login attempts took tokens from the API's rate limit (200 a second by default), so a script could
guess tokens as fast as the API answers requests."""

from __future__ import annotations

import json

from gateway.config import AdmissionConfig
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
