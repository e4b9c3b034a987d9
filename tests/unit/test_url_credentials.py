from __future__ import annotations

import pytest

from gateway.cli import redact
from gateway.config.fields import without_credentials
from gateway.ingest.urls import redact_url
from gateway.url_credentials import masked_parameters, secret_values, split_user_info


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("rtsp://admin:p@ss@cam/s", ("rtsp://", "admin:p@ss", "cam/s")),
        ("rtspt://admin:pa/ss@cam:8554/s", ("rtspt://", "admin:pa/ss", "cam:8554/s")),
        ("rtsp://cam/s", ("rtsp://", "", "cam/s")),
        ("/srv/clips/demo.mp4", ("", "", "/srv/clips/demo.mp4")),
        ("://user:pw@host", ("://", "user:pw", "host")),
    ],
)
def test_user_info_runs_to_the_last_at_sign(url: str, parts: tuple[str, str, str]) -> None:
    assert split_user_info(url) == parts


@pytest.mark.parametrize(
    ("query", "masked", "secrets"),
    [
        ("user=u&password=hunter2&fps=5", "user=u&password=***&fps=5", ["hunter2"]),
        ("sslmode=require;sslpassword=k", "sslmode=require;sslpassword=***", ["k"]),
        ("loginuse=u&loginpas=hunter2", "loginuse=u&loginpas=***", ["hunter2"]),
        ("p%61ssword=hunter2&q=a%20b", "p%61ssword=***&q=a%20b", ["hunter2"]),
        ("token=&x=1", "token=***&x=1", []),
        ("", "", []),
    ],
)
def test_secret_named_parameters_are_masked_as_written(query: str, masked: str, secrets: list[str]) -> None:
    assert masked_parameters(query) == masked
    assert secret_values(query) == secrets


def test_every_part_hides_a_semicolon_separated_password() -> None:
    # Given a camera URL whose parameters are separated by ';', as some camera firmware writes them
    url = "http://cam/video.cgi?resolution=2;pwd=hunter2"
    # Then no part shows the password (urllib's parse_qsl splits on '&' only)
    assert "hunter2" not in redact_url(url)
    assert "hunter2" not in without_credentials(url)
    assert "hunter2" not in redact(f"cannot open {url}: refused")


def test_the_last_guard_masks_any_secret_named_parameter() -> None:
    assert (
        redact("cannot open https://cam/video?token=hunter2: 404")
        == "cannot open https://cam/video?token=***: 404"
    )
    assert redact("https://cam/v?auth=a&fps=5") == "https://cam/v?auth=***&fps=5"
