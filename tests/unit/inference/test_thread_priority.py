"""at_worker_priority: what is made on its thread, and the threads that start there, run as the
inference workers do."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from gateway.inference.thread_priority import at_worker_priority

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")


def own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux_only
@pytest.mark.parametrize("increment", [0, 6, 40])
def test_threads_started_while_making_inherit_the_workers_priority(increment: int) -> None:
    caller = own_nice()
    seen: dict[str, tuple[int, int]] = {}

    def make() -> str:
        def record() -> None:
            seen["started"] = (own_nice(), os.sched_getscheduler(0))

        started = threading.Thread(target=record)
        started.start()
        started.join()
        seen["maker"] = (own_nice(), os.sched_getscheduler(0))
        return "made"

    assert at_worker_priority(make, increment) == "made"
    expected = (min(19, caller + increment), os.SCHED_BATCH)
    assert seen == {"maker": expected, "started": expected}
    assert own_nice() == caller
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_what_making_raises_is_raised_to_the_caller() -> None:
    def make() -> None:
        raise MemoryError("no room for the session")

    with pytest.raises(MemoryError, match="no room for the session"):
        at_worker_priority(make, 10)
    assert not [thread for thread in threading.enumerate() if thread.name == "inference-session-load"]
