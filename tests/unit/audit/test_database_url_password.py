"""The audit store names a database it cannot open without its password, whether the URL carries it
as user info or as libpq's ``password`` / ``sslpassword`` parameter: the error reaches logs and the
status page, not only the command line (whose own masking is a last guard)."""

from __future__ import annotations

import pytest

from gateway.audit.database import open_database
from gateway.errors import AuditError

pytest.importorskip("psycopg")

SECRET = "s3cret-Pa55"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://audit:{SECRET}@127.0.0.1:1/audit?sslmode=disable",
        f"postgresql://audit@127.0.0.1:1/audit?sslmode=disable&password={SECRET}",
        f"postgresql://audit@127.0.0.1:1/audit?PASSWORD={SECRET}&sslmode=disable",
        f"postgresql://audit@127.0.0.1:1/audit?sslmode=disable&sslpassword={SECRET}",
    ],
)
def test_an_unopened_databases_error_holds_no_password(url: str) -> None:
    with pytest.raises(AuditError) as raised:
        open_database(url)
    assert "cannot open the audit database postgresql://audit" in str(raised.value)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        # libpq quotes the token it cannot parse: here the password itself, or the whole URL
        "postgresql://audit:s3cret%zzPa55@127.0.0.1:1/audit",
        "postgresql://audit:s3cret Pa55@127.0.0.1:1/audit",
        "postgresql://audit@127.0.0.1:1/audit?password=s3cret%zzPa55",
        "postgresql://audit:s3cret-Pa55@[::1/audit",
    ],
)
def test_a_url_libpq_cannot_parse_is_an_error_that_holds_no_password(url: str) -> None:
    with pytest.raises(AuditError) as raised:
        open_database(url)
    assert "cannot open the audit database postgresql://audit" in str(raised.value)
    assert "Pa55" not in str(raised.value)
