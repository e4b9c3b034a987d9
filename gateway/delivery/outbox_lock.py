"""One gateway per outbox: an exclusive lock on ``state_dir/outbox.lock`` held while it is open.

Two gateways on one state_dir (a second ``serve`` started by hand next to the systemd unit, two
units sharing a directory) would each number alerts from the seq they read at start: the second
one's commits then collide with the first's (``UNIQUE constraint failed``) and are retried forever,
or, worse, both publish chains that the audit side cannot reconcile. SQLite's own locks do not
prevent this (WAL admits many writers, one at a time), so the outbox takes an ``flock`` first.

The kernel drops the lock when the process dies (SIGKILL, power loss), so a crash never leaves a
stale lock. Opening waits up to the same deadline as SQLite's busy timeout, so a gateway that is
still closing the outbox while its successor starts is waited for rather than refused. The file
holds the holder's pid, for the error message only.

The lock file is truncated and written, so only a regular file is taken: it is opened without
following a symbolic link (one there would have the pid written over whatever file it points to,
as root when the gateway runs as root), and a FIFO or device found there is refused. One the gateway
creates is 0600 whatever the umask (``gateway.private_files``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from pathlib import Path

from gateway.config.bounded_read import file_kind
from gateway.errors import OutboxError
from gateway.private_files import PRIVATE_FILE_MODE

LOCK_NAME = "outbox.lock"
_POLL_S = 0.01


class OutboxLock:
    """Held from ``acquire`` until ``release`` (or the process ends)."""

    def __init__(self, descriptor: int, path: Path) -> None:
        self._descriptor: int | None = descriptor
        self.path = path

    @classmethod
    def acquire(cls, state_dir: Path, database: Path, timeout_s: float) -> OutboxLock:
        path = state_dir / LOCK_NAME
        descriptor = _open_regular(path, database)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(descriptor)
                    os.close(descriptor)
                    raise OutboxError(
                        f"outbox {database}: in use by another gateway process{holder} (lock {path} held "
                        f"for {timeout_s:g} s); two gateways must not share one state_dir"
                    ) from None
                time.sleep(_POLL_S)
            except OSError as exc:
                os.close(descriptor)
                raise OutboxError(f"outbox {database}: cannot lock {path}: {exc}") from exc
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError:
            pass  # the pid is only for other processes' error messages
        return cls(descriptor, path)

    def release(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)  # closing the only descriptor drops the flock


def _open_regular(path: Path, database: Path) -> int:
    # Non-blocking: what is no regular file is refused below, and opening one must not wait first.
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    created = True
    try:
        try:
            descriptor = os.open(path, flags | os.O_EXCL, PRIVATE_FILE_MODE)
        except FileExistsError:
            created = False
            descriptor = os.open(path, flags, PRIVATE_FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutboxError(_irregular(database, path, file_kind(stat.S_IFLNK))) from exc
        raise OutboxError(f"outbox {database}: cannot open its lock file {path}: {exc}") from exc
    try:
        mode = os.fstat(descriptor).st_mode
    except OSError as exc:
        os.close(descriptor)
        raise OutboxError(f"outbox {database}: cannot open its lock file {path}: {exc}") from exc
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise OutboxError(_irregular(database, path, file_kind(mode)))
    if created:
        # 0600 less the umask: under umask 0777 a file the next start could not open. One that was
        # there keeps its mode; a symbolic link there failed the exclusive open and then the open below.
        with contextlib.suppress(OSError):  # the lock is held all the same; the next start says why not
            os.fchmod(descriptor, PRIVATE_FILE_MODE)
    return descriptor


def _irregular(database: Path, path: Path, kind: str) -> str:
    return f"outbox {database}: its lock file {path} is {kind}, not a regular file: remove it"


def _holder(descriptor: int) -> str:
    try:
        text = os.pread(descriptor, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {text})" if text.isdigit() else ""
