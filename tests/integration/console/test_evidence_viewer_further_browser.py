"""The evidence dialog's Next past the last picture of a page, in the real browser: the dialog
(``evidence_viewer.js``, as the console serves it) over a list of its own, whose further pages are
the test's, so what each read brings is chosen: nothing, a card without a picture, a card with one.

Past the last picture, Next asks the page for more and reads on while the cards it brings have no
picture (older events may have none), then shows the first picture brought. A read that brings no
card, where the page still says it can show more, ends the step: read on, the dialog asked again
and again, for as long as it stayed open. The events page's and a device's pages, whose reads bring
cards or end, cannot show this; a page whose reads can bring nothing while more is said to be there
(a filter matching nothing further back, say) would have."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.console_app import steady_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT
from tests.unit.api.fakes import FakeBackend

DIALOG = """
async () => {
  const { evidenceViewer } = await import("/console/evidence_viewer.js");
  const list = document.createElement("ol");
  document.body.append(list);
  const probe = { reads: 0, brings: [] };
  window.probe = probe;
  let viewer = null;
  probe.card = (pictured) => {
    const card = document.createElement("li");
    if (pictured) {
      const number = list.querySelectorAll("button").length + 1;
      const button = document.createElement("button");
      button.className = "larger";
      button.dataset.evidence = String(number);
      button.textContent = `thumbnail ${number}`;
      const title = `picture ${number}`;
      const shown = { source: "/console/icon.svg", alt: "", box: null, title, caption: "" };
      button.addEventListener("click", () => viewer.open(shown, button));
      card.append(button);
    } else {
      card.textContent = "an event without a picture";
    }
    list.append(card);
  };
  // Each read brings what the test put in probe.brings for it: "picture", "none" (a card without
  // one) or "nothing"; answered later, as a read over the network is.
  const show = () => new Promise((resolve) => setTimeout(() => {
    const brought = probe.brings[probe.reads] ?? "nothing";
    probe.reads += 1;
    if (brought !== "nothing") probe.card(brought === "picture");
    resolve(null);
  }, 20));
  viewer = evidenceViewer(list, { next: { what: "older events", can: () => true, show } });
  document.body.append(viewer.element);
  probe.card(true);
}
"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with steady_app(FakeBackend()) as served:
        opened = browser.new_page(viewport=VIEWPORT)
        opened.goto(f"http://127.0.0.1:{served.port}/#/system")
        expect(opened.locator("#health")).to_have_text("healthy", timeout=UI_WAIT_MS)
        opened.evaluate(DIALOG)
        yield opened


def reads(page: Page) -> int:
    return int(page.evaluate("window.probe.reads"))


def test_next_reads_once_where_a_read_brings_nothing_though_more_is_said_to_be_there(page: Page) -> None:
    page.get_by_role("button", name="thumbnail 1").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("picture 1")
    expect(dialog).to_contain_text("1 of 1, older events next")
    next_button = dialog.get_by_role("button", name="Next →")
    for pressed in (1, 2):
        next_button.click()
        # Then the page is asked once, and the dialog stays on its picture, Next still there
        page.wait_for_function("count => window.probe.reads >= count", arg=pressed, timeout=UI_WAIT_MS)
        page.wait_for_timeout(500)
        assert reads(page) == pressed
        expect(dialog.get_by_role("heading")).to_have_text("picture 1")
        expect(dialog).to_contain_text("1 of 1, older events next")
        expect(next_button).to_be_enabled()


def test_next_reads_past_cards_without_a_picture_to_the_first_one_with(page: Page) -> None:
    page.evaluate('window.probe.brings = ["none", "none", "picture"]')
    page.get_by_role("button", name="thumbnail 1").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Next →").click()
    expect(dialog.get_by_role("heading")).to_have_text("picture 2", timeout=UI_WAIT_MS)
    expect(dialog).to_contain_text("2 of 2, older events next")
    assert reads(page) == 3
