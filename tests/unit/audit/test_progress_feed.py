"""``ProgressFeed``: the devices a stored batch touched reach the replay scheduler even when the read
of their progress fails at first (the database going away right after the batch committed); the
failure is the caller's to report, and the devices are read again next time."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from gateway.audit.records import DeviceProgress
from gateway.audit.replay import ProgressFeed, ReplayScheduler
from gateway.errors import AuditError


class Reads:
    """What the feed asked for, failing while ``failing`` is set."""

    def __init__(self) -> None:
        self.asked: list[frozenset[str] | None] = []
        self.failing = False

    def __call__(self, devices: Collection[str] | None) -> list[DeviceProgress]:
        self.asked.append(None if devices is None else frozenset(devices))
        if self.failing:
            raise AuditError("audit store read failed: the database is restarting")
        return [DeviceProgress(device, 1, 3) for device in sorted(devices or ["box-a", "box-b"])]


def test_every_device_first_then_those_touched_until_a_read_succeeds() -> None:
    scheduler = ReplayScheduler(replay_after_s=5.0)
    feed = ProgressFeed(scheduler)
    reads = Reads()

    # Given a start whose read of every device fails
    reads.failing = True
    with pytest.raises(AuditError):
        feed.feed(reads, now=0.0)
    # When a batch touches box-c and the read works again, then every device is read, box-c too
    feed.touched(["box-c"])
    reads.failing = False
    feed.feed(reads, now=1.0)
    feed.feed(reads, now=1.5)
    assert reads.asked == [None, None]
    assert scheduler.open_gaps == 2  # box-a and box-b: the read of every device answered those

    # And a batch's devices are read again after a failure, and only until read once
    feed.touched(["box-c"])
    reads.failing = True
    with pytest.raises(AuditError):
        feed.feed(reads, now=2.0)
    reads.failing = False
    feed.feed(reads, now=3.0)
    feed.feed(reads, now=4.0)
    assert reads.asked[2:] == [frozenset({"box-c"}), frozenset({"box-c"})]
    assert scheduler.open_gaps == 3
