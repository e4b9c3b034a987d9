"""A PostgreSQL URL may carry its password as a query parameter (``?password=``, which libpq reads);
``audit verify`` and ``audit serve`` name the database they cannot open without it. Each runs the
real command in a child process against a port where nothing listens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

SECRET = "s3cret-Pa55"
URL = f"postgresql://audit@127.0.0.1:1/audit?sslmode=disable&password={SECRET}"
COMMAND_TIMEOUT_S = 60.0


def edge_gateway(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *arguments],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def test_audit_verify_does_not_print_the_password_parameter() -> None:
    result = edge_gateway("audit", "verify", "--db", URL)

    assert result.returncode == 2
    assert "error: cannot open the audit database postgresql://" in result.stderr
    assert "password=***: connection failed" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_audit_serve_does_not_log_the_password_parameter(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("{}\n", encoding="utf-8")
    config = tmp_path / "audit.yaml"
    config.write_text(
        f"mqtt: {{url: 'mqtt://127.0.0.1:1'}}\nkeys_file: {keys}\ndatabase: '{URL}'\n", encoding="utf-8"
    )

    result = edge_gateway("audit", "serve", "--config", str(config))

    assert result.returncode == 2
    assert "audit: cannot open the audit database postgresql://" in result.stderr
    assert SECRET not in result.stderr + result.stdout
