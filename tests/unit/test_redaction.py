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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cannot open rtsp://admin:p@ss@10.0.0.5/s: refused", "cannot open rtsp://***@10.0.0.5/s: refused"),
        ("rtsps://admin:a@b:c@cam:322/s", "rtsps://***@cam:322/s"),
        ("postgresql://audit:x@y@db/audit", "postgresql://***@db/audit"),
        ("rtsp://admin@cam/s and mail ops@example.com", "rtsp://***@cam/s and mail ops@example.com"),
        ("rtsp://cam/s?x=1 and rtsp://cam:554/t", "rtsp://cam/s?x=1 and rtsp://cam:554/t"),
    ],
)
def test_user_info_is_redacted_up_to_its_last_at_sign(text: str, expected: str) -> None:
    assert redact(text) == expected
