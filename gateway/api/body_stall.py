"""A request body that stopped arriving: looked at every ``BODY_STALL_S``, given up on (408) when
a look finds no byte more than the last one did. One watch serves the front door's bodies and
aiohttp's, which aiohttp itself would wait for as long as the connection stays open."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

BODY_STALL_S = 10.0
"""Between two looks, so a body is given up on 10 to 20 s after its last byte (nginx's
client_body_timeout, shorter: an inference body is sent at once)."""


class StallWatch:
    """Calls ``stalled`` once when ``received()``, the body's bytes so far, has not grown between
    two looks; ``stop`` when the body is whole or its connection gone. Cancelled, its timer keeps
    nothing of the request alive."""

    def __init__(self, received: Callable[[], int], stalled: Callable[[], None]) -> None:
        self._received = received
        self._stalled = stalled
        self._seen = received()
        self._timer = asyncio.get_running_loop().call_later(BODY_STALL_S, self._look)

    def stop(self) -> None:
        self._timer.cancel()

    def _look(self) -> None:
        received = self._received()
        if received > self._seen:
            self._seen = received
            self._timer = asyncio.get_running_loop().call_later(BODY_STALL_S, self._look)
            return
        self._stalled()
