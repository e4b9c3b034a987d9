"""The API's bearer tokens on a reload: the tokens file's new tokens apply at once.

A reload reads the tokens file again (``serve``): a token revoked there must stop working at once,
not at the next restart. The app's ``Sessions`` takes the new tokens (``Sessions.replace``, which
replaces its ``TokenCheck``'s, the one the middleware asks) and ends the console sessions opened
with a token no longer among them; a live view watched with one ends within a frame
(``console.stream``). The tokens given to the app factory itself stay in force through every reload.

The file is read on a thread of its own, and the reload waits for it ``READ_WAIT_S`` at most: the
event loop that serves every request and handles SIGTERM must never wait on a file system. A file
that is no regular file (a FIFO with no writer would block the read for good) is refused before it
is opened, as the config refuses one at start; a read that hangs (a network mount whose server has
gone) is named and left behind, and no other is started while it hangs, so a reload never adds a
second stuck thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from aiohttp import web

from gateway.api.context import CONTEXT
from gateway.errors import ConfigError, ConfigProblem
from gateway.protocol.bearer import load_tokens

logger = logging.getLogger(__name__)

FIXED_TOKENS: web.AppKey[frozenset[str]] = web.AppKey("edge_gateway_api_fixed_tokens", frozenset)
"""The tokens ``create_app`` was given besides the tokens file's: a reload keeps them."""

READ_WAIT_S = 5.0
"""How long a reload waits for the tokens file: a local file is read in microseconds, one on a network
mount in milliseconds; a read still going after seconds is one that hangs."""

KEY = "http.tokens_file"
KEPT = "the API goes on with the tokens it had"

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


def replace_tokens(app: web.Application, from_file: Iterable[str]) -> None:
    """Give the running ``app`` (``create_app``'s) the tokens file's new tokens. ValueError, and the
    tokens in force kept, when that would leave none where there were some."""
    app[CONTEXT].sessions.replace(app[FIXED_TOKENS] | frozenset(from_file))


def read_tokens_file(path: Path) -> frozenset[str]:
    """``load_tokens`` for a regular file (through symlinks); ConfigError naming ``path`` for
    anything else, before it is opened: opening a FIFO waits for a writer."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, KEY, f"cannot read: {exc}")]) from exc
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "no file")
        raise ConfigError([ConfigProblem(str(path), None, KEY, f"is {kind}, not a regular file")])
    return load_tokens(path)


class TokensInUse:
    """The tokens file the API takes its tokens from. A reload reads it again and, where its tokens
    changed (a leaked one revoked, a new one added), hands the API the new ones at once: a revoked
    token, and the console sessions opened with it, stop working. A file that can no longer be read
    (in ``wait_s``), or holds no tokens, leaves the API with the tokens it has, and the reload says
    so. Only a digest of the tokens is kept here. ``read`` reads the file (tests pass one that
    blocks)."""

    def __init__(
        self,
        path: Path | None,
        read: Callable[[Path], frozenset[str]] = read_tokens_file,
        wait_s: float = READ_WAIT_S,
    ) -> None:
        # At start, as ``preflight`` and ``create_app`` read it: nothing is served yet to be held up.
        self._in_use = None if path is None else _digest(load_tokens(path))
        self._read = read
        self._wait_s = wait_s
        self._hanging: _Read | None = None

    async def reload(self, path: Path | None, replace: Callable[[frozenset[str]], None]) -> str | None:
        """After a reload: ``replace`` the API's tokens with those now in ``path``, the tokens file
        in use, where they changed. Returns why they were left as they were, or None."""
        if path is None:
            return None
        try:
            tokens = await self._read_bounded(path)
        except ConfigError as exc:
            problem = f"{exc}; {KEPT}"
            logger.warning("reload: %s", problem)
            return problem
        digest = _digest(tokens)
        if digest != self._in_use:
            try:
                replace(tokens)
            except ValueError as exc:  # no tokens left: an API beyond loopback must not open up
                problem = f"{path}: {KEY}: {exc}"
                logger.warning("reload: %s", problem)
                return problem
            self._in_use = digest
            logger.warning(
                "reload: the tokens in %s (%s) changed and apply now: a token no longer there is "
                "refused, and the console sessions and live views opened with one are ended",
                path,
                KEY,
            )
        return None

    async def _read_bounded(self, path: Path) -> frozenset[str]:
        hanging = self._hanging
        if hanging is not None:
            if not hanging.finished.is_set():
                waited = time.monotonic() - hanging.started
                raise _hangs(path, f"the read a reload started {waited:.0f} s ago has not finished")
            self._hanging = None
        read = _Read(self._read, path)
        try:
            return await read.result(self._wait_s)
        except asyncio.TimeoutError:
            self._hanging = read
            raise _hangs(path, f"reading it did not finish within {self._wait_s:g} s") from None


def _hangs(path: Path, what: str) -> ConfigError:
    problem = f"cannot read: {what} (a hung network mount?)"
    return ConfigError([ConfigProblem(str(path), None, KEY, problem)])


class _Read:
    """One read of the tokens file on a daemon thread: one that hangs must not hold the process at
    exit, as a thread of the loop's default executor would (it is joined then)."""

    def __init__(self, read: Callable[[Path], frozenset[str]], path: Path) -> None:
        self._read = read
        self._path = path
        self.started = time.monotonic()
        self.finished = threading.Event()

    async def result(self, wait_s: float) -> frozenset[str]:
        """The tokens; the read's ConfigError; asyncio.TimeoutError when it takes over ``wait_s``."""
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[frozenset[str]] = loop.create_future()
        thread = threading.Thread(
            target=self._run, args=(loop, outcome), name="tokens-file-read", daemon=True
        )
        thread.start()
        try:
            await asyncio.wait_for(asyncio.shield(outcome), wait_s)
        finally:
            if not outcome.done():
                outcome.cancel()  # the late answer, if any, goes nowhere (see ``_settle``)
        return outcome.result()

    def _run(self, loop: asyncio.AbstractEventLoop, outcome: asyncio.Future[frozenset[str]]) -> None:
        try:
            tokens = self._read(self._path)
        except Exception as exc:  # the loop raises it where the reload awaits
            answer: frozenset[str] | Exception = exc
        else:
            answer = tokens
        finally:
            self.finished.set()
        # A closed loop (RuntimeError): the gateway stopped while this read hung.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, outcome, answer)


def _settle(outcome: asyncio.Future[frozenset[str]], answer: frozenset[str] | Exception) -> None:
    if outcome.done():  # given up on (``wait_s`` passed)
        return
    if isinstance(answer, Exception):
        outcome.set_exception(answer)
    else:
        outcome.set_result(answer)


def _digest(tokens: frozenset[str]) -> str:
    return hashlib.sha256("\n".join(sorted(tokens)).encode()).hexdigest()
