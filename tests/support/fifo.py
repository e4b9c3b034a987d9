"""A FIFO standing for a file on a hung mount: a read that opens it blocks until a writer comes.
``release`` is that writer, and waits for the reading thread to end."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

DEADLINE_S = 30.0


def release(fifo: Path, reader_thread: str) -> None:
    """Open ``fifo`` for writing and close it: the read blocked opening it gets an empty file; then
    wait for the threads named ``reader_thread`` to end."""
    deadline = time.monotonic() + DEADLINE_S
    while (writer := _open_writer(fifo)) is None:
        assert time.monotonic() < deadline, "the read never opened the FIFO"
        threading.Event().wait(0.01)
    os.close(writer)
    for thread in threading.enumerate():
        if thread.name == reader_thread:
            thread.join(DEADLINE_S)
            assert not thread.is_alive()


def _open_writer(fifo: Path) -> int | None:
    """A write end of ``fifo``, or None while no reader has it open (ENXIO): the reading thread
    has not reached its open() yet."""
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ENXIO:
            raise
        return None
