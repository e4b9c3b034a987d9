"""Reading, on a reload, a file that may still be being written (the config, the tokens file): the
text a reload applies is one that two reads ``SETTLE_S`` apart agree on.

Tools that write a file in place truncate it first, then write it: a shell's ``>`` (``cat >``),
``cp``, nano, vim with ``backupcopy=yes``, ``scp`` and ``rsync --inplace``, ansible's ``copy`` with
``unsafe_writes``. For a moment the file is empty (refused: ``gateway.config.refuse_empty``, a
tokens file that holds none), then cut short, which may parse: a config missing its last cameras or
rules, a tokens file missing tokens, which a reload would then revoke. A SIGHUP in that moment
(``systemctl reload`` run by the same tool right after its copy) applied what it found. So a reload
reads the file, waits ``SETTLE_S`` and reads it again, until two reads in a row agree on its size,
modification time and text; a file still changing after ``limit_s`` (the reload's wait for one
read, ``READ_WAIT_S``) is refused, naming it; a read under way then ends first, within its own
bound, so the whole takes twice ``limit_s`` at most. Each read is bounded as before
(``bounded_read``), so a read that hangs ends the wait.

``SETTLE_S`` is the trade-off. A settled file costs one such wait per reload (SIGHUP to the config
applied on the real ``serve``, a quiet 2-core machine: 3 ms before, 257 ms now), and SIGTERM waits
behind a reload. The tools above write a config (kilobytes, some 100 KB at most) in one go,
microseconds to milliseconds between their writes; a copy over the network pauses for its round
trips, under a quarter of a second on most links. A writer that pauses for longer (a stalled link,
a person typing into ``cat >``) cannot be told from one that has finished by any wait short enough
for a reload: what it has written so far is read as the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from gateway.config.bounded_read import READ_WAIT_S, BoundedRead, FileUse, file_status
from gateway.errors import ConfigError, ConfigProblem

Outcome = TypeVar("Outcome")

SETTLE_S = 0.25
"""How long the file must stay the same between two reads for a reload to apply it."""


@dataclass(frozen=True, slots=True)
class Look:
    """One read of the file: its text, then its size and modification time."""

    text: str = field(repr=False)  # a tokens file's text is its tokens
    size: int
    modified_ns: int


def look(read: Callable[[Path], str], path: Path, *, key: str = "") -> Look:
    """``read(path)``, then the file's size and modification time; ConfigError naming ``path`` as
    ``read`` raises it, or for a file gone since. ``key`` is the setting that names the file ("" for
    the config itself)."""
    text = read(path)
    status = file_status(path, key)
    return Look(text, status.st_size, status.st_mtime_ns)


def settled_text(
    path: Path, read: Callable[[Path], Look], *, settle_s: float, limit_s: float, key: str = ""
) -> str:
    """The text of ``path`` once two looks at it (``read``) ``settle_s`` apart agree: one wait for a
    file that is not being written. ConfigError naming ``path`` (and ``key``, the setting that names
    it) when it is still changing after ``limit_s``; what ``read`` raises, at once."""
    deadline = time.monotonic() + limit_s
    seen = read(path)
    while True:
        time.sleep(settle_s)
        now = read(path)
        if now == seen:
            return now.text
        if time.monotonic() + settle_s > deadline:
            problem = f"cannot read: it did not stop changing within {limit_s:g} s (still being written?)"
            raise ConfigError([ConfigProblem(str(path), None, key, problem)])
        seen = now


class SettledFile:
    """One file a reload reads: each look at it through ``read`` bounded by ``wait_s`` on a thread
    named ``name`` (``BoundedRead``), until two looks ``settle_s`` apart agree (``settled_text``),
    for ``wait_s`` at most. ``key`` is the setting that names the file ("" for the config itself)."""

    def __init__(
        self,
        read: Callable[[Path], str],
        key: str,
        *,
        name: str,
        wait_s: float = READ_WAIT_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        self._looks = BoundedRead(partial(look, read, key=key), key, name=name, wait_s=wait_s)
        self._key = key
        self._wait_s = wait_s
        self._settle_s = settle_s

    def text(self, path: Path) -> str:
        """The text of ``path`` once settled; ConfigError naming it (HungFileError for a read that
        did not finish in time) and what ``read`` raises."""
        return settled_text(
            path, self._looks.read, settle_s=self._settle_s, limit_s=self._wait_s, key=self._key
        )

    def run(self, path: Path, action: Callable[[Path], Outcome], use: FileUse) -> Outcome:
        """Another use of the file (a check, a write) bounded and counted with the reads
        (``BoundedRead.run``)."""
        return self._looks.run(path, action, use)
