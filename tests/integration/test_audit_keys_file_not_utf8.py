"""A keys file with bytes that are not UTF-8 (saved as Latin-1, say) is refused by ``audit serve``
at start and by ``audit verify --keys`` naming the file, the line and the column (byte) where they
start, as the config's and the tokens file's errors do, with the exit status each gives any bad keys
file. Before, they said the decoder's "can't decode byte 0xe9 in position 81", a count of bytes from
the start of the file. Runs the real ``edge-gateway``."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.audit.store import AuditStore
from tests.support.command import edge_gateway

KEY = bytes(range(32)).hex()
LATIN_1 = f"box-a: {KEY}\nbox-b: {KEY}\n# box-c: caf\u00e9\n".encode("latin-1")
NOT_UTF8 = ":3: cannot read: the byte (column 13) is not UTF-8: save the file as UTF-8"
EXIT_ERROR = 2


def keys_file(directory: Path) -> Path:
    path = directory / "keys.yaml"
    path.write_bytes(LATIN_1)
    return path


def test_audit_serve_names_the_line_and_column_of_a_keys_file_that_is_not_utf8(tmp_path: Path) -> None:
    keys = keys_file(tmp_path)
    config = tmp_path / "audit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mqtt": {"url": "mqtt://127.0.0.1:1"},
                "keys_file": str(keys),
                "database": f"sqlite:///{tmp_path}/audit.db",
            }
        ),
        encoding="utf-8",
    )

    result = edge_gateway("audit", "serve", "--config", str(config), cwd=tmp_path)

    assert result.returncode == EXIT_ERROR, result.stderr
    assert f"audit: the keys file {keys}{NOT_UTF8}\n" in result.stderr
    assert "position" not in result.stderr
    assert KEY not in result.stderr


def test_audit_verify_names_the_line_and_column_of_a_keys_file_that_is_not_utf8(tmp_path: Path) -> None:
    keys = keys_file(tmp_path)
    database = f"sqlite:///{tmp_path}/audit.db"
    AuditStore.open(database, {}).close()

    result = edge_gateway("audit", "verify", "--db", database, "--keys", str(keys), cwd=tmp_path)

    assert result.returncode == EXIT_ERROR, result.stderr
    assert result.stderr == f"error: the keys file {keys}{NOT_UTF8}\n"
    assert result.stdout == ""
