"""A tokens file with bytes that are not UTF-8 (saved as Latin-1, say) is refused naming the line and
the column (byte) where they start, as the config's errors do, at start and on a reload. Before, the
message was the decoder's "'utf-8' codec can't decode byte 0xe9 in position 31", a count of bytes
from the start of the file that nobody editing it can find."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.api.tokens import TokensInUse
from gateway.config import HttpConfig
from gateway.errors import ConfigError
from tests.unit.api.conftest import ApiFactory

LATIN_1 = "# tokens\nfirst-token\nsecond-tok\u00e9n\n".encode("latin-1")
PROBLEM = "http.tokens_file: cannot read: the byte (column 11) is not UTF-8: save the file as UTF-8"


def test_the_api_refuses_a_tokens_file_that_is_not_utf8_naming_the_line(
    make_api: ApiFactory, tmp_path: Path
) -> None:
    tokens_file = tmp_path / "tokens"
    tokens_file.write_bytes(LATIN_1)

    with pytest.raises(ConfigError) as refused:
        make_api(http=HttpConfig(tokens_file=tokens_file))

    assert str(refused.value) == f"{tokens_file}:3: {PROBLEM}"


def test_a_reload_names_the_line_of_a_tokens_file_saved_again_not_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("first-token\n", encoding="utf-8")
    tokens = TokensInUse(path)
    path.write_bytes(LATIN_1)
    replaced: list[frozenset[str]] = []

    problem = asyncio.run(tokens.reload(path, replaced.append))

    assert problem == f"{path}:3: {PROBLEM}; the API goes on with the tokens it had"
    assert replaced == []
