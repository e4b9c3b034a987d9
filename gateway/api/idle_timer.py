"""The front door's keep-alive: a connection only the front door has served closes after
``IDLE_TIMEOUT_S`` without a request (aiohttp's keep-alive timeout, which takes over once aiohttp
has the connection)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

IDLE_TIMEOUT_S = 75.0


class IdleTimer:
    """Calls ``close`` once ``timeout_s`` passed since the last ``restart`` while not ``busy``."""

    def __init__(
        self, close: Callable[[], None], busy: Callable[[], bool], timeout_s: float = IDLE_TIMEOUT_S
    ) -> None:
        self._close = close
        self._busy = busy
        self._timeout_s = timeout_s
        self._timer: asyncio.TimerHandle | None = None
        self._active_at = 0.0

    def restart(self) -> None:
        """A request came: the idle time counts from now."""
        # One timer per connection, moved on only when it fires: a request costs a clock read, not a
        # cancelled timer and a new one.
        loop = asyncio.get_running_loop()
        self._active_at = loop.time()
        if self._timer is None:
            self._timer = loop.call_at(self._active_at + self._timeout_s, self._check)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = self._active_at + self._timeout_s
        if loop.time() >= deadline and not self._busy():
            self._timer = None
            self._close()
        else:
            self._timer = loop.call_at(max(deadline, loop.time() + 1.0), self._check)
