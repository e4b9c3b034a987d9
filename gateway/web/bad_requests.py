"""aiohttp's log of the malformed requests it refuses, cut to one line a minute.

aiohttp logs each at ERROR with a traceback (all but a first request with a bad method), so any
client, a port scanner or a TLS hello on the plain port, can fill the journal a few lines per
request. The answer is aiohttp's own; the log says how many there were and the latest one's peer
(where aiohttp gives it: 3.12 on) and reason, once a minute at most.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"
INTERVAL_S = 60.0


class BadRequestSummary(logging.Filter):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._next_at = 0.0
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        self._held += 1
        now = self._clock()
        if now < self._next_at:
            return False
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        lines = [line.strip() for line in str(error.message).splitlines() if line.strip()]
        reason = " ".join(lines)[:200] or type(error).__name__
        record.msg = "%d malformed HTTP request(s) refused since the last such line; the latest from %s: %s"
        record.args = (self._held, peer, reason)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        self._held = 0
        self._next_at = now + INTERVAL_S
        return True


def summarize_bad_requests() -> None:
    """Install the summary on aiohttp's server logger, once per process."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(existing, BadRequestSummary) for existing in logger.filters):
        logger.addFilter(BadRequestSummary())
