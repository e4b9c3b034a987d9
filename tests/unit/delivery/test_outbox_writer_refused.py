"""An outbox whose writer thread the kernel will not start (the task or memory limit reached) lets its
file and lock go, as a failed open does: the process may go on, or the next start take them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gateway.delivery.outbox import Outbox

KEY = bytes(32)


def refuse_threads(*_: object) -> int:
    raise RuntimeError("can't start new thread")


def test_a_refused_writer_lets_the_lock_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an outbox opened while no thread can start
    with monkeypatch.context() as patched:
        patched.setattr(threading, "_start_new_thread", refuse_threads)
        with pytest.raises(RuntimeError, match="can't start new thread"):
            Outbox(tmp_path, "box", KEY)

    # When it is opened again once threads start
    outbox = Outbox(tmp_path, "box", KEY)

    # Then it opens at once, its lock not held by the first
    try:
        assert outbox.last_seq == 0
    finally:
        outbox.close()
