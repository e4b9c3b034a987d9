"""A config value outside its bounds or its choices is named with the bound or the choices and the
value written, in words: not pydantic's "Input should be greater than or equal to 1" (which of a
long file's values?) or "List should have at least 3 items after validation, not 2"; a misspelt
choice with the one likely meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import parse_config
from gateway.errors import ConfigError

CAMERA = "cameras:\n  - id: gate\n    url: rtsp://127.0.0.1/gate\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("http: {port: 70000}\n", "gateway.yaml:1: http.port: must be at most 65535, got 70000"),
        ("inference: {workers: 0}\n", "gateway.yaml:1: inference.workers: must be at least 1, got 0"),
        (
            CAMERA + "    motion: {min_area: 1.5}\n",
            "gateway.yaml:4: cameras[0].motion.min_area: must be at most 1, got 1.5",
        ),
        (
            CAMERA + "    open_timeout_s: 7200.0\n",
            "gateway.yaml:4: cameras[0].open_timeout_s: must be at most 3600, got 7200",
        ),
        (
            CAMERA + "    open_timeout_s: 0\n",
            "gateway.yaml:4: cameras[0].open_timeout_s: must be more than 0, got 0",
        ),
        (
            CAMERA + "    zones: [{name: door, polygon: [[0.1, 0.1], [0.5, 0.1]]}]\n",
            "gateway.yaml:4: cameras[0].zones[0].polygon: needs at least 3 entries, got 2",
        ),
        (
            CAMERA + "    decoder: gstreamr\n",
            "gateway.yaml:4: cameras[0].decoder: must be 'ffmpeg' or 'gstreamer', got 'gstreamr'; "
            "did you mean 'gstreamer'?",
        ),
        (
            CAMERA + "    decoder: 264\n",
            "gateway.yaml:4: cameras[0].decoder: must be 'ffmpeg' or 'gstreamer', got 264",
        ),
        (
            CAMERA + "    model: m\n    rules: [{name: r, type: presense}]\n",
            "gateway.yaml:5: cameras[0].rules[0].type: must be 'presence', 'line_crossing', 'loiter', "
            "'count' or 'stationary', got 'presense'; did you mean 'presence'?",
        ),
        (
            CAMERA + "    detect_fps: 0\n",
            "gateway.yaml:4: cameras[0].detect_fps: must be at least one frame a day (1/86400), got 0; "
            "a camera is stopped by enabled: false",
        ),
    ],
)
def test_a_value_past_its_bound_is_named_with_the_bound_and_the_value(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "gateway.yaml")
    assert [str(each) for each in raised.value.problems] == [problem]


def test_a_value_at_its_bound_loads() -> None:
    config = parse_config(CAMERA + "    detect_fps: 0.0000116\n    motion: {min_area: 1}\n", "gateway.yaml")
    assert config.cameras[0].detect_fps == 0.0000116


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # (pydantic: "Input should be a valid tuple", which says neither what YAML calls it nor what
        # was written)
        (
            CAMERA + "    lines: [{name: door, points: [[0.5, 0], [0.5, 1]], in_direction: left}]\n",
            "gateway.yaml:4: cameras[0].lines[0].in_direction: must be a list ([a, b]), got 'left'",
        ),
        (
            CAMERA + "    enabled: maybe\n",
            "gateway.yaml:4: cameras[0].enabled: must be true or false, got 'maybe'",
        ),
        (
            CAMERA + "    detect_fps: [1, 2]\n",
            "gateway.yaml:4: cameras[0].detect_fps: must be a number, got [1, 2]",
        ),
        ("inference: {workers: 1.5}\n", "gateway.yaml:1: inference.workers: must be a whole number, got 1.5"),
        ("http: 8080\n", "gateway.yaml:1: http: must be a section of keys (key: value), got 8080"),
        # (pydantic: "Unable to parse input string as an integer, exceeded maximum size")
        ("http: {port: 1e30}\n", "gateway.yaml:1: http.port: is too large for a whole number, got 1e+30"),
        # (pydantic: "String should have at least 1 character", "Field required")
        ("http: {host: ''}\n", "gateway.yaml:1: http.host: must not be empty"),
        ("cameras: [{url: rtsp://127.0.0.1/gate}]\n", "gateway.yaml:1: cameras[0].id: is required"),
        # (pydantic: "Input is not a valid path for <class 'pathlib.Path'>")
        ("state_dir: 2026\n", "gateway.yaml:1: state_dir: must be a path (a text), got 2026"),
        (
            "models: {repository: [a, b]}\n",
            "gateway.yaml:1: models.repository: must be a path (a text), got ['a', 'b']",
        ),
        (
            CAMERA + "    detect_fps: {every: 2, of: the, frames: [1, 2, 3, 4, 5, 6]}\n",
            # shortened to 40 characters
            "gateway.yaml:4: cameras[0].detect_fps: must be a number, "
            "got {'every': 2, 'of': 'the', 'frames': [...",
        ),
        # (Python's own: "got datetime.date(2026, 1, 1)"; YAML reads an unquoted date as one)
        (
            "mqtt: {url: 2026-01-01}\n",
            "gateway.yaml:1: mqtt.url: must be a text, got the date 2026-01-01 (quoted, it would be a text)",
        ),
        (
            "mqtt: {url: 'mqtt://127.0.0.1', protocol: 2026-01-01T00:00:00Z}\n",
            "gateway.yaml:1: mqtt.protocol: must be '5' or '3.1.1', got the time 2026-01-01T00:00:00+00:00 "
            "(quoted, it would be a text)",
        ),
        # (pydantic: "Keys should be strings")
        ("1: 2\n", "gateway.yaml:1: [1]: a key must be a text, got 1"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_what_it_must_be_and_what_was_written(
    text: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "gateway.yaml")
    assert problem in [str(item) for item in raised.value.problems]


def test_a_value_holding_a_url_is_named_by_its_kind_not_written(tmp_path: Path) -> None:
    # A URL may carry a user and password; cut to 40 characters, no redaction would find them
    text = CAMERA.replace(
        "url: rtsp://127.0.0.1/gate", "url: [rtsp://admin:hunter2@10.0.0.1/a-long-stream-path]"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "gateway.yaml")
    assert [str(item) for item in raised.value.problems] == [
        "gateway.yaml:3: cameras[0].url: must be a text, got a list holding a URL"
    ]


def test_serve_prints_a_config_problem_without_the_credentials_it_quotes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CAMERA + "    detect_fps: rtsp://admin:hunter2@10.0.0.1/a\n")
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "got the string 'rtsp://***@10.0.0.1/a'" in err, err


def test_a_quoted_url_cut_short_loses_its_user_info_before_the_cut() -> None:
    # Cut at 40 characters short of its '@', the password was printed in part, past any redaction
    text = CAMERA + '    detect_fps: "rtsp://administrator:averyveryverylongsecretpassword@10.0.0.1/a"\n'
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "gateway.yaml")
    assert [str(item) for item in raised.value.problems] == [
        "gateway.yaml:4: cameras[0].detect_fps: expected a number, got the string 'rtsp://10.0.0.1/a': "
        "write numbers without quotes"
    ]
