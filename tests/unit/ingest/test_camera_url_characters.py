"""A network camera URL holding a character a URL cannot hold as it is (a space in a password, a
tab, a '|') is refused at its config line, the character and its place named and its percent-encoded
form given, instead of failing later in FFmpeg (a 400 from the camera, or a server "not answering").
FFmpeg decodes a user name and password before it logs in, so ``%20`` is how a password with a space
is written."""

from __future__ import annotations

import re

import pytest

from gateway.config import CameraConfig, parse_config
from gateway.errors import ConfigError


def refusal(url: str) -> str:
    text = f"cameras:\n  - id: gate\n    url: {url!r}\n".replace("\\t", "\t")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    message = str(caught.value)
    assert "secret" not in message
    return message


def test_a_space_in_a_password_is_refused_naming_its_encoding() -> None:
    message = refusal("rtsp://admin:my secret@10.0.0.5/stream1")
    assert re.search(
        r"gateway.yaml:3: cameras\[0\]\.url: the camera url rtsp://10.0.0.5/stream1 has a space in its "
        r"user name or password: write it percent-encoded, as %20 \(decoded again before it logs in\)",
        message,
    ), message


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("rtsp://10.0.0.5/front door", "has a space in its path or query: write it percent-encoded, as %20"),
        ("http://10.0.0.5/video.mjpg?camera=1 2", "has a space in its path or query"),
        ("rtsp://10.0.0.5/stream\t1", r"rtsp://10.0.0.5/stream\\t1 has a tab in its path or query"),
        ("rtsp://10.0.0.5/a|b", "has a '|' in its path or query: write it percent-encoded, as %7C"),
        ('rtsp://10.0.0.5/a"b', "has a '\"' in its path or query: write it percent-encoded, as %22"),
        ("rtsps://admin:p{secret}@10.0.0.5/s", "has a '{' in its user name or password"),
        ("rtsp://admin:secret[1]@10.0.0.5/s", "has a '\\[' in its user name or password: .* as %5B"),
        ("rtsp://admin:100%secret@10.0.0.5/s", "has a '%' without two hexadecimal digits after it"),
        ("rtsp://cam era.local/stream", "has a space in its host, which no host name holds"),
    ],
)
def test_a_character_no_url_holds_is_refused_by_name(url: str, named: str) -> None:
    message = refusal(url)
    assert re.search(named, message), message


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:my%20secret@10.0.0.5/stream1",
        "rtsp://admin:100%25@10.0.0.5/front%20door",
        "rtsp://[::1]:8554/stream",
        "rtsp://[fe80::1%eth0]:554/stream",
        "http://10.0.0.5/video.mjpg?camera=1&size=640x480",
        "/srv/front door.mp4",
        "file:///srv/front door.mp4",
        "frames/100%.png",
    ],
)
def test_urls_written_as_a_url_holds_them_and_file_paths_are_accepted(url: str) -> None:
    assert CameraConfig.model_validate({"id": "gate", "url": url}).url == url


@pytest.mark.parametrize("url", ["rtsp://::1/stream", "rtsp://admin:secret@fe80::1:554/stream"])
def test_an_ipv6_address_without_brackets_is_named(url: str) -> None:
    # urlsplit read "fe80" as the host and ":1:554" as a port: "has no host", "port ... not a number"
    message = refusal(url)
    assert "has an IPv6 address without brackets: write it in brackets, as [fe80::1], or [fe80::1]:554" in (
        message
    ), message


def test_an_ipv6_zone_written_as_rfc_6874_has_it_is_refused_with_the_form_the_reader_takes() -> None:
    # The resolver takes "fe80::1%25eth0" for no address: "cannot resolve host" at every reconnect
    message = refusal("rtsp://admin:secret@[fe80::1%25eth0]:554/stream")
    assert (
        "the camera url rtsp://[fe80::1%25eth0]:554/stream writes its IPv6 zone as '%25': the reader takes "
        "it after a bare '%', as [fe80::1%eth0]"
    ) in message, message
