"""The priority inference runs at: the workers' threads and the threads ONNX Runtime makes for them.

On Linux the workers run under ``SCHED_BATCH``: the same share of the CPU as any other thread, but a
worker that wakes never preempts a running thread. The event loop then answers a refusal or hands
a request to the queue without waiting a scheduler tick behind inference it does not need: with
the workers saturating both cores of a 2-core box, refusals slower than 2 ms fell from 12 to 4 in
about 11,000. A running worker still kept a waking event loop off its core for up to a scheduler tick
(4 ms at 250 Hz) in about 3 wake-ups of 100 under a 3x open loop, so the workers also add
``inference.worker_nice`` to their nice value: the threads that answer requests, read cameras and
deliver alerts need a few percent of a core and now get it first, and the workers lose nothing while
those are idle (bench/worker_priority.py). Where the kernel groups a service's threads (autogroup, or
a cgroup with the CPU controller), nice values weigh them against each other only, not against other
services.

A new thread starts with its creator's policy and nice value, so a session whose intra-op threads
run inference beside the workers (``intra_op_threads`` other than 1) is created on a thread that
already has the workers' priority (``at_worker_priority``).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def batch_scheduling(thread: threading.Thread) -> bool:
    """Move a started thread to ``SCHED_BATCH``; False where the platform or a seccomp filter
    refuses (the systemd unit allows ``sched_setscheduler`` for this)."""
    if not hasattr(os, "SCHED_BATCH") or thread.native_id is None:
        return False
    try:
        os.sched_setscheduler(thread.native_id, os.SCHED_BATCH, os.sched_param(0))
    except OSError:
        return False
    return True


def lower_priority(thread: threading.Thread, increment: int) -> bool:
    """Add ``increment`` to a started thread's nice value; False where the platform or a seccomp
    filter refuses (the systemd unit allows ``setpriority`` for this). Linux only: there
    ``setpriority`` on a thread id changes that thread alone, elsewhere it names a process."""
    if sys.platform != "linux" or thread.native_id is None:
        return False
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread.native_id)
        os.setpriority(os.PRIO_PROCESS, thread.native_id, current + increment)  # clamped at 19
    except OSError:
        return False
    return True


def give_worker_priority(thread: threading.Thread, nice_increment: int) -> list[str]:
    """Give a started thread the workers' priority: ``SCHED_BATCH``, and ``nice_increment`` added to
    its nice value; the calls the platform or a seccomp filter refused, by name."""
    refused = [] if batch_scheduling(thread) else ["SCHED_BATCH"]
    if nice_increment and not lower_priority(thread, nice_increment):
        refused.append("setpriority")
    return refused


def at_worker_priority(make: Callable[[], Result], nice_increment: int) -> Result:
    """``make()`` called on a thread of its own that runs as the workers do, so that the threads it
    starts inherit their priority; its result is returned and what it raises is raised here. Where
    the platform refuses either setting, ``make`` runs all the same (the workers log the refusal)."""
    outcome: list[Result] = []
    failure: list[BaseException] = []

    def run() -> None:
        give_worker_priority(threading.current_thread(), nice_increment)
        try:
            outcome.append(make())
        except BaseException as exc:  # handed to the caller's thread, which raises it
            failure.append(exc)

    thread = threading.Thread(target=run, name="inference-session-load", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
