"""The process's open-files limit, raised to its hard limit when ``serve`` starts.

systemd starts services with a soft RLIMIT_NOFILE of 1024, so that programs that wait with
``select()`` never meet a descriptor numbered past 1023, and a hard limit of 524288 (since v240) for
the programs that can have more: those raise their soft limit themselves, which systemd.exec(5)
recommends over setting ``LimitNOFILE=`` (as nginx's ``worker_rlimit_nofile``, Go's runtime and QEMU
do). The gateway waits with epoll (the event loop) and its connections are capped below 1024 (the
API's ``connection_limit.py``), so paho-mqtt's ``select()`` keeps working while the cameras, model
files and outbox get the rest."""

from __future__ import annotations

import logging
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
