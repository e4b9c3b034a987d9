"""The process's open-files limit, raised to its hard limit when ``serve`` starts.

systemd starts services with a soft RLIMIT_NOFILE of 1024, so that programs that wait with
``select()`` never meet a descriptor numbered past 1023, and a hard limit of 524288 (since v240) for
the programs that can have more: those raise their soft limit themselves, which systemd.exec(5)
recommends over setting ``LimitNOFILE=`` (as nginx's ``worker_rlimit_nofile``, Go's runtime and QEMU
do). The gateway waits with epoll (the event loop) and its connections are capped below 1024 (the
API's ``connection_limit.py``), so paho-mqtt's ``select()`` keeps working while the cameras, model
files and outbox get the rest."""

from __future__ import annotations

import errno
import logging
import os
import resource

logger = logging.getLogger(__name__)


def raise_to_hard_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force after. A
    refusal (a seccomp filter without ``prlimit64``) is logged and leaves the limit as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        logger.debug("open-files limit: %s (the hard limit)", _shown(soft))
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as exc:
        logger.warning("open-files limit: %s, not raised to the hard limit %s: %s", soft, _shown(hard), exc)
        return soft
    logger.info("open-files limit: raised from %s to the hard limit %s", soft, _shown(hard))
    return hard


def _shown(limit: int) -> str:
    return "unlimited" if limit == resource.RLIM_INFINITY else str(limit)


def exhaustion(exc: BaseException) -> str | None:
    """What ``exc`` is when it comes of running out of file descriptors, in words an operator acts on
    (``too many open files (open-files limit 1024)``); None when it does not. An error that carries
    no errno (SQLite's ``unable to open database file``) is judged by opening a descriptor now."""
    code = exc.errno if isinstance(exc, OSError) else _open_fails()
    if code == errno.EMFILE:
        return (
            f"too many open files (open-files limit {_shown(resource.getrlimit(resource.RLIMIT_NOFILE)[0])})"
        )
    if code == errno.ENFILE:
        return "too many open files in the whole system (the kernel's fs.file-max)"
    return None


def _open_fails() -> int | None:
    try:
        os.close(os.open(os.devnull, os.O_RDONLY))
    except OSError as exc:
        return exc.errno
    return None
