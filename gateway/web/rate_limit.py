"""Per-client token buckets: the API's rate limit and the login forms' limit on guessing.

Each bucket refills at ``rate_per_s`` up to ``burst`` tokens; a request takes one token or is told
how long until the next. The table of buckets is bounded (least recently seen clients are forgotten
first), so a flood of new addresses costs memory once, not forever; a forgotten client starts again
with a full bucket, which is the same treatment a new client gets. Used on one event loop: no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_at: float


class TokenBuckets:
    def __init__(self, rate_per_s: float, burst: int, max_clients: int = 4096) -> None:
        if rate_per_s <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate_per_s must be > 0, burst and max_clients >= 1")
        self._rate = rate_per_s
        self._burst = float(burst)
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """Take one token for ``client`` at monotonic time ``now``: 0.0 when admitted, otherwise the
        seconds until a token will be there (the request is not admitted and takes nothing)."""
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._buckets[client] = bucket
            if len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            elapsed = now - bucket.updated_at
            if elapsed > 0:
                bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
                bucket.updated_at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def __len__(self) -> int:
        return len(self._buckets)
