"""Messages on their way from paho's network thread to the ``audit-store`` thread.

The queue is bounded by ``max_batch``, which is also the MQTT v5 receive maximum, so the broker
never has more unacked alerts in flight to the subscriber than the queue holds; a full queue (only
if the broker ignores the receive maximum) makes the network thread wait, counted. A batch holds
up to ``max_batch`` deliveries of one keys epoch (``gateway.audit.keys_switch``): the first delivery
of a newer epoch is carried over to start the next batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from gateway.audit.records import ReceivedMessage

__all__ = ["Deliveries", "Delivery"]


@dataclass(frozen=True, slots=True)
class Delivery:
    message: ReceivedMessage
    mid: int
    qos: int
    generation: int
    keys_epoch: int
    """The keys reload in force when it arrived (0: the keys the store was opened with)."""


class Deliveries:
    """``put`` on the network thread (and the status connection's), ``next_batch`` on the store thread."""

    def __init__(self, max_batch: int, poll_s: float, on_full: Callable[[], None]) -> None:
        self._queue: queue.Queue[Delivery] = queue.Queue(maxsize=max_batch)
        self._max_batch = max_batch
        self._poll_s = poll_s
        self._on_full = on_full
        self._carried: Delivery | None = None
        """The first delivery of a new keys epoch, taken while a batch of the previous one filled."""

    def empty(self) -> bool:
        return self._queue.empty()

    def put(self, delivery: Delivery, stop: threading.Event) -> None:
        """Wait for room; give up once ``stop`` is set (the delivery is then never acknowledged, so
        the broker delivers it again to the next session)."""
        while not stop.is_set():
            try:
                self._queue.put(delivery, timeout=self._poll_s)
                return
            except queue.Full:
                # Only if the broker ignores our receive maximum; waiting is the backpressure.
                self._on_full()

    def next_batch(self) -> list[Delivery]:
        """Up to ``max_batch`` deliveries, all of one keys epoch; empty after ``poll_s`` of none."""
        if self._carried is not None:
            batch, self._carried = [self._carried], None
        else:
            try:
                batch = [self._queue.get(timeout=self._poll_s)]
            except queue.Empty:
                return []
        while len(batch) < self._max_batch:
            try:
                delivery = self._queue.get_nowait()
            except queue.Empty:
                break
            if delivery.keys_epoch != batch[0].keys_epoch:
                self._carried = delivery
                break
            batch.append(delivery)
        return batch
