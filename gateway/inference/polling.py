"""The model repository's hot-reload thread, and its log of problems said once.

The thread must outlive anything the model files can do: a pass that raises is logged and the next
one runs on time, and ``Poller.problems`` names the thread if it ever ends before ``stop`` (health
must not say true while hot reload is off). A problem that repeats on every pass (a model directory
that cannot be read, a bug one odd file triggers) is logged when it starts and when it changes,
not every ``poll_interval_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection

logger = logging.getLogger(__name__)

RETRY_PAUSE_S = 1.0
"""Pause after a pass that raised, before the next wait."""
WHOLE_PASS = ""
"""The key of problems that are no one model's (listing the repository itself)."""


class ProblemLog:
    """The last unexpected error per model name (or ``WHOLE_PASS``), each logged once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, str] = {}

    def report(self, key: str, exc: Exception) -> None:
        problem = f"{type(exc).__name__}: {exc}"
        with self._lock:
            repeated = self._problems.get(key) == problem
            self._problems[key] = problem
        if repeated:
            return
        logger.error(
            "%s: hot reload failed (retried on every poll, logged again only if it changes): %s",
            _subject(key),
            problem,
            exc_info=exc,
            extra={"model": key} if key != WHOLE_PASS else None,
        )

    def cleared(self, key: str) -> None:
        with self._lock:
            problem = self._problems.pop(key, None)
        if problem is not None:
            logger.info("%s: hot reload works again", _subject(key))

    def forget_all_but(self, names: Collection[str]) -> None:
        """Drop the problems of models that left the repository (one that comes back is new)."""
        with self._lock:
            for key in set(self._problems) - set(names) - {WHOLE_PASS}:
                del self._problems[key]


class Poller:
    """Runs ``poll`` every ``interval_s`` on the named thread ``model-repository-poll``."""

    def __init__(self, poll: Callable[[], None], problems: ProblemLog) -> None:
        self._poll = poll
        self._problems = problems
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None

    def start(self, interval_s: float, stop: threading.Event) -> None:
        def run() -> None:
            while True:
                # The wait is inside the try too: nothing may end hot reload while health says true.
                try:
                    if stop.wait(interval_s):
                        return
                    self._poll()
                except Exception as exc:
                    self._problems.report(WHOLE_PASS, exc)
                    # Not at once: a wait that itself fails would make this a busy loop.
                    time.sleep(RETRY_PAUSE_S)

        self._stop = stop
        self._thread = threading.Thread(target=run, name="model-repository-poll", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def problems(self) -> list[str]:
        """The thread, if it ended before ``stop`` was set."""
        thread, stop = self._thread, self._stop
        if thread is None or stop is None or stop.is_set() or thread.is_alive():
            return []
        return [f"{thread.name} died: model files are no longer reloaded"]


def _subject(key: str) -> str:
    return f"model {key}" if key != WHOLE_PASS else "model repository"
