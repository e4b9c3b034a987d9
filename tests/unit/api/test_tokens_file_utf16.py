"""A tokens file written as UTF-16 (Windows PowerShell 5's ``>``) or UTF-32 is refused naming its
encoding and what to do, at start and on a reload, as the config file refuses one. Before, the
message was the decoder's "'utf-8' codec can't decode byte 0xff in position 0", naming neither."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.api.tokens import TokensInUse
from gateway.config import HttpConfig, read_text_file
from gateway.errors import ConfigError
from tests.unit.api.conftest import ApiFactory

TEXT = "first-token\r\nsecond-token\r\n"
WIDE = [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32"), ("utf-32-be", "UTF-32")]


def wide(path: Path, encoding: str) -> Path:
    """``TEXT`` in ``encoding`` with its byte order mark, as PowerShell writes it."""
    mark = "\ufeff" if encoding.endswith("-be") else ""
    path.write_bytes((mark + TEXT).encode(encoding))
    return path


@pytest.mark.parametrize(("encoding", "name"), WIDE)
def test_the_api_refuses_a_wide_tokens_file_naming_its_encoding(
    make_api: ApiFactory, tmp_path: Path, encoding: str, name: str
) -> None:
    tokens_file = wide(tmp_path / "tokens", encoding)

    with pytest.raises(ConfigError) as refused:
        make_api(http=HttpConfig(tokens_file=tokens_file))

    assert str(refused.value) == (
        f"{tokens_file}: http.tokens_file: cannot read: the file is {name} (written by PowerShell's >?); "
        "save it as UTF-8"
    )


def test_a_reload_names_a_tokens_file_saved_again_as_utf16_and_keeps_the_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(TEXT, encoding="utf-8")
    tokens = TokensInUse(path)
    wide(path, "utf-16")
    replaced: list[frozenset[str]] = []

    problem = asyncio.run(tokens.reload(path, replaced.append))

    assert problem is not None
    assert "cannot read: the file is UTF-16 (written by PowerShell's >?); save it as UTF-8" in problem
    assert replaced == []


def test_a_file_read_as_utf16_on_purpose_is_read(tmp_path: Path) -> None:
    assert read_text_file(wide(tmp_path / "text", "utf-16"), "utf-16") == TEXT
