"""One chromium for every browser test of the console and fleet pages.

Launching it costs about a second, once per test when each test launched its own. It lives for the
package only, not the session: while it runs, Playwright's sync API marks its event loop as running
in the main thread, so an ``asyncio.run`` in a later test elsewhere would be refused. What a test
opens in it (contexts, pages) is closed when the test ends, so no page of one test keeps polling or
streaming during the next.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.support.browser import chromium


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(autouse=True)
def _closes_what_the_test_opened(request: pytest.FixtureRequest) -> Iterator[None]:
    # Fixtures of a wider scope are set up before this one, so contexts they opened (a logged-in
    # session shared by a module) are already there and stay open.
    if "browser" not in request.fixturenames:
        yield
        return
    browser: Browser = request.getfixturevalue("browser")
    before = set(browser.contexts)
    yield
    for context in browser.contexts:
        if context not in before:
            context.close()
