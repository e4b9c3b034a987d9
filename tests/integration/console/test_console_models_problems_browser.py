"""A model version's problems on the Models page, in the real browser over the real app: a
model.yaml's problems, which the gateway joins one to a line, are shown one to a line, where the
cell ran them on into one ("...got 0 /srv/models/...")."""

from __future__ import annotations

from contextlib import closing

from playwright.sync_api import Browser, expect

from gateway.domain import ModelState
from tests.support.console_app import steady_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT
from tests.unit.api.fakes import FakeBackend, affine_status

FIRST = (
    "model.yaml: /srv/models/affine/model.yaml:4: inputs[0].datatype: BYTES (string) tensors are not served"
)
SECOND = "/srv/models/affine/model.yaml:6: outputs[0].datatype: BYTES (string) tensors are not served"


def test_each_problem_of_a_version_is_a_line_of_its_own(browser: Browser) -> None:
    with closing(FakeBackend()) as backend:
        backend.statuses[("affine", 3)] = affine_status(3, ModelState.FAILED, f"{FIRST}\n{SECOND}")
        with steady_app(backend) as served:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"http://127.0.0.1:{served.port}/#/models")
            problem = page.locator("[data-model='affine:3'] td.problem")
            expect(problem).to_have_text(f"{FIRST} {SECOND}", timeout=UI_WAIT_MS)
            assert problem.evaluate("cell => cell.innerText") == f"{FIRST}\n{SECOND}"
            ready = page.locator("[data-model='affine:1'] td.problem")
            assert ready.evaluate("cell => cell.innerText") == "none"
