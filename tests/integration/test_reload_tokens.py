"""A SIGHUP applies the tokens file's tokens: a token revoked there is refused at once, and a console
session opened with it ends. Before, the reload only warned that a restart would apply them, so a
leaked token kept working until then. A file that cannot be read, or holds no tokens, leaves the API
with the tokens it has (a non-loopback API never becomes an open one), and the reload says so. Runs
the real ``edge-gateway`` and a real HTTP client."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from tests.integration.test_alert_integrity import metric
from tests.support.command import write_config
from tests.support.serve import Process

RELOADED = "reloaded: models re-scanned"
KEPT = "the API goes on with the tokens it had"
RELOAD_FAILED = "edge_gateway_api_tokens_reload_failed"


def status_code(
    port: int, token: str | None = None, opener: urllib.request.OpenerDirector | None = None
) -> int:
    """The answer's status to ``GET /v1/status``, with ``token`` as the bearer or ``opener``'s cookies."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/status")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=30) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as exc:
        return exc.code


def console_login(port: int, token: str) -> urllib.request.OpenerDirector:
    """A client holding a console session opened with ``token`` (the login form's request)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/session",
        data=json.dumps({"token": token}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with opener.open(request, timeout=30) as response:
        assert response.status == 200
    return opener


def start(tmp_path: Path, processes: list[Process], tokens: Path) -> tuple[Process, int]:
    config = write_config(tmp_path / "gateway.yaml", "tokens", http={"port": 0, "tokens_file": str(tokens)})
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    return gateway, gateway.api_port()


def reload(gateway: Process, said: str) -> str:
    """SIGHUP, then what the gateway logged for it, once it has ``said`` (after the config's reload,
    the tokens file is read)."""
    logged = len(gateway.output())
    gateway.signal(signal.SIGHUP)
    gateway.wait_for_log(said, timeout_s=60, after=logged)
    return gateway.output()[logged:]


def test_a_reload_applies_the_tokens_files_new_tokens(tmp_path: Path, processes: list[Process]) -> None:
    # Given a gateway whose API takes the tokens of a file, and a console session opened with one
    tokens = tmp_path / "tokens"
    tokens.write_text("old-token\nkept-token\n", encoding="utf-8")
    gateway, port = start(tmp_path, processes, tokens)
    session = console_login(port, "old-token")
    assert status_code(port, opener=session) == 200

    # When the token is replaced in the file (a leaked one revoked) and the gateway is told
    tokens.write_text("new-token\nkept-token\n", encoding="utf-8")
    output = reload(gateway, f"reload: the tokens in {tokens} (http.tokens_file) changed and apply now")

    # Then the new tokens apply at once: the revoked one and its console session are refused
    assert RELOADED in output
    assert status_code(port, "new-token") == 200
    assert status_code(port, "kept-token") == 200
    assert status_code(port, "old-token") == 401
    assert status_code(port, opener=session) == 401
    assert "new-token" not in gateway.output()
    assert gateway.terminate() == 0, gateway.output()


def test_a_reload_keeps_the_tokens_when_the_file_holds_none(tmp_path: Path, processes: list[Process]) -> None:
    # Given a gateway whose API takes the tokens of a file
    tokens = tmp_path / "tokens"
    tokens.write_text("a-token\n", encoding="utf-8")
    gateway, port = start(tmp_path, processes, tokens)

    # When the file is emptied, and then removed, each time with a reload
    tokens.write_text("# none yet\n", encoding="utf-8")
    emptied = reload(gateway, KEPT)
    tokens.unlink()
    removed = reload(gateway, KEPT)

    # Then each reload says so and the API keeps the token it had, never becoming an open one
    assert f"{tokens}: http.tokens_file: holds no tokens; {KEPT}" in emptied
    assert "http.tokens_file: cannot read" in removed
    assert status_code(port, "a-token") == 200
    assert status_code(port) == 401
    # And /v1/status lists it, and /metrics counts it, until a reload reads the file again
    (problem,) = problems(port, "a-token")
    assert problem.startswith(f"{tokens}: http.tokens_file: cannot read"), problem
    assert problem.endswith(KEPT), problem
    assert metric(f"http://127.0.0.1:{port}/metrics", RELOAD_FAILED, token="a-token") == 1
    tokens.write_text("a-token\n", encoding="utf-8")
    reload(gateway, RELOADED)
    deadline = time.monotonic() + 60
    while problems(port, "a-token"):
        assert time.monotonic() < deadline, gateway.output()
        threading.Event().wait(0.05)
    assert metric(f"http://127.0.0.1:{port}/metrics", RELOAD_FAILED, token="a-token") == 0
    assert gateway.terminate() == 0, gateway.output()


def problems(port: int, token: str) -> list[str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/status")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        found: list[str] = json.load(response)["problems"]
        return found
