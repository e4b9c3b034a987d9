"""Closing the listening socket while connections are half accepted: each reaches its protocol
before the close returns, for the server's shutdown to close it.

asyncio accepts a connection in one loop turn, makes its transport in a task that runs in the next,
and calls the protocol's ``connection_made`` in the one after: ``Server.close`` between the accept
and the transport failed those tasks (CPython 3.11: an AssertionError in ``Server._attach``) and
left their sockets open, the client neither answered nor closed; a close returning before
``connection_made`` left connections the shutdown did not know of."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from contextlib import ExitStack

from gateway.web.listening import close_listening

CLIENTS = 8


class Recorded(asyncio.Protocol):
    made: list[asyncio.BaseTransport]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)


async def close_half_accepted(close: Callable[[asyncio.Server], Awaitable[None]]) -> tuple[int, int]:
    """How many of CLIENTS connections had reached their protocol when ``close``, called in the
    turn after the accept, returned, and how many ever did."""
    loop = asyncio.get_running_loop()
    made: list[asyncio.BaseTransport] = []
    Recorded.made = made
    server = await loop.create_server(Recorded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with ExitStack() as clients:
        # Each connect returns once the kernel has the connection queued to be accepted.
        for _ in range(CLIENTS):
            clients.enter_context(socket.create_connection(("127.0.0.1", port)))
        await asyncio.sleep(0)  # this task runs first in the turn where the listener is readable,
        await asyncio.sleep(0)  # and the accepts after it: their transports' tasks come next
        await close(server)
        at_return = len(made)
        await server.wait_closed()
        await asyncio.sleep(0.05)
        for transport in made:
            transport.close()
        await asyncio.sleep(0)
    return at_return, len(made)


def test_connections_accepted_as_the_server_closes_reach_their_protocol_before_it_returns() -> None:
    at_return, ever = asyncio.run(close_half_accepted(close_listening))

    assert at_return == CLIENTS
    assert ever == CLIENTS
