"""A keys file with bytes that are not UTF-8 (saved as Latin-1, say) is refused naming the file, the
line and the column (byte) where they start, as the config's and the tokens file's errors do. Before,
the message was the decoder's "can't decode byte 0xe9 in position 81", a count of bytes from the start
of the file that nobody editing it can find."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit.keys_file import load_keys
from gateway.errors import AuditError

KEY = bytes(range(32)).hex()
NOT_UTF8 = "cannot read: the byte (column 13) is not UTF-8: save the file as UTF-8"


def test_a_keys_file_that_is_not_utf8_is_named_by_line_and_column(tmp_path: Path) -> None:
    # Given a keys file saved as Latin-1, an "é" in the comment on its third line
    path = tmp_path / "keys.yaml"
    path.write_bytes(f"box-a: {KEY}\nbox-b: {KEY}\n# box-c: caf\u00e9\n".encode("latin-1"))

    with pytest.raises(AuditError) as refused:
        load_keys(path)

    assert str(refused.value) == f"the keys file {path}:3: {NOT_UTF8}"
    assert KEY not in str(refused.value)


def test_a_keys_file_saved_as_utf16_names_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_bytes(f"box-a: {KEY}\n".encode("utf-16"))

    with pytest.raises(AuditError) as refused:
        load_keys(path)

    assert str(refused.value) == (
        f"the keys file {path}: cannot read: the file is UTF-16 (written by PowerShell's >?); "
        "save it as UTF-8"
    )


@pytest.mark.parametrize(
    ("text", "place", "character"),
    [
        (f"box-a: {KEY}\nbox\x01c: {KEY}\n", "line 2, column 4", "U+0001"),
        (f'box-a: {KEY}\n"\ufffe": {KEY}\n', "line 2, column 2", "U+FFFE"),
        (f"box-a: {KEY}\x00\n", "line 1, column 72", "U+0000"),
    ],
)
def test_a_character_yaml_does_not_take_is_named_by_line_and_column(
    tmp_path: Path, text: str, place: str, character: str
) -> None:
    # (was "is not valid YAML: not YAML or JSON": PyYAML names it by its place in the whole text)
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(AuditError) as refused:
        load_keys(path)
    assert str(refused.value) == (
        f"the keys file {path} is not valid YAML at {place}: the character {character} is not allowed in YAML"
    )
