"""A tool writing a file in place (truncated, then written in steps) for the tests of a reload's
settled read (``gateway.config.settled_read``): each step follows one of the reload's reads, so what
each read finds does not depend on how fast the machine is."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

STEP_WAIT_S = 30.0


class InPlaceWriter:
    """A tool writing a file in place on a thread of its own: it opens the file (mode ``w``
    truncates it, ``a`` appends), then writes ``steps`` one at a time, each once the reload has
    read the file (``read``, given to the reload in place of ``real_read``), and waits for the
    next."""

    def __init__(self, path: Path, mode: str, steps: Iterable[str], real_read: Callable[[Path], str]) -> None:
        self.reads: list[str] = []
        """What each of the reload's reads found."""
        self._real_read = real_read
        self._path = path
        self._mode = mode
        self._steps = iter(steps)
        self._asked: queue.Queue[str | None] = queue.Queue()
        self._opened = threading.Event()
        self._written = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._write, name="in-place-writer")

    def __enter__(self) -> InPlaceWriter:
        self._thread.start()
        assert self._opened.wait(STEP_WAIT_S), "the writer never opened the file"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._asked.put(None)
        self._thread.join(STEP_WAIT_S)
        assert not self._thread.is_alive()

    def read(self, path: Path) -> str:
        """The real read, then the writer's next step, waited for."""
        text = self._real_read(path)
        self.reads.append(text)
        step = next(self._steps, None)
        if step is not None:
            self._asked.put(step)
            assert self._written.acquire(timeout=STEP_WAIT_S), "the writer never wrote its step"
        return text

    def _write(self) -> None:
        with self._path.open(self._mode, encoding="utf-8") as file:
            self._opened.set()
            while (step := self._asked.get()) is not None:
                file.write(step)
                file.flush()
                self._written.release()
