"""The console's Models page in a real browser (Debian's chromium): no state claimed while its
refreshes fail, and no metadata shown as absent when it could not be read.

- after a refresh of the repository index failed, the table kept the rows it had last read under
  the error line, green "ready" pills among them: a reader saw models ready while their states were
  unknown. The rows stay, said to be as last read and when, with no pill coloured by a state, until
  a refresh succeeds again (and the line loses the error's style then);
- a model whose metadata (``/v2/models/<name>``) could not be read showed a dash for its share of
  requests and platform, as if it had none: they are "unknown", and the line says why;
- every ready version but the one unversioned requests go to showed "ready" for its provider (the
  model's metadata names that one's alone), so a canary fallen back to the CPU went unseen: each
  ready version's provider is read from its own metadata (``/v2/models/<name>/versions/<v>``), once
  a refresh, and is "unknown" when that read fails, the line saying why;
- the line counted "1 versions of 1 models.": the nouns agree with their numbers;
- a version not loaded yet (no camera uses its model: it loads on its first request) showed a red
  "unavailable" pill, its reason in red as a problem, and "pinned requests only" though
  unversioned requests go to it: the repository index says UNAVAILABLE for it as for a failure
  (as Triton's does), and the version's own metadata tells them apart.

The real API app on 127.0.0.1 over the API tests' backend (affine versions 1 and 2 ready, 3
unavailable: it failed to load); the 503s are the browser's own routes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from gateway.domain import ModelState
from tests.support.console_app import steady_app
from tests.support.console_pages import UI_WAIT_MS, VIEWPORT
from tests.unit.api.fakes import FakeBackend, affine_status
from tests.unit.api.harness import ServedApi

UNAVAILABLE = "the model repository is unavailable"
COUNTED = "3 versions of 1 model."
NONE = "\N{EN DASH}"  # the page's mark for a cell with nothing to show
ERROR_CLASS = re.compile(r"(^|\s)error(\s|$)")
STATE_COLOUR = re.compile(r"(^|\s)(ok|warn|bad)(\s|$)")
AS_READ = re.compile(r"^What follows was read at .+; the models' states now are unknown\.$")


@pytest.fixture
def backend() -> Iterator[FakeBackend]:
    with closing(FakeBackend()) as backend:
        yield backend


@pytest.fixture
def served(backend: FakeBackend) -> Iterator[ServedApi]:
    with steady_app(backend) as api:
        yield api


def unavailable(route: Route) -> None:
    route.fulfill(status=503, json={"error": UNAVAILABLE})


def expect_current(page: Page) -> None:
    """The rows of a refresh that succeeded: each version's state in its colour."""
    for version in ("1", "2"):
        pill = page.locator(f"[data-model='affine:{version}'] .pill")
        expect(pill).to_have_text("ready", timeout=UI_WAIT_MS)
        expect(pill).to_have_class(re.compile(r"(^|\s)ok(\s|$)"), timeout=UI_WAIT_MS)
    failed = page.locator("[data-model='affine:3'] .pill")
    expect(failed).to_have_text("unavailable")
    expect(failed).to_have_class(re.compile(r"(^|\s)bad(\s|$)"))


def test_a_failed_refresh_leaves_no_model_ready_in_colour(browser: Browser, served: ServedApi) -> None:
    errors: list[str] = []
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{served.port}/#/models")
    message = page.locator("main p[role=status]")
    as_read = page.get_by_text(AS_READ)
    expect_current(page)
    expect(message).to_have_text(COUNTED)
    expect(as_read).to_be_hidden()

    # Given the refreshes of the repository index answered 503
    page.route("**/v2/repository/index", unavailable)
    expect(message).to_have_text(UNAVAILABLE, timeout=UI_WAIT_MS)
    expect(message).to_have_class(ERROR_CLASS)

    # Then the rows stay, said to be as last read, their states in no state's colour
    expect(as_read).to_be_visible(timeout=UI_WAIT_MS)
    expect(page.locator("main tbody tr")).to_have_count(3)
    expect(page.locator("main .pill")).to_have_text(["ready", "ready", "unavailable"])
    for pill in page.locator("main .pill").all():
        expect(pill).not_to_have_class(STATE_COLOUR)

    # When a refresh succeeds again, then the states are the repository's, in colour, and the line
    # counts them with no error's style left
    page.unroute("**/v2/repository/index")
    expect_current(page)
    expect(as_read).to_be_hidden()
    expect(message).to_have_text(COUNTED)
    expect(message).not_to_have_class(ERROR_CLASS)
    assert errors == []


def test_metadata_that_could_not_be_read_is_unknown(browser: Browser, served: ServedApi) -> None:
    errors: list[str] = []
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Given the model's metadata answers 503 while the index answers
    page.route("**/v2/models/affine", unavailable)
    page.goto(f"http://127.0.0.1:{served.port}/#/models")
    message = page.locator("main p[role=status]")
    serving = page.locator("[data-model='affine:2']")

    # Then its share and platform are unknown, and the line says why; the provider is the version's
    # own, read from its own metadata
    expect(message).to_have_text(
        f"{COUNTED} The metadata of affine could not be read ({UNAVAILABLE}): its share of "
        "requests and platform are unknown.",
        timeout=UI_WAIT_MS,
    )
    expect(message).to_have_class(ERROR_CLASS)
    expect(serving.locator("td[data-label='Share of requests']")).to_have_text("unknown")
    expect(serving.locator("td[data-label='Platform']")).to_have_text("unknown")
    expect(serving.locator("td[data-label='Provider']")).to_have_text("CPUExecutionProvider")
    expect_current(page)

    # When the metadata can be read again, then the cells show it and the line is no error
    page.unroute("**/v2/models/affine")
    expect(serving.locator("td[data-label='Platform']")).to_have_text("onnxruntime_onnx", timeout=UI_WAIT_MS)
    expect(serving.locator("td[data-label='Share of requests']")).to_have_text("canary, 25 %")
    expect(serving.locator("td[data-label='Provider']")).to_have_text("CPUExecutionProvider")
    expect(message).to_have_text(COUNTED)
    expect(message).not_to_have_class(ERROR_CLASS)
    assert errors == []


def test_each_ready_version_shows_its_own_provider(
    browser: Browser, backend: FakeBackend, served: ServedApi
) -> None:
    # Given version 1 runs on CUDA while version 2, the canary, has fallen back to the CPU
    backend.statuses[("affine", 1)] = replace(affine_status(1), provider="CUDAExecutionProvider")
    errors: list[str] = []
    indexes: list[str] = []
    versions: list[str] = []

    def count(request: Request) -> None:
        if request.url.endswith("/v2/repository/index"):
            indexes.append(request.url)
        elif "/versions/" in request.url:
            versions.append(request.url.rsplit("/versions/", 1)[1])

    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", count)
    page.goto(f"http://127.0.0.1:{served.port}/#/models")

    # Then each ready version names its own provider, and the version that failed to load none
    row = "[data-model='affine:{}'] td[data-label='Provider']"
    expect(page.locator(row.format(1))).to_have_text("CUDAExecutionProvider", timeout=UI_WAIT_MS)
    expect(page.locator(row.format(2))).to_have_text("CPUExecutionProvider")
    expect(page.locator(row.format(3))).to_have_text(NONE)
    expect(page.locator("[data-model='affine:2'] td[data-label='Share of requests']")).to_have_text(
        "canary, 25 %"
    )
    expect(page.locator("main p[role=status]")).to_have_text(COUNTED)

    # And each refresh reads each version's metadata once at most (a version that failed too: its
    # state tells a failure from a version not loaded yet)
    for version in ("1", "2", "3"):
        assert 1 <= versions.count(version) <= len(indexes), (versions, indexes)
    assert errors == []


def test_a_version_whose_provider_could_not_be_read_is_unknown(browser: Browser, served: ServedApi) -> None:
    errors: list[str] = []
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Given version 1's metadata answers 503 while the index and the model's metadata answer
    page.route("**/v2/models/affine/versions/1", unavailable)
    page.goto(f"http://127.0.0.1:{served.port}/#/models")
    message = page.locator("main p[role=status]")
    provider = page.locator("[data-model='affine:1'] td[data-label='Provider']")

    # Then its provider is unknown, and the line says why
    expect(message).to_have_text(
        f"{COUNTED} The metadata of affine version 1 could not be read ({UNAVAILABLE}): its "
        "provider is unknown.",
        timeout=UI_WAIT_MS,
    )
    expect(message).to_have_class(ERROR_CLASS)
    expect(provider).to_have_text("unknown")
    expect(page.locator("[data-model='affine:2'] td[data-label='Provider']")).to_have_text(
        "CPUExecutionProvider"
    )
    expect_current(page)

    # When it can be read again, then the cell names the provider and the line is no error
    page.unroute("**/v2/models/affine/versions/1")
    expect(provider).to_have_text("CPUExecutionProvider", timeout=UI_WAIT_MS)
    expect(message).to_have_text(COUNTED)
    expect(message).not_to_have_class(ERROR_CLASS)
    assert errors == []


@pytest.mark.parametrize(
    ("versions", "counted"),
    [
        ({("affine", 1)}, "1 version of 1 model."),
        ({("affine", 1), ("affine", 2), ("other", 1)}, "3 versions of 2 models."),
    ],
)
def test_the_line_counts_versions_and_models_in_words(
    browser: Browser,
    backend: FakeBackend,
    served: ServedApi,
    versions: set[tuple[str, int]],
    counted: str,
) -> None:
    # Given a repository of these versions
    backend.statuses = {
        (name, version): replace(affine_status(version), name=name) for name, version in sorted(versions)
    }
    errors: list[str] = []
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{served.port}/#/models")

    # Then the line counts them, each noun agreeing with its number
    expect(page.locator("main tbody tr")).to_have_count(len(versions), timeout=UI_WAIT_MS)
    expect(page.locator("main p[role=status]")).to_have_text(counted, timeout=UI_WAIT_MS)
    assert errors == []


def test_a_version_not_loaded_yet_is_no_problem_and_takes_the_unversioned_requests(
    browser: Browser, backend: FakeBackend, served: ServedApi
) -> None:
    # Given a model no camera uses, its only version not loaded yet
    backend.statuses[("spare", 1)] = replace(
        affine_status(1, ModelState.UNLOADED, "loads on its first request"), name="spare", provider=None
    )
    errors: list[str] = []
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{served.port}/#/models")
    row = page.locator("[data-model='spare:1']")

    # Then it is said to be not loaded, in no colour, its reason no problem; unversioned requests
    # go to it (the fake routes a quarter of every model's to a canary version 2)
    expect(row.locator(".pill")).to_have_text("not loaded", timeout=UI_WAIT_MS)
    expect(row.locator(".pill")).not_to_have_class(STATE_COLOUR)
    problem = row.locator("td[data-label='Problem']")
    expect(problem).to_have_text("none: loads on its first request")
    expect(problem).not_to_have_class(ERROR_CLASS)
    expect(row.locator("td[data-label='Share of requests']")).to_have_text("default, 75 %")
    expect(row.locator("td[data-label='Provider']")).to_have_text(NONE)
    # while the version that failed is still a problem, in red
    expect_current(page)
    expect(page.locator("[data-model='affine:3'] td[data-label='Problem']")).to_have_class(ERROR_CLASS)
    expect(page.locator("main p[role=status]")).to_have_text("4 versions of 2 models.")
    assert errors == []
