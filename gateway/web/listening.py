"""Closing a listening socket so that no connection it accepted is left open."""

from __future__ import annotations

import asyncio

# asyncio accepts a connection in one loop turn, builds its transport in the next (a task) and calls
# the protocol's connection_made in the one after.
ACCEPT_TURNS = 2


async def close_listening(server: asyncio.Server) -> None:
    """Stop accepting, let the connections already accepted reach their protocol, then close the
    listening sockets. ``Server.close`` alone fails the accepts whose task has not run yet
    (CPython 3.11: an AssertionError in ``Server._attach``), and their sockets were left open: a
    ResourceWarning when collected, and a client that never got an answer or a close. Once this
    returns, every connection is the protocol's to close (aiohttp's shutdown, the front door)."""
    loop = asyncio.get_running_loop()
    for sock in server.sockets:
        loop.remove_reader(sock.fileno())
    for _ in range(ACCEPT_TURNS):
        await asyncio.sleep(0)
    server.close()
