"""A reload's read of the tokens file is bounded: one that blocks (here a real FIFO with no writer,
read by ``read_tokens_text`` itself, as a hung network mount would block) is named, the tokens in force
stay, and no second read is started while it hangs; once it ends, the next reload reads the file
again. The default read refuses a FIFO before opening it, so it never blocks on one at all."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gateway.api.tokens import TokensInUse
from gateway.protocol.bearer import read_tokens_text
from tests.support.fifo import release

WAIT_S = 0.2


def reload(tokens: TokensInUse, path: Path, replaced: list[frozenset[str]]) -> str | None:
    return asyncio.run(tokens.reload(path, replaced.append))


def test_a_read_that_blocks_is_named_and_the_tokens_in_force_stay(tmp_path: Path) -> None:
    # Given tokens in force from a file, which is then replaced by a FIFO nobody writes to
    path = tmp_path / "tokens"
    path.write_text("a-token\n", encoding="utf-8")
    tokens = TokensInUse(path, read=read_tokens_text, wait_s=WAIT_S)
    path.unlink()
    os.mkfifo(path)
    replaced: list[frozenset[str]] = []

    # When two reloads read it while the first read still blocks
    try:
        first = reload(tokens, path, replaced)
        second = reload(tokens, path, replaced)
    finally:
        release(path, "tokens-file-read")

    # Then each names the problem, the second without starting another read, and nothing is replaced
    assert first == (
        f"{path}: http.tokens_file: cannot read: reading it did not finish within {WAIT_S:g} s "
        "(a hung network mount?); the API goes on with the tokens it had"
    )
    assert second is not None
    assert "cannot read: the read a reload started" in second
    assert "has not finished (a hung network mount?)" in second
    assert replaced == []

    # And once the blocked read has ended, the next reload reads the file again
    path.unlink()
    path.write_text("new-token\n", encoding="utf-8")
    assert reload(tokens, path, replaced) is None
    assert replaced == [frozenset({"new-token"})]


def test_the_default_read_refuses_a_fifo_without_opening_it(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("a-token\n", encoding="utf-8")
    tokens = TokensInUse(path)
    path.unlink()
    os.mkfifo(path)
    replaced: list[frozenset[str]] = []

    problem = reload(tokens, path, replaced)

    assert problem == (
        f"{path}: http.tokens_file: is a FIFO, not a regular file; the API goes on with the tokens it had"
    )
    assert replaced == []


def test_a_reload_that_finds_the_same_tokens_replaces_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("a-token\n", encoding="utf-8")
    tokens = TokensInUse(path)
    replaced: list[frozenset[str]] = []

    assert reload(tokens, path, replaced) is None

    assert replaced == []
