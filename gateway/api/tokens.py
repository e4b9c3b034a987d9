"""The API's bearer tokens on a reload: the tokens file's new tokens apply at once.

A reload reads the tokens file again (``serve``): a token revoked there must stop working at once,
not at the next restart. The app's ``Sessions`` takes the new tokens (``Sessions.replace``, which
replaces its ``TokenCheck``'s, the one the middleware asks) and ends the console sessions opened
with a token no longer among them; a live view watched with one ends within a frame
(``console.stream``). The tokens given to the app factory itself stay in force through every reload.

The file is read as ``gateway.config.bounded_read`` reads it: on a thread of its own, waited for a
few seconds at most, a file that is no regular file refused before it is opened: the event loop
that serves every request and handles SIGTERM must never wait on a file system. And as the config
is read on a reload (``gateway.config.settled_read``): until two reads a moment apart agree, so a
file a tool is writing in place is read once the tool has finished, not cut short (the tokens not
yet written would be revoked), and one still changing after the wait is refused, the tokens in
force kept. Those reads and the waits between them run on a thread of the loop's executor.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from aiohttp import web

from gateway.api.context import CONTEXT
from gateway.config.bounded_read import READ_WAIT_S, refuse_irregular
from gateway.config.settled_read import SETTLE_S, SettledFile
from gateway.errors import ConfigError
from gateway.protocol.bearer import KEY, load_tokens, read_tokens_text, tokens_in

logger = logging.getLogger(__name__)

FIXED_TOKENS: web.AppKey[frozenset[str]] = web.AppKey("edge_gateway_api_fixed_tokens", frozenset)
"""The tokens ``create_app`` was given besides the tokens file's: a reload keeps them."""

KEPT = "the API goes on with the tokens it had"


def replace_tokens(app: web.Application, from_file: Iterable[str]) -> None:
    """Give the running ``app`` (``create_app``'s) the tokens file's new tokens. ValueError, and the
    tokens in force kept, when that would leave none where there were some."""
    app[CONTEXT].sessions.replace(app[FIXED_TOKENS] | frozenset(from_file))


def read_tokens_file(path: Path) -> str:
    """The text of the tokens file, a regular file (through symlinks); ConfigError naming ``path``
    for anything else, before it is opened: opening a FIFO waits for a writer."""
    refuse_irregular(path, KEY)
    return read_tokens_text(path)


class TokensInUse:
    """The tokens file the API takes its tokens from. A reload reads it again and, where its tokens
    changed (a leaked one revoked, a new one added), hands the API the new ones at once: a revoked
    token, and the console sessions opened with it, stop working. A file that can no longer be read
    (in ``wait_s``), or holds no tokens, leaves the API with the tokens it has, and the reload says
    so; as does one still being written after ``wait_s``. Only a digest of the tokens is kept here.
    ``read`` reads the file's text (tests pass one that blocks); a reload reads it until two reads
    ``settle_s`` apart agree, each waited for ``wait_s``, for ``wait_s`` at most."""

    def __init__(
        self,
        path: Path | None,
        read: Callable[[Path], str] = read_tokens_file,
        wait_s: float = READ_WAIT_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        # At start, as ``preflight`` and ``create_app`` read it: nothing is served yet to be held up.
        self._in_use = None if path is None else _digest(load_tokens(path))
        self._file = SettledFile(read, KEY, name="tokens-file-read", wait_s=wait_s, settle_s=settle_s)

    async def reload(self, path: Path | None, replace: Callable[[frozenset[str]], None]) -> str | None:
        """After a reload: ``replace`` the API's tokens with those now in ``path``, the tokens file
        in use, where they changed. Returns why they were left as they were, or None."""
        if path is None:
            return None
        try:
            text = await asyncio.to_thread(self._file.text, path)
            tokens = tokens_in(text, path)
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


def _digest(tokens: frozenset[str]) -> str:
    return hashlib.sha256("\n".join(sorted(tokens)).encode()).hexdigest()
