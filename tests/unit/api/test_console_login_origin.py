"""The login (``POST /v1/session``) passes the origin check every other state-changing request
passes, over real HTTP: it was the one unsafe request that skipped it, so a page of another site
could send logins in the browser's name and spend the client's attempts. A refused login spends no
attempt and is counted with the API's other refusals."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gateway.web.login import ATTEMPT_BURST
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.harness import Reply, ServedApi

TOKEN = "console-test-token"


def log_in(api: ServedApi, headers: Mapping[str, str]) -> Reply:
    body = json.dumps({"token": TOKEN}).encode()
    return api.request("POST", "/v1/session", body, {"Content-Type": "application/json", **headers})


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},  # a sandboxed frame, a file: page
        {"Origin": "http://[x"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_login_another_site_started_is_refused_and_spends_no_attempt(
    make_api: ApiFactory, registry: CollectorRegistry, headers: Mapping[str, str]
) -> None:
    api = make_api(tokens=frozenset({TOKEN}))
    # Given more logins from another site than the client has attempts
    for _ in range(ATTEMPT_BURST + 1):
        refused = log_in(api, headers)
        # Then each is a 403 that sets no cookie
        assert refused.status == 403
        assert "refused" in refused.json()["error"]
        assert "Set-Cookie" not in refused.headers
    assert 'edge_gateway_http_rejections_total{reason="forbidden"} 11.0' in generate_latest(registry).decode()
    # And the console's own page still logs in: none of its attempts was spent
    own = log_in(api, {"Origin": f"http://127.0.0.1:{api.port}", "Sec-Fetch-Site": "same-origin"})
    assert own.status == 200
    assert "Set-Cookie" in own.headers
