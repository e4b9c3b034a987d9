"""The console over real HTTP: its page and assets, the token-for-cookie login with its CSRF rule,
the geometry API on a real config file, and the live view's shared, watch-only encoder."""

from __future__ import annotations

import http.client
import json
import math
import re
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest

from gateway.config import GatewayConfig, parse_config
from gateway.pipeline.config_file import ConfigFile
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeCameras
from tests.unit.api.harness import Reply, ServedApi

TOKEN = "console-test-token"
CONFIG = """\
# site config
device_id: site
cameras:
  - id: gate   # the gate camera
    url: /srv/gate.mp4
    model: affine
    zones:
      - {name: yard, polygon: [[0, 0], [1, 0], [1, 1]]}
    # a rule on the yard
    rules:
      - {name: intrusion, zones: [yard]}
"""
GEOMETRY = {
    "zones": [{"name": "yard", "polygon": [[0.1, 0.2], [0.9, 0.2], [0.9, 0.9], [0.1, 0.9]]}],
    "lines": [{"name": "door", "points": [[0.5, 0.0], [0.5, 1.0]], "in_direction": [1, 0]}],
}


class Running:
    """The config in force, as ``Gateway`` keeps it, with every applied config recorded."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.applied: list[GatewayConfig] = []

    def apply(self, config: GatewayConfig) -> None:
        self.config = config
        self.applied.append(config)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def running(config_path: Path) -> Running:
    return Running(parse_config(config_path.read_text()))


def editor(path: Path | None, running: Running) -> ConfigFile:
    return ConfigFile(path, running=lambda: running.config, apply=running.apply)


def login(api: ServedApi, token: str = TOKEN) -> tuple[Reply, str, str]:
    """(the reply, the Cookie header to send, the CSRF token)."""
    reply = api.request(
        "POST", "/v1/session", json.dumps({"token": token}).encode(), {"Content-Type": "application/json"}
    )
    cookie = SimpleCookie(reply.headers.get("Set-Cookie", ""))
    pairs = "; ".join(f"{name}={morsel.value}" for name, morsel in cookie.items())
    csrf = reply.json().get("csrf_token", "") if reply.status == 200 else ""
    return reply, pairs, csrf


def put_geometry(api: ServedApi, body: Any, headers: dict[str, str]) -> Reply:
    return api.request(
        "PUT",
        "/v1/cameras/gate/geometry",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", **headers},
    )


# ---- page and assets ----------------------------------------------------------------------------


def test_the_page_is_served_without_a_token_with_a_strict_content_policy(make_api: ApiFactory) -> None:
    api = make_api(tokens=frozenset({TOKEN}))
    page = api.get("/")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert b'src="/console/app.js"' in page.body
    assert b"://" not in page.body  # nothing from elsewhere

    script = api.get("/console/app.js")
    assert script.status == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    again = api.get("/console/app.js", {"If-None-Match": script.headers["ETag"]})
    assert again.status == 304
    assert api.get("/console/nothing.js").status == 404
    assert api.get("/console/..%2Fsession.py").status == 404


def test_assets_reference_nothing_outside_the_gateway() -> None:
    package = Path(__file__).resolve().parents[3] / "gateway"
    folders = (
        package / "api" / "console" / "static",
        package / "web" / "static",
        package / "audit" / "static",
    )
    for asset in (asset for folder in folders for asset in folder.iterdir()):
        addresses = set(re.findall(r"[a-z]+://[^\s\"'`)]+", asset.read_text(encoding="utf-8")))
        # The SVG namespace is a name, never fetched.
        assert addresses <= {"http://www.w3.org/2000/svg"}, (asset.name, addresses)


# ---- login, cookie, CSRF ------------------------------------------------------------------------


def test_a_wrong_token_is_refused_and_sets_no_cookie(make_api: ApiFactory) -> None:
    api = make_api(tokens=frozenset({TOKEN}))
    reply, cookie, _ = login(api, "not-the-token")
    assert reply.status == 401
    assert reply.json() == {"error": "wrong token"}
    assert cookie == ""
    assert api.get("/v1/cameras").status == 401


def test_login_sets_an_httponly_strict_cookie_that_authenticates_reads(make_api: ApiFactory) -> None:
    api = make_api(tokens=frozenset({TOKEN}), cameras=FakeCameras())
    reply, cookie, csrf = login(api)
    assert reply.status == 200
    set_cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie
    assert "SameSite=Strict" in set_cookie
    assert "Path=/" in set_cookie
    assert TOKEN not in set_cookie
    assert csrf

    assert api.get("/v1/cameras", {"Cookie": cookie}).status == 200
    state = api.get("/v1/session", {"Cookie": cookie}).json()
    assert state == {"auth_required": True, "authenticated": True, "csrf_token": csrf}
    assert api.get("/v1/session").json()["authenticated"] is False
    assert api.get("/v1/cameras", {"Cookie": "edge_gateway_session=forged"}).status == 401


def test_state_changing_requests_with_the_cookie_need_the_csrf_token(
    make_api: ApiFactory, config_path: Path, running: Running
) -> None:
    api = make_api(tokens=frozenset({TOKEN}), geometry=editor(config_path, running))
    _, cookie, csrf = login(api)

    missing = put_geometry(api, GEOMETRY, {"Cookie": cookie})
    assert missing.status == 403
    assert "X-CSRF-Token" in missing.json()["error"]
    wrong = put_geometry(api, GEOMETRY, {"Cookie": cookie, "X-CSRF-Token": "guess"})
    assert wrong.status == 403
    foreign = put_geometry(
        api, GEOMETRY, {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": "http://attacker.example"}
    )
    assert foreign.status == 403
    assert config_path.read_text() == CONFIG
    assert running.applied == []

    accepted = put_geometry(api, GEOMETRY, {"Cookie": cookie, "X-CSRF-Token": csrf})
    assert accepted.status == 200, accepted.body
    # A bearer token is no ambient credential: scripts need no CSRF token.
    bearer = put_geometry(api, GEOMETRY, {"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status == 200


def test_logout_ends_the_session(make_api: ApiFactory) -> None:
    api = make_api(tokens=frozenset({TOKEN}))
    _, cookie, csrf = login(api)
    assert api.request("DELETE", "/v1/session", headers={"Cookie": cookie}).status == 403
    assert (
        api.request("DELETE", "/v1/session", headers={"Cookie": cookie, "X-CSRF-Token": csrf}).status == 204
    )
    assert api.get("/v1/cameras", {"Cookie": cookie}).status == 401


def test_undecodable_credentials_and_origins_are_refused_not_failed(make_api: ApiFactory) -> None:
    # Each was a 500: bytes no UTF-8 decodes (http.client sends "\xff" as that byte), a lone
    # surrogate in the login's JSON, an Origin urlsplit cannot read.
    api = make_api(tokens=frozenset({TOKEN}))
    assert api.get("/v1/cameras", {"Authorization": "Bearer \xff"}).status == 401
    assert api.get("/v1/cameras", {"Cookie": "edge_gateway_session=\xff"}).status == 401
    assert login(api, "\u00e9\ud800")[0].status == 401
    _, cookie, csrf = login(api)
    assert (
        api.request("DELETE", "/v1/session", headers={"Cookie": cookie, "X-CSRF-Token": "\xff"}).status == 403
    )
    refused = api.request(
        "DELETE", "/v1/session", headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": "http://[x"}
    )
    assert refused.status == 403
    assert "not a URL" in refused.json()["error"]
    assert api.get("/v1/cameras", {"Cookie": cookie}).status == 200


def test_login_takes_json_only(make_api: ApiFactory) -> None:
    secured = make_api(tokens=frozenset({TOKEN}))
    form = secured.request(
        "POST",
        "/v1/session",
        f"token={TOKEN}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 415
    assert login(secured, "")[0].status == 400


def test_without_tokens_the_console_needs_no_login(make_api: ApiFactory) -> None:
    open_api = make_api()
    assert login(open_api)[0].status == 409
    assert open_api.get("/v1/session").json() == {
        "auth_required": False,
        "authenticated": True,
        "csrf_token": None,
    }


def test_without_tokens_a_browser_request_from_another_site_is_refused(
    make_api: ApiFactory, config_path: Path, running: Running
) -> None:
    api = make_api(geometry=editor(config_path, running))
    assert put_geometry(api, GEOMETRY, {"Origin": "http://attacker.example"}).status == 403
    assert put_geometry(api, GEOMETRY, {"Sec-Fetch-Site": "cross-site"}).status == 403
    assert put_geometry(api, GEOMETRY, {}).status == 200  # curl and scripts stay open on loopback


# ---- geometry -------------------------------------------------------------------------------------


def test_geometry_is_saved_into_the_file_with_its_comments_and_applied(
    make_api: ApiFactory, config_path: Path, running: Running
) -> None:
    api = make_api(geometry=editor(config_path, running))
    before = api.get("/v1/cameras/gate/geometry").json()
    assert before["editable"] is True
    assert before["zones"] == [{"name": "yard", "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]}]
    assert before["rules"] == [
        {
            "name": "intrusion",
            "type": "presence",
            "labels": [],
            "zones": ["yard"],
            "exclude_zones": [],
            "line": None,
            "direction": "any",
            "min_score": 0.5,
            "min_s": None,
            "min_count": None,
        }
    ]

    reply = put_geometry(api, GEOMETRY, {})

    assert reply.status == 200, reply.body
    assert reply.json()["lines"] == [
        {"name": "door", "points": [[0.5, 0.0], [0.5, 1.0]], "in_direction": [1.0, 0.0]}
    ]
    text = config_path.read_text()
    for comment in ("# site config", "# the gate camera", "# a rule on the yard"):
        assert comment in text
    saved = parse_config(text)
    assert [zone.polygon[0] for zone in saved.cameras[0].zones] == [(0.1, 0.2)]
    assert [config.cameras[0].lines[0].name for config in running.applied] == ["door"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"zones": []}, '{"zones": [...], "lines": [...]}'),
        ({"zones": {}, "lines": []}, "zones must be a list"),
        ({"zones": [1], "lines": []}, "zones[0]: must be a section of keys (key: value), got 1"),
        ({**GEOMETRY, "version": 7}, "version must be the string GET answered, not 7"),
        ({**GEOMETRY, "version": ["a"]}, 'version must be the string GET answered, not ["a"]'),
        (
            {"zones": [{"name": "yard", "polygon": [[0, 0], [1, 1]]}], "lines": []},
            "zone 'yard': polygon: needs at least 3 entries, got 2",
        ),
        (
            {"zones": [{"name": "yard", "polygon": [[0, 0], [2, 0], [1, 1]]}], "lines": []},
            "zone 'yard': polygon[1][0]: must be at most 1, got 2",
        ),
        ({"zones": [{"name": "bad name!", "polygon": [[0, 0], [1, 0], [1, 1]]}], "lines": []}, "name"),
        (
            {"zones": [], "lines": [{"name": "l", "points": [[0, 0], [0, 0]], "in_direction": [1, 0]}]},
            "line 'l': the line's two points must differ",
        ),
        ({"zones": [], "lines": []}, "unknown zones ['yard']"),
        # json.dumps writes NaN, and the handler's JSON reader takes it.
        (
            {
                **GEOMETRY,
                "lines": [
                    {"name": "door", "points": [[0.5, 0.0], [0.5, 1.0]], "in_direction": [math.nan, 0]}
                ],
            },
            "must be a finite number, got .nan",
        ),
    ],
)
def test_invalid_geometry_is_a_400_naming_the_problem_and_nothing_is_written(
    make_api: ApiFactory, config_path: Path, running: Running, body: Any, problem: str
) -> None:
    api = make_api(geometry=editor(config_path, running))
    reply = put_geometry(api, body, {})
    assert reply.status == 400, reply.body
    assert problem in reply.json()["error"]
    assert config_path.read_text() == CONFIG
    assert running.applied == []


def test_the_embedded_default_is_read_only_with_the_reason(make_api: ApiFactory, running: Running) -> None:
    api = make_api(geometry=editor(None, running))
    geometry = api.get("/v1/cameras/gate/geometry").json()
    assert geometry["editable"] is False
    assert "embedded default" in geometry["read_only_reason"]
    reply = put_geometry(api, GEOMETRY, {})
    assert reply.status == 409
    assert "--config" in reply.json()["error"]
    assert api.get("/v1/cameras/nowhere/geometry").status == 404


# ---- live view ------------------------------------------------------------------------------------


def encoders(api: ServedApi) -> float:
    for line in api.get("/metrics").body.decode().splitlines():
        if line.startswith("edge_gateway_console_stream_encoders "):
            return float(line.split()[1])
    raise AssertionError("no encoder gauge on /metrics")


def wait_for_encoders(api: ServedApi, expected: float, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while encoders(api) != expected:
        assert time.monotonic() < deadline, f"encoders stayed at {encoders(api)}, expected {expected}"
        time.sleep(0.05)


def read_part(response: http.client.HTTPResponse) -> tuple[dict[str, str], bytes]:
    assert response.readline() == b"--frame\r\n"
    headers = {}
    while (line := response.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.strip()] = value.strip()
    body = response.read(int(headers["Content-Length"]))
    assert response.read(2) == b"\r\n"
    return headers, body


def test_live_view_is_encoded_once_for_all_viewers_and_only_while_watched(make_api: ApiFactory) -> None:
    cameras = FakeCameras()
    api = make_api(cameras=cameras)
    assert encoders(api) == 0
    connections = [http.client.HTTPConnection("127.0.0.1", api.port, timeout=10) for _ in range(3)]
    try:
        responses = []
        for connection in connections:
            connection.request("GET", "/v1/cameras/gate/stream.mjpeg")
            responses.append(connection.getresponse())
        for response in responses:
            assert response.status == 200
            assert response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
            headers, body = read_part(response)
            assert headers["Content-Type"] == "image/jpeg"
            assert body == cameras.jpeg
        wait_for_encoders(api, 1)  # three viewers, one encoder
    finally:
        for connection in connections:
            connection.close()
    wait_for_encoders(api, 0)


def test_live_view_frames_are_capped_at_five_per_second(make_api: ApiFactory) -> None:
    api = make_api(cameras=FakeCameras())
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        connection.request("GET", "/v1/cameras/gate/stream.mjpeg")
        response = connection.getresponse()
        read_part(response)
        started = time.monotonic()
        for _ in range(5):
            read_part(response)
        assert time.monotonic() - started >= 0.9  # five more frames take at least a second
    finally:
        connection.close()


def test_the_live_view_is_scaled_down_to_1280_pixels_and_the_snapshot_is_not(make_api: ApiFactory) -> None:
    cameras = FakeCameras()
    api = make_api(cameras=cameras)
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        connection.request("GET", "/v1/cameras/gate/stream.mjpeg")
        read_part(connection.getresponse())
    finally:
        connection.close()
    assert set(cameras.longest_sides_asked) == {1280}
    cameras.longest_sides_asked.clear()
    assert api.get("/v1/cameras/gate/snapshot.jpg").status == 200
    assert cameras.longest_sides_asked == [None]


def test_live_view_of_an_unknown_camera_is_a_404(make_api: ApiFactory) -> None:
    api = make_api(cameras=FakeCameras())
    reply = api.get("/v1/cameras/nowhere/stream.mjpeg")
    assert reply.status == 404
    assert "nowhere" in reply.json()["error"]
