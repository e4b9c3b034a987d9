"""The fleet page's badge in a real browser (Debian's chromium) shows the audit service's own problems.

A keys reload that failed left every device looking as before, and the badge said "fleet healthy"
while the alerts were checked with keys the operator believed replaced. The badge now puts what the
service's ``/v1/status`` lists first, and is red; it is back to the devices' count once nothing is
listed. The real audit HTTP API over a SQLite store, behind a token.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, expect
from prometheus_client import CollectorRegistry

from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.http_context import ServiceProblems
from gateway.audit.store import AuditStore
from gateway.config import HttpConfig
from tests.support.console_pages import UI_WAIT_MS

KEYS = {"box-a": bytes(range(32))}
PROBLEM = (
    "keys not reloaded, the keys of the 1 device in force stay: /etc/edge-gateway/keys.yaml: "
    "device 'box-b' key 1 is not hex"
)


@dataclass(frozen=True)
class Served:
    base: str
    token: str
    problems: ServiceProblems


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("fleet-service-problem")
    reader = AuditStore.open(f"sqlite:///{directory}/audit.db", KEYS)
    token = secrets.token_urlsafe(16)
    problems = ServiceProblems()
    app = create_app(
        reader,
        http=HttpConfig(port=0),
        tokens=frozenset({token}),
        registry=CollectorRegistry(),
        problems=problems,
    )
    server = AuditHttpServer(app, "127.0.0.1", 0)
    try:
        port = server.start()
        yield Served(f"http://127.0.0.1:{port}", token, problems)
    finally:
        server.stop()
        reader.close()


def test_the_badge_shows_a_failed_keys_reload_until_it_is_cleared(browser: Browser, served: Served) -> None:
    errors: list[str] = []
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    served.problems.set("keys", PROBLEM)
    page.goto(served.base + "/")
    page.get_by_label("API token").fill(served.token)
    page.get_by_role("button", name="Log in").click()
    badge = page.locator("#health")

    # box-a is keyed and never heard from: one device with a problem
    expect(badge).to_have_text(f"audit service: {PROBLEM}; 1 device with problems", timeout=UI_WAIT_MS)
    expect(badge).to_have_class("pill bad")

    # When a reload succeeds, the next refresh shows the devices' count alone
    served.problems.set("keys", None)
    expect(badge).to_have_text("1 device with problems", timeout=UI_WAIT_MS)
    assert errors == []
