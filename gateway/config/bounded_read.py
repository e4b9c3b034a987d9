"""Reading again, on a reload, a file the gateway was started with (the config, the tokens file): on
a thread of its own, waited for ``READ_WAIT_S`` at most.

Whoever waits for a reload must never wait on a file system: the event loop serves every request
and handles SIGTERM, and ``serve`` waits for the reload before it takes the next signal. A read on a
network mount whose server has gone blocks in the kernel for as long as the mount hangs, and cannot
be interrupted. So a read still going after ``READ_WAIT_S`` is named and left behind on its daemon
thread (a daemon, so that it holds nothing at exit, as a thread of the loop's default executor
would: those are joined then), and no other read of the file is started while it hangs, so a reload
never adds a second stuck thread. A file that is no regular file is refused before it is opened, as
the config refuses one at start: opening a FIFO waits for a writer. Other uses of the same file
(the console's look at it, its save's read and write: ``BoundedRead.run``) are bounded the same way
and counted with its reads, so none starts while any of them hangs; ``HungFileError`` says one did
not finish, for callers that answer it differently from a file that is wrong (a 503, not a 400).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from gateway.errors import ConfigError, ConfigProblem

READ_WAIT_S = 5.0
"""How long a reload waits for a file: a local file is read in microseconds, one on a network mount
in milliseconds; a read still going after seconds is one that hangs."""

Result = TypeVar("Result")
Other = TypeVar("Other")

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFLNK: "a symbolic link",
}


@dataclass(frozen=True, slots=True)
class FileUse:
    """What a bounded use of the file does, for its errors: "cannot {verb}: {doing} did not finish
    within 5 s", and, to a use tried while it hangs, "{started_by} 12 s ago has not finished"."""

    verb: str
    doing: str
    started_by: str


RELOAD_READ = FileUse("read", "reading it", "the read a reload started")


class HungFileError(ConfigError):
    """A read, check or write of the file did not finish in time, or an earlier one still hangs."""


class NotRegularFileError(ConfigError):
    """The file is no regular file (``kind``: "a FIFO", "a directory", ...), found before opening it."""

    def __init__(self, path: Path, key: str, kind: str) -> None:
        self.kind = kind
        super().__init__([ConfigProblem(str(path), None, key, f"is {kind}, not a regular file")])


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, for "is {kind}, not a regular file"."""
    return _KINDS.get(stat.S_IFMT(mode), "no file")


def file_status(path: Path, key: str = "") -> os.stat_result:
    """``os.stat(path)`` (through symlinks), ConfigError naming ``path`` when it cannot be looked at;
    ``key`` is the setting that names it."""
    try:
        return os.stat(path)
    except OSError as exc:
        problem = ConfigProblem(str(path), None, key, f"cannot read: {exc.strerror or exc}")
        raise ConfigError([problem]) from exc


def refuse_irregular(path: Path, key: str = "") -> None:
    """NotRegularFileError naming ``path`` and what it is when it is no regular file (through
    symlinks), ConfigError when it cannot be looked at; ``key`` is the setting that names it."""
    mode = file_status(path, key).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(path, key, file_kind(mode))


class BoundedRead(Generic[Result]):
    """Reads of one file, each through ``read`` on a daemon thread named ``name``, waited for
    ``wait_s`` at most. ``key`` is the setting that names the file ("" for the config itself), for
    the problems raised. ``read`` should call ``refuse_irregular`` first (tests pass one that does
    not, to block on a FIFO)."""

    def __init__(
        self, read: Callable[[Path], Result], key: str, *, name: str, wait_s: float = READ_WAIT_S
    ) -> None:
        self._read = read
        self._key = key
        self._name = name
        self._wait_s = wait_s
        self._hanging: _Read[Any] | None = None
        self._starting = threading.Lock()
        """Reloads and console requests reach the file from threads of their own."""

    def read(self, path: Path) -> Result:
        """``read(path)``, for a thread that may wait ``wait_s``. HungFileError (a ConfigError) for a
        read that does not finish in time, or while an earlier one still hangs; what ``read`` raises
        otherwise."""
        return self.run(path, self._read, RELOAD_READ)

    def run(self, path: Path, action: Callable[[Path], Other], use: FileUse) -> Other:
        """``action(path)`` (another use of the same file: a check, a write) bounded as ``read`` is,
        and counted with its reads: none is started while any of them hangs; ``use`` names it in
        the errors."""
        started = self._start(path, action, use)
        if not started.finished.wait(self._wait_s):
            raise self._left_behind(started, path)
        return started.outcome()

    def _start(self, path: Path, action: Callable[[Path], Other], use: FileUse) -> _Read[Other]:
        with self._starting:
            hanging = self._hanging
            if hanging is not None:
                if not hanging.finished.is_set():
                    waited = time.monotonic() - hanging.started
                    raise self._hangs(
                        path, use, f"{hanging.use.started_by} {waited:.0f} s ago has not finished"
                    )
                self._hanging = None
            return _Read(action, path, self._name, use)

    def _left_behind(self, started: _Read[Any], path: Path) -> HungFileError:
        with self._starting:
            self._hanging = started
        use = started.use
        return self._hangs(path, use, f"{use.doing} did not finish within {self._wait_s:g} s")

    def _hangs(self, path: Path, use: FileUse, what: str) -> HungFileError:
        problem = f"cannot {use.verb}: {what} (a hung network mount?)"
        return HungFileError([ConfigProblem(str(path), None, self._key, problem)])


class _Read(Generic[Result]):
    """One read, started on its daemon thread as it is made."""

    def __init__(self, read: Callable[[Path], Result], path: Path, name: str, use: FileUse) -> None:
        self.started = time.monotonic()
        self.use = use
        self.finished = threading.Event()
        self._outcome: Future[Result] = Future()
        self._outcome.set_running_or_notify_cancel()
        threading.Thread(target=self._run, args=(read, path), name=name, daemon=True).start()

    def outcome(self) -> Result:
        """The read's result, or its exception raised here; only once ``finished`` is set."""
        return self._outcome.result(timeout=0)

    def _run(self, read: Callable[[Path], Result], path: Path) -> None:
        try:
            self._outcome.set_result(read(path))
        except Exception as exc:  # raised where the reload waits (``outcome``)
            self._outcome.set_exception(exc)
        finally:
            self.finished.set()
