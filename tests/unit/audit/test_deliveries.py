"""Deliveries reach the store thread in batches of one keys epoch, in arrival order."""

from __future__ import annotations

import threading

from gateway.audit.deliveries import Deliveries, Delivery
from gateway.audit.records import ReceivedMessage


def delivery(mid: int, epoch: int) -> Delivery:
    return Delivery(ReceivedMessage("edge/box/alerts", b"{}", 0.0), mid, 1, 1, epoch)


def test_a_batch_holds_one_epoch_and_the_first_of_the_next_starts_the_next_batch() -> None:
    full: list[None] = []
    deliveries = Deliveries(max_batch=4, poll_s=0.01, on_full=lambda: full.append(None))
    stop = threading.Event()
    for mid, epoch in [(1, 0), (2, 0), (3, 1), (4, 1)]:
        deliveries.put(delivery(mid, epoch), stop)

    assert [item.mid for item in deliveries.next_batch()] == [1, 2]
    assert [item.mid for item in deliveries.next_batch()] == [3, 4]
    assert deliveries.next_batch() == []
    assert deliveries.empty()
    assert full == []


def test_a_batch_is_at_most_max_batch_and_a_full_queue_is_counted_until_stop() -> None:
    stop = threading.Event()
    full: list[None] = []

    def on_full() -> None:
        full.append(None)
        stop.set()  # the subscriber stopping while paho's thread waits for room

    deliveries = Deliveries(max_batch=2, poll_s=0.01, on_full=on_full)
    deliveries.put(delivery(1, 0), stop)
    deliveries.put(delivery(2, 0), stop)

    # A third waits for room, counted, and is given up once stopping (never acknowledged)
    deliveries.put(delivery(3, 0), stop)
    assert full == [None]
    assert [item.mid for item in deliveries.next_batch()] == [1, 2]
    assert deliveries.empty()
