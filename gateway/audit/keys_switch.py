"""A keys file reloaded while the audit subscriber runs: which messages the new keys apply to, and
what the store thread does when it takes them up.

``replace`` (any thread: ``audit serve`` on SIGHUP) starts a new keys epoch. The subscriber stamps
each message with the epoch in force when it arrived and never puts two epochs in one batch, and
its store thread calls ``use`` with a batch's epoch before storing it: so the new keys apply to the
messages that arrive after the reload, and a batch being retried (the database down) keeps the keys
it arrived under, so that a key rotated during an outage does not turn alerts signed before it into
bad signatures. Taking up new keys, the store thread stops asking a removed device for replays (all
it would replay is rejected), has every device's progress read again (one put back may have gaps),
and drops the images held for devices no longer keyed (``AuditStore.drop_unkeyed_held``: its alerts
are rejected, so none would ever claim them), as it does once at start; a device another writer
holds meanwhile is tried again after each batch until its images are dropped.
"""

from __future__ import annotations

import logging
import threading

from gateway.audit.keys_file import SigningKeys
from gateway.audit.log_once import OncePerCause
from gateway.audit.replay import ProgressFeed, ReplayScheduler
from gateway.audit.store import AuditStore
from gateway.audit.subscriber_metrics import SubscriberMetrics
from gateway.errors import AuditError

logger = logging.getLogger(__name__)


class KeysSwitch:
    """The keys epochs, and their effects on the store thread's side (``use``, ``drop_unkeyed_held``)."""

    def __init__(
        self,
        store: AuditStore,
        scheduler: ReplayScheduler,
        progress: ProgressFeed,
        metrics: SubscriberMetrics,
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._progress = progress
        self._metrics = metrics
        self._lock = threading.Lock()
        self._epoch = 0
        self._waiting: dict[int, SigningKeys] = {}
        """Keys given to ``replace`` that the store thread has yet to take up, by epoch."""
        self._store_epoch = 0
        self._drop_unkeyed = True
        self._drop_failures = OncePerCause(
            logger, "audit: cannot drop the images held for unkeyed devices (tried again)"
        )

    @property
    def epoch(self) -> int:
        """The epoch of a message arriving now (0: the keys the store was opened with)."""
        return self._epoch

    def replace(self, keys: SigningKeys) -> None:
        """Check the messages that arrive from now on with ``keys`` (any thread)."""
        with self._lock:
            self._epoch += 1
            self._waiting[self._epoch] = dict(keys)

    # The store thread.

    def use(self, epoch: int) -> None:
        """Switch the store to the keys of ``epoch`` if it is newer than the store's."""
        if epoch <= self._store_epoch:
            return
        with self._lock:
            keys = self._waiting[epoch]
            for older in [known for known in self._waiting if known <= epoch]:
                del self._waiting[older]
        removed = self._store.keyed_devices - keys.keys()
        self._store.replace_keys(keys)
        self._store_epoch = epoch
        self._scheduler.forget(removed)
        self._metrics.open_gaps.set(self._scheduler.open_gaps)
        self._progress.read_all()
        self._drop_unkeyed = True

    def drop_unkeyed_held(self) -> None:
        """Once at start and after each switch (until it succeeds): drop the images held for devices
        with no key, and count them. A try that left a device another writer held is not done: its
        images would otherwise stay until the next reload or restart."""
        if not self._drop_unkeyed:
            return
        try:
            done = self._store.drop_unkeyed_held()
        except AuditError as exc:
            self._drop_failures.failed(exc)
            return
        self._drop_unkeyed = not done
        self._drop_failures.succeeded()
        self._metrics.count_drops(self._store.take_drops())
