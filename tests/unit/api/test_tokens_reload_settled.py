"""A reload reads the tokens file as it reads the config (``gateway.config.settled_read``): a file a
tool is writing in place is read until two reads agree, so the tokens not yet written are not
revoked, and one that does not stop changing within the wait is refused, the tokens in force kept.
The tool is a real thread writing the real file, one step after each of the reload's reads.

Before, the reload read the file once: a SIGHUP sent as a tool rewrote it applied the file cut short,
and every token past the cut was refused, with the console sessions opened with it ended."""

from __future__ import annotations

import itertools
from pathlib import Path

from gateway.api.tokens import TokensInUse, read_tokens_file
from tests.support.in_place_writer import InPlaceWriter
from tests.unit.api.test_tokens_reload_bounded import reload

SETTLE_S = 0.05
"""A short settle: the writer's steps follow the reads, so none needs a longer one."""


def test_a_tokens_file_written_in_place_is_applied_once_finished(tmp_path: Path) -> None:
    # Given tokens in force from a file that a tool is writing again, one line of it written so far
    path = tmp_path / "tokens"
    path.write_text("token-a\ntoken-b\n", encoding="utf-8")
    replaced: list[frozenset[str]] = []
    with InPlaceWriter(path, "a", ["token-b\n", "token-c\n"], read_tokens_file) as writer:
        tokens = TokensInUse(path, read=writer.read, settle_s=SETTLE_S)
        path.write_text("token-a\n", encoding="utf-8")

        # When a reload reads it, the tool writing its next line after each read
        problem = reload(tokens, path, replaced)

    # Then the reload read on until two reads agreed, and applied the finished file only: token-b
    # was never revoked
    assert problem is None
    assert writer.reads == ["token-a\n", "token-a\ntoken-b\n", *["token-a\ntoken-b\ntoken-c\n"] * 2]
    assert replaced == [frozenset({"token-a", "token-b", "token-c"})]


def test_a_tokens_file_that_does_not_stop_changing_is_refused_and_the_tokens_stay(tmp_path: Path) -> None:
    # Given tokens in force from a file that a tool appends to after every read
    path = tmp_path / "tokens"
    path.write_text("token-a\n", encoding="utf-8")
    replaced: list[frozenset[str]] = []
    lines = (f"# line {number}\n" for number in itertools.count())
    with InPlaceWriter(path, "a", lines, read_tokens_file) as writer:
        tokens = TokensInUse(path, read=writer.read, wait_s=3.0, settle_s=SETTLE_S)

        # When it is reloaded
        problem = reload(tokens, path, replaced)

    # Then the reload is refused once the wait is over, naming the file and that it kept changing
    assert problem == (
        f"{path}: http.tokens_file: cannot read: it did not stop changing within 3 s (still being "
        "written?); the API goes on with the tokens it had"
    )
    assert len(writer.reads) > 2
    assert replaced == []
