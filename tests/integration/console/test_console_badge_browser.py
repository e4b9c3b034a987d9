"""The header's health badge in a real browser (Debian's chromium), in both apps of the shared shell
(the gateway's console and the audit service's fleet page), when a read of the health fails or is
answered with a body that is not the health.

- No answer: "unreachable", in red: the viewer cannot reach the server, a fault to see at a glance.
- An error of the server (5xx: the audit store unavailable, an error of its own): "health unknown",
  in red: the server says it is failing.
- A request refused for the client's own reason (429: this client's rate limit, which the gateway
  applies to the console's requests too): "health unknown", in no colour. It was red, the one
  colour of a failing server, while the server was healthy and said nothing of its health; the
  pages show a state they do not know in no colour.
- An answer that is not the health (a 200 with a proxy's own HTML page, or nothing at all): the API
  client reads such a body as no answer (null), the app's health function then threw a TypeError
  reading its fields, and the shell took it for a fetch that got no answer: "unreachable", in red, of
  a server (or a proxy in front of it) that had answered. Now "health unknown", in no colour.

Each failure is the browser's own route on the badge's reads; apart from it the page reads the real
app on 127.0.0.1 (the gateway's API over a hand-written steady state; the audit HTTP API over an
empty SQLite store), whose health is good, so the badge is green before and after.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from gateway.audit.store import AuditStore
from tests.support.console_app import steady_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT
from tests.support.fleet_server import UNAVAILABLE, fleet_server, logged_in_page
from tests.unit.api.fakes import FakeBackend

PROXY_PAGE = "<!doctype html><title>Proxy</title><p>Please wait while we check your connection.</p>"


@dataclass(frozen=True)
class App:
    open_page: Callable[[Browser, list[str]], Page]
    """A page of the app, past its login where it has one; its script errors go to the list."""
    health_urls: tuple[str, ...]
    """The reads the badge makes on each refresh (globs of the browser's routes)."""
    healthy: str
    """The badge's text while the app is healthy."""
    other_shape: str
    """JSON of another shape than the first health read's (a proxy's, another server's)."""


@pytest.fixture(params=["gateway", "fleet"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    if request.param == "gateway":
        yield from gateway_console()
    else:
        yield from fleet_page(tmp_path)


def gateway_console() -> Iterator[App]:
    with closing(FakeBackend()) as backend, steady_app(backend) as served:

        def open_console(browser: Browser, errors: list[str]) -> Page:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://127.0.0.1:{served.port}/#/models")
            return page

        # "healthy" not a boolean: it read as healthy, in green
        yield App(open_console, ("**/v1/status",), "healthy", '{"healthy": "yes", "problems": []}')


def fleet_page(directory: Path) -> Iterator[App]:
    url = f"sqlite:///{directory}/audit.db"
    AuditStore.open(url, {}).close()
    with fleet_server(url, {}, secrets.token_urlsafe(16)) as server:
        yield App(
            lambda browser, errors: logged_in_page(browser, server, "devices", errors),
            # The badge reads the fleet's summary and the service's own problems: either may be odd.
            ("**/v1/fleet", "**/v1/status"),
            "fleet healthy",
            '{"summary": {}}',  # no count of devices with problems: it read as "fleet healthy", in red
        )


def answered(status: int, error: str) -> Callable[[Route], None]:
    def answer(route: Route) -> None:
        route.fulfill(status=status, json={"error": error}, headers={"Retry-After": "1"})

    return answer


def no_answer(route: Route) -> None:
    route.abort("connectionrefused")


def test_the_badge_is_red_for_a_failing_server_alone(browser: Browser, app: App) -> None:
    errors: list[str] = []
    page = app.open_page(browser, errors)
    badge = page.locator("#health")
    expect(badge).to_have_text(app.healthy, timeout=UI_WAIT_MS)
    expect(badge).to_have_class("pill ok")

    # Given the badge's reads were refused by the client's rate limit, then its health is unknown,
    # in no colour
    page.route(app.health_urls[0], answered(429, "rate limit exceeded for this client"))
    expect(badge).to_have_text("health unknown", timeout=UI_WAIT_MS)
    expect(badge).to_have_class("pill")

    # Given they were answered by a failing server, then its health is unknown, in red
    page.unroute(app.health_urls[0])
    page.route(app.health_urls[0], answered(503, UNAVAILABLE))
    expect(badge).to_have_class("pill bad", timeout=UI_WAIT_MS)
    expect(badge).to_have_text("health unknown")

    # Given they were not answered at all, then the server is unreachable, in red
    page.unroute(app.health_urls[0])
    page.route(app.health_urls[0], no_answer)
    expect(badge).to_have_text("unreachable", timeout=UI_WAIT_MS)
    expect(badge).to_have_class("pill bad")

    # When a read succeeds again, then the badge is the health read, in its colour
    page.unroute(app.health_urls[0])
    expect(badge).to_have_text(app.healthy, timeout=UI_WAIT_MS)
    expect(badge).to_have_class("pill ok")
    assert errors == []


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


def test_json_of_another_shape_leaves_the_health_unknown_in_no_colour(browser: Browser, app: App) -> None:
    errors: list[str] = []
    page = app.open_page(browser, errors)
    badge = page.locator("#health")
    expect(badge).to_have_text(app.healthy, timeout=UI_WAIT_MS)
    expect(badge).to_have_class("pill ok")

    # Given the badge's read was answered 200 with JSON that is not the health, then its health is
    # unknown, in no colour
    def other_shape(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=app.other_shape)

    page.route(app.health_urls[0], other_shape)
    expect(badge).to_have_text("health unknown", timeout=UI_WAIT_MS)
    expect(badge).to_have_class("pill")

    # When the read is answered by the app again, then the badge is the health read, in its colour
    page.unroute(app.health_urls[0])
    expect(badge).to_have_text(app.healthy, timeout=UI_WAIT_MS)
    expect(badge).to_have_class("pill ok")
    assert errors == []
