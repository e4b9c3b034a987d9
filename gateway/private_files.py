"""Folders and files only the gateway's user may enter, read or write, whatever the process umask.

The state directory holds the outbox (every alert, with its camera picture), the signing key and the
outbox's lock. Made with the modes the umask leaves, they followed the shell that started the gateway:
under ``umask 0`` a folder 0777 and an outbox 0644, so that any local user could replace the key or the
outbox, or read the pictures; under ``umask 022`` (``make run``, a start by hand) an outbox and its
pictures readable by all; under ``umask 777`` a folder 000 that the gateway itself could not then
enter. systemd's ``UMask=0077`` hid this under the unit only.

So what the gateway makes there is given its mode: created with it, which a umask can only take bits
from (the file is never more open than asked, even for an instant), then set to it, to give back the
bits the umask took. What exists already is left as it is: a folder the operator made has the mode
they chose, and ``open_to_others`` says when that mode lets other users in.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = [
    "PRIVATE_DIRECTORY_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "make_private_directory",
    "open_to_others",
]

PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_directory(path: Path) -> None:
    """The folder ``path``, made (0700) with the folders missing above it (0700 too: a folder made for
    the gateway is the gateway's) when it is not there; one that is there is left as it is.
    ``FileExistsError`` when ``path`` or a folder above it is a file, or another OSError."""
    parent = path.parent
    if parent != path and not os.path.isdir(parent):
        make_private_directory(parent)
    try:
        os.mkdir(path, PRIVATE_DIRECTORY_MODE)
    except FileExistsError:
        if os.path.isdir(path):
            return  # there already, or made meanwhile by another process: its mode is not ours to set
        raise
    os.chmod(path, PRIVATE_DIRECTORY_MODE)


def create_private_file(path: Path) -> None:
    """An empty file at ``path`` (0600), where nothing is (``FileExistsError`` otherwise, a symbolic
    link included): for a program that opens the file by name and would create it with the umask's
    mode (SQLite)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
    finally:
        os.close(descriptor)


def open_to_others(path: Path, *, directory: bool) -> str | None:
    """How other users (neither the owner nor the file's group) may use the file at ``path``, in
    words with its mode (``readable and writable by other users (mode 0o666)``), or None when they may
    not (or it cannot be looked at). For a folder only writing counts: what is in it is theirs to
    replace; reading its names gives away nothing its files' own modes do not."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    granted = [] if directory or not mode & stat.S_IROTH else ["readable"]
    if mode & stat.S_IWOTH:
        granted.append("writable")
    if not granted:
        return None
    return f"{' and '.join(granted)} by other users (mode {mode:#o})"
