"""The header's health badge in a real browser (Debian's chromium), in both apps of the shared shell
(the gateway's console and the audit service's fleet page), when its read is answered with a body
that is not the health: a proxy's own HTML page, or nothing at all, with a 200.

The API client reads such a body as no answer (null), the app's health function then threw a
TypeError reading its fields, and the shell took it for a fetch that got no answer: "unreachable",
in red, of a server (or a proxy in front of it) that had answered. The health is unknown, in no
colour: the answer says nothing of the server failing (its 5xx stay red, a read with no answer stays
"unreachable").

Each odd answer is the browser's own route on the badge's read; apart from it the page reads the
real app on 127.0.0.1, whose health is good, so the badge is green before and after.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.audit.store import AuditStore
from gateway.config import AdmissionConfig, HttpConfig
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT
from tests.support.fleet_server import fleet_server, logged_in_page
from tests.unit.api.fakes import FakeBackend, SteadyState
from tests.unit.api.harness import ServedApi

PROXY_PAGE = "<!doctype html><title>Proxy</title><p>Please wait while we check your connection.</p>"


@dataclass(frozen=True)
class App:
    open_page: Callable[[Browser, list[str]], Page]
    """A page of the app, past its login where it has one; its script errors go to the list."""
    health_urls: tuple[str, ...]
    """The reads the badge makes on each refresh (globs of the browser's routes)."""
    healthy: str
    """The badge's text while the app is healthy."""


@pytest.fixture(params=["gateway", "fleet"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    if request.param == "gateway":
        yield from gateway_console()
    else:
        yield from fleet_page(tmp_path)


def gateway_console() -> Iterator[App]:
    backend = FakeBackend()
    gateway = create_app(
        http=HttpConfig(),
        admission=AdmissionConfig(),
        inference=backend,
        cameras=None,
        events=None,
        registry=CollectorRegistry(),
        state=SteadyState(),
    )
    with closing(backend), closing(ServedApi(gateway)) as served:

        def open_console(browser: Browser, errors: list[str]) -> Page:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://127.0.0.1:{served.port}/#/models")
            return page

        yield App(open_console, ("**/v1/status",), "healthy")


def fleet_page(directory: Path) -> Iterator[App]:
    url = f"sqlite:///{directory}/audit.db"
    AuditStore.open(url, {}).close()
    with fleet_server(url, {}, secrets.token_urlsafe(16)) as server:
        yield App(
            lambda browser, errors: logged_in_page(browser, server, "devices", errors),
            # The badge reads the fleet's summary and the service's own problems: either may be odd.
            ("**/v1/fleet", "**/v1/status"),
            "fleet healthy",
        )


def proxy_page(route: Route) -> None:
    route.fulfill(status=200, content_type="text/html", body=PROXY_PAGE)


def empty(route: Route) -> None:
    route.fulfill(status=200, content_type="application/json", body="")


@pytest.mark.parametrize("answer", [proxy_page, empty], ids=["proxy-page", "empty"])
def test_an_answer_that_is_not_the_health_leaves_it_unknown_in_no_colour(
    browser: Browser, app: App, answer: Callable[[Route], None]
) -> None:
    errors: list[str] = []
    page = app.open_page(browser, errors)
    badge = page.locator("#health")
    expect(badge).to_have_text(app.healthy, timeout=UI_WAIT_MS)
    expect(badge).to_have_class("pill ok")

    for url in app.health_urls:
        # Given a read of the badge was answered 200 with a body that is not the health, then its
        # health is unknown, in no colour (the server answered: it is not unreachable)
        page.route(url, answer)
        expect(badge).to_have_text("health unknown", timeout=UI_WAIT_MS)
        expect(badge).to_have_class("pill")

        # When the read is answered by the app again, then the badge is the health read, in its colour
        page.unroute(url)
        expect(badge).to_have_text(app.healthy, timeout=UI_WAIT_MS)
        expect(badge).to_have_class("pill ok")
    assert errors == []
