"""A SIGHUP whose tokens file cannot be read as a file leaves the API serving with the tokens it has.

Before, ``serve`` read the tokens file again on the event loop: a tokens file replaced by a FIFO with
no writer blocked that read for good, and with it every HTTP request and the SIGTERM handler. Runs
the real ``edge-gateway``, a real FIFO and a real HTTP client."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.integration.test_reload_tokens import KEPT, problems, reload, start, status_code
from tests.support.serve import Process


def test_a_tokens_file_replaced_by_a_fifo_leaves_the_api_and_sigterm_working(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a gateway whose API takes the tokens of a file
    tokens = tmp_path / "tokens"
    tokens.write_text("a-token\n", encoding="utf-8")
    gateway, port = start(tmp_path, processes, tokens)

    # When the file is replaced by a FIFO nobody writes to, and the gateway is told to reload
    tokens.unlink()
    os.mkfifo(tokens)
    output = reload(gateway, KEPT)

    # Then the reload names the problem, the API keeps answering with the token it had
    assert f"{tokens}: http.tokens_file: is a FIFO, not a regular file; {KEPT}" in output
    assert status_code(port, "a-token") == 200
    assert status_code(port) == 401
    (problem,) = problems(port, "a-token")
    assert "is a FIFO, not a regular file" in problem, problem
    # And SIGTERM still stops it
    assert gateway.terminate() == 0, gateway.output()


def test_a_tokens_file_replaced_by_a_directory_keeps_the_tokens(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a gateway whose API takes the tokens of a file
    tokens = tmp_path / "tokens"
    tokens.write_text("a-token\n", encoding="utf-8")
    gateway, port = start(tmp_path, processes, tokens)

    # When the file is replaced by a directory, then by a symlink loop, each time with a reload
    tokens.unlink()
    tokens.mkdir()
    directory = reload(gateway, KEPT)
    tokens.rmdir()
    tokens.symlink_to(tokens)
    loop = reload(gateway, KEPT)

    # Then each reload names the problem and the API keeps the token it had
    assert f"{tokens}: http.tokens_file: is a directory, not a regular file; {KEPT}" in directory
    assert f"{tokens}: http.tokens_file: cannot read:" in loop
    assert "symbolic links" in loop
    assert status_code(port, "a-token") == 200
    gateway.signal(signal.SIGTERM)
    assert gateway.process.wait(10) == 0, gateway.output()
