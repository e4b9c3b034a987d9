"""The audit HTTP API over a store already filled, on a free loopback port, behind one bearer token:
for tests that put what devices sent straight into the store (``AuditStore.ingest``, the path the
subscriber takes) and then read it through the fleet API or page."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from playwright.sync_api import Browser, Page, Route
from prometheus_client import CollectorRegistry

from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.keys_file import SigningKeys
from gateway.audit.store import AuditStore
from gateway.config import HttpConfig


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class FleetServer:
    base: str
    token: str

    def get(self, path: str) -> Answer:
        """``GET path`` with the token; an error status is an Answer too."""
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), exc.read())


@contextmanager
def fleet_server(url: str, keys: SigningKeys, token: str) -> Iterator[FleetServer]:
    reader = AuditStore.open(url, keys)
    server = AuditHttpServer(
        create_app(reader, http=HttpConfig(port=0), tokens=frozenset({token}), registry=CollectorRegistry()),
        "127.0.0.1",
        0,
    )
    try:
        port = server.start()
        yield FleetServer(f"http://127.0.0.1:{port}", token)
    finally:
        server.stop()
        reader.close()


RECORD_STATUS_TEXTS = """() => {
  window.shownMessages = [];
  const message = document.querySelector("main p[role=status]");
  window.shownMessages.push(message.textContent);
  new MutationObserver(() => window.shownMessages.push(message.textContent))
    .observe(message, { childList: true, characterData: true, subtree: true });
}"""
"""A script that has the page keep every text its status line is given, in order, from the one shown
(``window.shownMessages``): a stale answer drawn and then drawn over again is still in the list."""


def logged_in_page(browser: Browser, server: FleetServer, hash_path: str, errors: list[str]) -> Page:
    """A desktop-sized page of the fleet app at ``#/{hash_path}``, its login sent; the page's script
    errors go to ``errors``."""
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.base}/#/{hash_path}")
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    return page


UNAVAILABLE = "the audit store is unavailable"
"""The error the pages show for a 503 of the audit service whose store cannot be read."""


def fail_one_refresh(page: Page, url: str) -> None:
    """The next refresh's requests to ``url`` are answered 503 as the audit service answers one; the
    later ones go on. A refresh reading an answer exactly asks once more, through the pages' shared
    API client, for the error it shows: both are answered 503."""

    def unavailable(route: Route) -> None:
        route.fulfill(status=503, json={"error": UNAVAILABLE})

    page.route(url, unavailable, times=2)
