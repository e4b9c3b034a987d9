"""A device's page in a real browser (Debian's chromium) lists the alerts of a time range chosen in
the browser's own time, read by the real audit HTTP API over a SQLite store (``since`` / ``until``),
a page at a time from the earliest, with Later and Earlier within the range.

Without it the page listed a device's alerts by seq only, newest first: last night's alerts of a busy
device lay behind page after page of Older alerts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.audit.store import AuditStore, ReceivedMessage
from tests.support.audit_device import AlertChain
from tests.support.console_pages import UI_WAIT_MS
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
DEVICE = "box-night"
ALERTS = 120
# AlertChain's alert seq is at 1_780_000_000 + seq / 10 s: 2026-05-28T20:26:40Z + seq / 10 s, which
# is 22:26:40 + seq / 10 s in Berlin (summer time).
FROM_SEQ_30 = "2026-05-28T22:26:43"
TO_SEQ_100 = "2026-05-28T22:26:50"
SPAN = "from 28/05/2026, 22:26:43 to 28/05/2026, 22:26:50"
NEWEST = "Alerts 71 to 120, newest first."
FIRST_PAGE = f"Alerts 30 to 79 of those {SPAN}, newest first; later ones are on the next page."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fleet-time-range')}/audit.db"
    chain = AlertChain(DEVICE, KEY)
    chain.extend(ALERTS)
    store = AuditStore.open(url, {DEVICE: KEY})
    store.ingest([ReceivedMessage(chain.topic, payload, 1_780_000_100.0) for payload in chain.payloads])
    store.close()
    with fleet_server(url, {DEVICE: KEY}, secrets.token_urlsafe(16)) as served:
        yield served


def berlin_page(
    browser: Browser, server: FleetServer, errors: list[str], hash_path: str = f"device/{DEVICE}"
) -> Page:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, timezone_id="Europe/Berlin", locale="en-GB"
    )
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.base}/#/{hash_path}")
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Log in").click()
    return page


def choose_range(page: Page) -> None:
    """Alerts 30 to 99's range chosen on a device page that shows the newest alerts."""
    expect(page.locator("main p[role=status]")).to_have_text(NEWEST, timeout=UI_WAIT_MS)
    page.get_by_label("Alerts from").fill(FROM_SEQ_30)
    page.get_by_label("To", exact=True).fill(TO_SEQ_100)


def shown_seqs(page: Page) -> list[int]:
    return [
        int(seq)
        for seq in page.locator("ol.events > li").evaluate_all("cards => cards.map(c => c.dataset.seq)")
    ]


def test_a_time_range_lists_its_alerts_page_by_page(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = berlin_page(browser, server, errors)
    status = page.locator("main p[role=status]")

    # When a range of the browser's time is chosen, then its first page of alerts is listed
    choose_range(page)
    expect(status).to_have_text(FIRST_PAGE, timeout=UI_WAIT_MS)
    assert shown_seqs(page) == list(range(79, 29, -1))
    expect(page.get_by_role("button", name="Earlier alerts in this range")).to_be_hidden()

    # When Later is clicked, then the rest of the range, up to but not including its end
    page.get_by_role("button", name="Later alerts in this range").click()
    expect(status).to_have_text(f"Alerts 80 to 99 of those {SPAN}, newest first.", timeout=UI_WAIT_MS)
    assert shown_seqs(page) == list(range(99, 79, -1))
    expect(page.get_by_role("button", name="Later alerts in this range")).to_be_hidden()

    # And Earlier goes back to the page before
    page.get_by_role("button", name="Earlier alerts in this range").click()
    expect(status).to_have_text(FIRST_PAGE, timeout=UI_WAIT_MS)

    # When the end is put before the start, then the page says so and lists nothing
    page.get_by_label("To", exact=True).fill("2026-05-28T22:00:00")
    expect(status).to_have_text("The range's end must be later than its start.", timeout=UI_WAIT_MS)
    assert shown_seqs(page) == []

    # When a range holds no alert, then the page says none is stored in it
    page.get_by_label("To", exact=True).fill("")
    page.get_by_label("Alerts from").fill("2026-05-29T08:00:00")
    expect(status).to_have_text("No alerts stored from 29/05/2026, 08:00:00 on.", timeout=UI_WAIT_MS)

    # When the range is cleared, then the newest alerts are listed again
    page.get_by_label("Alerts from").fill("")
    expect(status).to_have_text(NEWEST, timeout=UI_WAIT_MS)
    assert shown_seqs(page)[:2] == [120, 119]
    assert errors == []


def test_the_range_is_the_pages_address_and_survives_a_reload(browser: Browser, server: FleetServer) -> None:
    errors: list[str] = []
    page = berlin_page(browser, server, errors)
    status = page.locator("main p[role=status]")

    # When a range is chosen, then the page's address holds it
    choose_range(page)
    expect(status).to_have_text(FIRST_PAGE, timeout=UI_WAIT_MS)
    address = page.evaluate("location.hash")
    assert address.startswith(f"#/device/{DEVICE}/")

    # And the page reloaded, or opened from that address elsewhere, shows the same range
    page.reload()
    expect(status).to_have_text(FIRST_PAGE, timeout=UI_WAIT_MS)
    expect(page.get_by_label("Alerts from")).to_have_value(FROM_SEQ_30)
    other = berlin_page(browser, server, errors, address.removeprefix("#/"))
    expect(other.locator("main p[role=status]")).to_have_text(FIRST_PAGE, timeout=UI_WAIT_MS)

    # When the range is cleared, then the address is the device's alone
    page.get_by_label("Alerts from").fill("")
    page.get_by_label("To", exact=True).fill("")
    expect(status).to_have_text(NEWEST, timeout=UI_WAIT_MS)
    assert page.evaluate("location.hash") == f"#/device/{DEVICE}"
    assert errors == []
