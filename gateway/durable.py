"""Files that survive a power cut whole: fsync by path, and a written file given its name atomically."""

from __future__ import annotations

import errno
import os
from pathlib import Path

NO_HARD_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS)
"""What ``link`` raises on a file system without hard links (FAT on an SD card)."""


def fsync_path(path: Path | str) -> None:
    """fsync the file or directory at ``path``: for a directory, the names made or renamed in it."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def place_new(temporary: Path, path: Path) -> None:
    """Give the written file at ``temporary`` the name ``path``; FileExistsError, and nothing changed,
    when something holds that name already. A hard link (``temporary`` stays, for the caller to
    remove): of two processes placing at once, one wins. Without hard links only a rename is atomic;
    it replaces a file that appeared between the look and the rename."""
    try:
        os.link(temporary, path)
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from exc
        os.rename(temporary, path)
