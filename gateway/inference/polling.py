"""The model repository's hot-reload thread, its log of problems said once, and the locks that
keep reload passes apart.

The thread must outlive anything the model files can do: a pass that raises is logged and the next
one runs on time, and ``Poller.problems`` names the thread if it ever ends before ``stop`` (health
must not say true while hot reload is off). A problem that repeats on every pass (a model directory
that cannot be read, a bug one odd file triggers) is logged when it starts and when it changes,
not every ``poll_interval_s``.

Passes run on the poll thread and on whichever thread handles SIGHUP or a console edit. Two at once
would each act on its own listing of the files: both build a replacement for one change (twice the
memory and the warm-up), or one undo what the other did with a listing already stale (a stamp set
back, so the version is rebuilt yet again; a removed version loaded back). ``ReloadLocks`` runs one
pass at a time, and one refresh of a model at a time, so a load on demand and a pass never
interleave on the same model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager

from gateway.open_files import exhaustion

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
        # A file that cannot be read is a line, not a traceback (the error names file and cause).
        cause = exhaustion(exc) if isinstance(exc, OSError) else None
        logger.error(
            "%s: hot reload failed (retried on every poll, logged again only if it changes): %s",
            _subject(key),
            f"{cause}: {problem}" if cause else problem,
            exc_info=None if isinstance(exc, OSError) else exc,
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


class ReloadLocks:
    """One whole pass at a time (scan, load_all, poll), and one refresh of each model at a time.

    Order, so that nothing waits in a circle: the pass lock, then a model's lock, then a version's
    ``load_lock``, then the repository's short dict lock. None is reentrant, as nothing reenters:
    code already holding a model's lock calls the repository's unlocked helpers. Nothing a pass
    calls (engine factory, warm-up, logging) takes these locks or waits for a thread that does.
    A caller that finds the pass lock held waits for that pass and then runs its own: a SIGHUP
    right after an edit must see the edit, which the running pass may have listed too early."""

    def __init__(self) -> None:
        self._pass = threading.Lock()
        self._guard = threading.Lock()
        # Never pruned: a lock dropped while someone waits on it would let a newcomer make a second
        # one for the same name. One small lock per model name ever seen is all this keeps.
        self._models: dict[str, threading.Lock] = {}

    @contextmanager
    def whole_pass(self) -> Iterator[None]:
        with _waited_for(self._pass, logging.INFO, "a model reload pass is in progress; waiting for it"):
            yield

    @contextmanager
    def model(self, name: str, *, on_demand: bool = False) -> Iterator[None]:
        """Held while refreshing or loading ``name``. A pass that has to wait says so at DEBUG (a
        load on demand is in progress); a load on demand waits silently, as first requests do."""
        with self._guard:
            lock = self._models.setdefault(name, threading.Lock())
        if on_demand:
            with lock:
                yield
        else:
            with _waited_for(lock, logging.DEBUG, "model %s: the reload pass waits for its load", name):
                yield


@contextmanager
def _waited_for(lock: threading.Lock, level: int, message: str, *arguments: object) -> Iterator[None]:
    """``lock`` held; ``message`` logged first if it has to be waited for."""
    if not lock.acquire(blocking=False):
        logger.log(level, message, *arguments)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


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
