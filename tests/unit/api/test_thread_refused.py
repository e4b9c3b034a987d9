"""A thread the kernel refused is told in one line naming it and the likely cause, and an API request
that met one is a 503 in those words, not a 500 "internal error"; other RuntimeErrors stay 500."""

from __future__ import annotations

import threading

import pytest

from gateway.api.middlewares import error_answer
from gateway.thread_limit import CAUSE, thread_not_started


def refuse_threads() -> None:
    """What CPython raises when ``clone`` fails (EAGAIN: the task or memory limit reached)."""
    raise RuntimeError("can't start new thread")


def refused_start(monkeypatch: pytest.MonkeyPatch, name: str) -> RuntimeError:
    monkeypatch.setattr(threading, "_start_new_thread", lambda *_: refuse_threads())
    try:
        threading.Thread(target=lambda: None, name=name).start()
    except RuntimeError as exc:
        return exc
    raise AssertionError("the thread started")


def test_a_refused_start_names_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = refused_start(monkeypatch, "outbox-writer")

    assert thread_not_started(refused) == f"cannot start a thread (outbox-writer): {CAUSE}"


def test_the_first_refusal_is_named_when_another_came_while_handling_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a refusal raised while the first was handled (the event loop's close after a failed start)
    first = refused_start(monkeypatch, "alert-decider")
    try:
        try:
            raise first
        except RuntimeError:
            threading.Thread(target=lambda: None, name="closing").start()
    except RuntimeError as second:
        later = second

    # Then the one told is where it began
    assert thread_not_started(later) == f"cannot start a thread (alert-decider): {CAUSE}"


def test_a_request_that_met_a_refused_thread_is_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = refused_start(monkeypatch, "api-worker_1")

    status, message, headers = error_answer(refused, "GET", "/v1/status")

    assert (status, message, dict(headers)) == (
        503,
        f"cannot start a thread (api-worker_1): {CAUSE}",
        {"Retry-After": "5"},
    )


@pytest.mark.parametrize("error", [RuntimeError("dictionary changed size during iteration"), ValueError()])
def test_other_errors_stay_internal(error: Exception) -> None:
    assert thread_not_started(error) is None
    assert error_answer(error, "GET", "/v1/status")[0] == 500
