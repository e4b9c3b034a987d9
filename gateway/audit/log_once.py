"""An error met on every poll while its cause lasts (the database down), logged once per cause.

The store thread retries what failed on its next poll, a few times a second: logging each attempt
would bury the journal in one line. ``failed`` logs when the cause is new (the first failure, or a
different error than the last one), ``succeeded`` forgets it, so the next failure is logged again.
"""

from __future__ import annotations

import logging

__all__ = ["OncePerCause"]


class OncePerCause:
    """``what`` is the message's start, a ``%s``-free description of what failed."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._logger = logger
        self._what = what
        self._cause: str | None = None

    def failed(self, error: Exception) -> None:
        cause = str(error)
        if cause != self._cause:
            self._logger.error("%s: %s", self._what, cause)
        self._cause = cause

    def succeeded(self) -> None:
        self._cause = None
