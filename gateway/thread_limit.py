"""A thread the kernel would not start, told in one line with its likely cause.

``threading.Thread.start`` raises ``RuntimeError("can't start new thread")`` when ``clone`` fails: the
user's task limit is reached (RLIMIT_NPROC, counted over every process of the user; systemd's
``TasksMax=`` for the unit), or the address space left cannot hold the thread's stack (RLIMIT_AS).
Executors start a thread when work is handed to them and none is idle, so the error comes from
wherever that happens. Unrecognised, it was two chained tracebacks at start (the start's, then the
event loop's own on closing, which starts a thread to shut its executor down) and a 500 "internal
error (RuntimeError)" for each API request while the limit held.
"""

from __future__ import annotations

import threading
from types import TracebackType

__all__ = ["CAUSE", "thread_not_started"]

CAUSE = "the task or memory limit is reached (RLIMIT_NPROC / RLIMIT_AS, systemd TasksMax)"
_REFUSED = "can't start new thread"
"""CPython's message for a thread ``clone`` refused (3.10 to 3.13)."""


def thread_not_started(exc: BaseException) -> str | None:
    """``cannot start a thread (NAME): CAUSE`` when ``exc``, or an exception it was raised while
    handling, is a thread start refused (the first such, where it began: a refusal tends to bring on
    more on the way out); None when neither is."""
    refused: RuntimeError | None = None
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RuntimeError) and str(seen) == _REFUSED:
            refused = seen
        seen = seen.__context__
    if refused is None:
        return None
    name = _thread_name(refused.__traceback__)
    return f"cannot start a thread{f' ({name})' if name else ''}: {CAUSE}"


def _thread_name(traceback: TracebackType | None) -> str | None:
    """The name of the thread whose ``Thread.start`` is in ``traceback``, if one is."""
    name = None
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code is threading.Thread.start.__code__:
            thread = frame.f_locals.get("self")
            if isinstance(thread, threading.Thread):
                name = thread.name
        traceback = traceback.tb_next
    return name
