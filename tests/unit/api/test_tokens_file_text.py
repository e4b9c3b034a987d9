"""The tokens file as editors write it: a byte order mark at its start (Notepad's and PowerShell's
UTF-8) and Windows line ends. Before, the mark was kept as the first character of the first token,
so that token was refused as wrong with nothing to say why; the real app over real HTTP."""

from __future__ import annotations

from pathlib import Path

from gateway.config import HttpConfig
from tests.unit.api.conftest import ApiFactory


def test_a_tokens_file_with_a_byte_order_mark_and_windows_line_ends_takes_every_token(
    make_api: ApiFactory, tmp_path: Path
) -> None:
    tokens_file = tmp_path / "tokens"
    tokens_file.write_bytes("\ufefffirst-token\r\n# ci\r\nsecond-token\r\n".encode())

    api = make_api(http=HttpConfig(tokens_file=tokens_file))

    assert api.get("/v2", {"Authorization": "Bearer first-token"}).status == 200
    assert api.get("/v2", {"Authorization": "Bearer second-token"}).status == 200
