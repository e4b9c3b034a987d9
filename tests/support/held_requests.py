"""A page's request held back until the test lets it go: to show what a page does while an answer
is on its way (Playwright's routes; the request goes on with ``route.continue_()``)."""

from __future__ import annotations

import time

from playwright.sync_api import Page, Route

from tests.support.console_pages import UI_WAIT_MS


def hold_the_first(page: Page, url: str, method: str | None = None) -> list[Route]:
    """The first request to ``url`` (a Playwright URL pattern; of ``method`` only, when given), held
    in the list returned until the test continues it; every other request goes through."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        if not held and method in (None, route.request.method):
            held.append(route)
        else:
            route.continue_()

    page.route(url, hold)
    return held


def held_route(page: Page, held: list[Route], what: str) -> Route:
    """The held request, once the page has sent it; ``what`` names it should it never be. Playwright
    hands a route to its handler only while the test calls into it, so the loop calls in until it
    has."""
    deadline = time.monotonic() + UI_WAIT_MS / 1000
    while not held:
        assert time.monotonic() < deadline, f"{what} was never sent"
        page.wait_for_timeout(20)
    return held[0]
