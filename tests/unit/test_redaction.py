from __future__ import annotations

import pytest

from gateway.cli import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cannot open postgresql://db.example/audit?password=p4ss: connection failed",
            "cannot open postgresql://db.example/audit?password=***: connection failed",
        ),
        (
            "postgresql://db/audit?sslmode=require&password=a:b&user=audit",
            "postgresql://db/audit?sslmode=require&password=***&user=audit",
        ),
        ("'postgresql://db/audit?PASSWORD=x'", "'postgresql://db/audit?PASSWORD=***'"),
        ("postgresql://db/audit?sslpassword=key", "postgresql://db/audit?sslpassword=***"),
        ("postgresql://u:pw@db/audit?password=pw", "postgresql://***@db/audit?password=***"),
        # not a query parameter: left as written
        ("reset password=later in the docs", "reset password=later in the docs"),
    ],
)
def test_a_password_parameter_is_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected
