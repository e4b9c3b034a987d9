"""The API's stop (``RunningServer.close``) against requests still arriving, over real sockets, on
asyncio's loop and on uvloop (which ``serve`` runs):

- aiohttp's shutdown drops whatever a connection receives once it has begun, the rest of a request
  body included: a request whose head had arrived before the stop and whose body came after waited
  for it until its client gave up, and the stop with it (a SIGTERM under load took over 10 s);
- uvloop accepts connections until the listening socket closes and makes each one a loop turn
  later, after the stop had closed the idle ones: such a connection was served by a server already
  stopping, or left open.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from gateway.api import front_door
from tests.unit.api.fakes import FakeBackend
from tests.unit.api.harness import ServedApi
from tests.unit.api.test_front_door import LOOPS, Client, post, served

BY_AIOHTTP = "Cookie: theme=dark\r\n"
"""A cookie sends the request to aiohttp (the console's session checks), not to the front door."""
STOP_WAIT_S = 20.0
FRAMINGS = ["length", "chunked"]
"""A body the front door hands over by its length, or one only aiohttp's parser sees the end of."""


def split_request(framing: str) -> tuple[bytes, bytes]:
    """A request aiohttp answers, as its head (with a first piece of its body when chunked) and the
    rest of its body."""
    request = post(extra=BY_AIOHTTP)
    head_end = request.index(b"\r\n\r\n") + 4
    head, body = request[:head_end], request[head_end:]
    if framing == "length":
        return head, body
    chunked = head.replace(f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked")
    first, second = body[:10], body[10:]
    return (
        chunked + b"%x\r\n%s\r\n" % (len(first), first),
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(second), second),
    )


def handed_to_aiohttp(api: ServedApi) -> None:
    """Wait (at most 10 s) until aiohttp holds a connection: the head it was sent reached it."""
    deadline = time.monotonic() + 10
    while not api.aiohttp_connections():
        assert time.monotonic() < deadline, "no request head reached aiohttp"
        time.sleep(0.01)


def stopping(api: ServedApi) -> threading.Thread:
    """The API's stop, begun on a thread of its own."""
    stop = threading.Thread(target=api.close, name="api-stop")
    stop.start()
    return stop


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_body_that_arrives_after_the_stop_began_is_read_and_answered(
    backend: FakeBackend, loop_factory: Callable[[], asyncio.AbstractEventLoop], framing: str
) -> None:
    api = served(backend, loop_factory)
    client = Client(api)
    start, rest = split_request(framing)
    client.send(start)
    handed_to_aiohttp(api)

    # Given a stop begun while the request's body is on its way
    stop = stopping(api)
    time.sleep(0.5)
    client.send(rest)

    # Then the request is answered, its connection closed, and the stop ends
    status, _, body = client.response()
    assert status == 200, body
    assert client.closed()
    stop.join(STOP_WAIT_S)
    assert not stop.is_alive()
    client.close()


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_body_that_never_arrives_holds_the_stop_no_longer_than_the_grace(
    backend: FakeBackend,
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
    monkeypatch: pytest.MonkeyPatch,
    framing: str,
) -> None:
    monkeypatch.setattr(front_door, "BODY_GRACE_S", 0.5)
    api = served(backend, loop_factory)
    client = Client(api)
    client.send(split_request(framing)[0])
    handed_to_aiohttp(api)

    # Given a stop begun while a request's body stalls, its client waiting with the connection open
    stop = stopping(api)

    # Then the stop ends after the grace, the connection closed under the request
    stop.join(STOP_WAIT_S)
    assert not stop.is_alive()
    assert client.closed()
    client.close()


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_connection_made_once_the_stop_began_is_closed_unserved(
    backend: FakeBackend, loop_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    api = served(backend, loop_factory)
    try:
        # Given the stop under way (its idle connections closed), the listening socket still open
        api.on_loop(api.door.close_idle)

        # When a client connects and sends a request, then the connection is closed, with no answer
        client = Client(api)
        client.send(post())
        assert client.closed()
        assert backend.calls == 0
        client.close()
    finally:
        api.close()
