"""Values that validate must work at run time: durations have upper bounds, zones enclose an area,
MQTT and camera URLs name a port that exists and a source the camera reader opens."""

from __future__ import annotations

import inspect
import math
import re
import threading
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

import gateway.config
from gateway.cli import main
from gateway.config import CameraConfig, MqttConfig, ZoneConfig, parse_config
from gateway.errors import ConfigError
from gateway.ingest.urls import source_kind

INT32_MILLISECONDS_S = (2**31 - 1) / 1000


def _upper_bounds(field: FieldInfo) -> list[float]:
    constraints = list(field.metadata)
    for member in get_args(field.annotation):  # Interval | None keeps its bound inside the union
        if get_origin(member) is Annotated:
            for extra in get_args(member)[1:]:
                constraints += extra.metadata if isinstance(extra, FieldInfo) else [extra]
    bounds: list[Any] = [c.le for c in constraints if isinstance(c, annotated_types.Le)]
    bounds += [c.lt for c in constraints if isinstance(c, annotated_types.Lt)]
    return [float(bound) for bound in bounds]


def _duration_fields() -> list[tuple[str, float | None]]:
    found = []
    for name, model in vars(gateway.config).items():
        if not (inspect.isclass(model) and issubclass(model, BaseModel)):
            continue
        for field_name, field in model.model_fields.items():
            scale = 1.0 if field_name.endswith("_s") else 0.001 if field_name.endswith("_ms") else None
            if scale is not None and not field_name.endswith("_per_s"):
                bounds = _upper_bounds(field)
                found.append((f"{name}.{field_name}", min(bounds) * scale if bounds else None))
    return found


def test_every_duration_has_an_upper_bound_a_thread_can_wait() -> None:
    durations = dict(_duration_fields())
    assert "CameraConfig.open_timeout_s" in durations
    assert "InferenceConfig.max_queue_delay_ms" in durations
    unbounded = sorted(name for name, bound in durations.items() if bound is None)
    assert unbounded == []
    too_long = sorted(
        name for name, bound in durations.items() if bound is not None and bound > threading.TIMEOUT_MAX
    )
    assert too_long == []


def test_camera_timeouts_fit_opencvs_int32_milliseconds() -> None:
    for name in ("open_timeout_s", "read_timeout_s"):
        assert max(_upper_bounds(CameraConfig.model_fields[name])) <= INT32_MILLISECONDS_S


CAMERA = "cameras:\n  - id: gate\n    url: rtsp://127.0.0.1/gate\n"


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (CAMERA + "    open_timeout_s: 3000000\n", r"cameras\[0\]\.open_timeout_s"),
        (CAMERA + "    read_timeout_s: 3000000\n", r"cameras\[0\]\.read_timeout_s"),
        (CAMERA + "    reconnect_min_s: 1e10\n    reconnect_max_s: 1e10\n", r"cameras\[0\]\.reconnect_min_s"),
        (CAMERA + "    reconnect_max_s: 1e10\n", r"cameras\[0\]\.reconnect_max_s"),
        (CAMERA + "    max_frame_age_s: 1e10\n", r"cameras\[0\]\.max_frame_age_s"),
        (CAMERA + "    detect_fps: 1e-300\n", r"cameras\[0\]\.detect_fps"),
        (CAMERA + "    tracker: {max_lost_s: 1e10}\n", r"cameras\[0\]\.tracker\.max_lost_s"),
        (CAMERA + "    motion: {hold_s: 1e10}\n", r"cameras\[0\]\.motion\.hold_s"),
        (
            CAMERA + "    model: m\n    rules: [{name: r, cooldown_s: 1e10}]\n",
            r"cameras\[0\]\.rules\[0\]\.cooldown_s",
        ),
        (CAMERA + "    anomaly: {model: a, max_event_s: 1e10}\n", r"cameras\[0\]\.anomaly\.max_event_s"),
        ("models: {poll_interval_s: 1e10}\n", r"models\.poll_interval_s"),
        ("inference: {stuck_after_s: 1e10}\n", r"inference\.stuck_after_s"),
        ("inference: {max_queue_delay_ms: 1e13}\n", r"inference\.max_queue_delay_ms"),
        ("admission: {max_queue_wait_ms: 1e13}\n", r"admission\.max_queue_wait_ms"),
        ("mqtt: {url: 'mqtt://127.0.0.1', reconnect_max_s: 1e10}\n", r"mqtt\.reconnect_max_s"),
        ("mqtt: {url: 'mqtt://127.0.0.1', keepalive_s: 100000}\n", r"mqtt\.keepalive_s"),
        ("outbox: {retention_s: 1e12}\n", r"outbox\.retention_s"),
        ("health: {camera_down_after_s: 1e10}\n", r"health\.camera_down_after_s"),
    ],
)
def test_a_duration_too_long_to_use_is_refused_by_name(text: str, path: str) -> None:
    with pytest.raises(ConfigError, match=rf"gateway.yaml:\d+: {path}: must be at (most|least) "):
        parse_config(text, "gateway.yaml")


def test_the_longest_allowed_durations_are_accepted() -> None:
    text = CAMERA + (
        "    open_timeout_s: 3600\n    read_timeout_s: 3600\n    reconnect_max_s: 86400\n"
        "    tracker: {max_lost_s: 3600}\n"
        "models: {poll_interval_s: 86400}\n"
        "mqtt: {url: 'mqtt://127.0.0.1', reconnect_max_s: 86400, keepalive_s: 65535}\n"
    )
    config = parse_config(text)
    assert config.cameras[0].open_timeout_s == 3600
    assert config.models.poll_interval_s == 86400


@pytest.mark.parametrize(
    ("polygon", "problem"),
    [
        ([[0, 0], [0.5, 0.5], [1, 1]], "has no area"),
        ([[0.5, 0.5]] * 3, "has no area"),
        ([[0, 0], [0.25, 0.25], [0.5, 0.5], [1, 1]], "has no area"),
        ([[0.5, 0.5], [0.5, 0.5], [0.6, 0.6], [0.6, 0.6]], "has no area"),
        ([[0, 0], [1, 1], [1, 0], [0, 1]], r"crosses itself: the edge \[0, 0\]-\[1, 1\] meets the edge"),
        ([[0, 0], [1, 0], [0.5, 0], [0.5, 1]], "crosses itself"),
        ([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0.5], [1, 0.5]], "crosses itself"),
    ],
)  # fmt: skip
def test_a_zone_that_can_contain_nothing_is_refused(polygon: list[list[float]], problem: str) -> None:
    with pytest.raises(ValidationError, match=rf"zone 'yard' {problem}"):
        ZoneConfig.model_validate({"name": "yard", "polygon": polygon})


@pytest.mark.parametrize(
    "polygon",
    [
        [[0.1, 0.5], [0.9, 0.5], [0.9, 1]],
        [[0, 0], [1, 0], [1, 1], [0, 1]],
        [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]],  # closed by repeating the first point
        [[0, 0], [1, 0], [1, 0], [1, 1], [0, 1]],  # a double click
        [[0, 0], [1, 0], [1, 1], [0.5, 0.2], [0, 1]],  # concave
    ],
)
def test_zones_that_enclose_an_area_are_accepted(polygon: list[list[float]]) -> None:
    assert ZoneConfig.model_validate({"name": "yard", "polygon": polygon}).name == "yard"


def test_a_degenerate_zone_in_a_file_points_at_its_line() -> None:
    text = CAMERA + "    zones: [{name: yard, polygon: [[0, 0], [0.5, 0.5], [1, 1]]}]\n"
    with pytest.raises(
        ConfigError, match=r"gateway.yaml:4: cameras\[0\]\.zones\[0\]: zone 'yard' has no area"
    ):
        parse_config(text, "gateway.yaml")


def test_a_zone_has_at_most_100_vertices() -> None:
    ring = [[0.5 + 0.4 * x, 0.5 + 0.4 * y] for x, y in _circle(101)]
    with pytest.raises(ValidationError, match="at most 100 items"):
        ZoneConfig.model_validate({"name": "yard", "polygon": ring})
    assert len(ZoneConfig.model_validate({"name": "yard", "polygon": ring[:100]}).polygon) == 100


def _circle(count: int) -> list[tuple[float, float]]:
    return [
        (math.cos(2 * math.pi * index / count), math.sin(2 * math.pi * index / count))
        for index in range(count)
    ]


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("mqtt://127.0.0.1:99999", "'99999'"),
        ("mqtt://127.0.0.1:abc", "'abc'"),
        ("mqtts://broker.example:0", "'0'"),
        ("mqtt://[::1]:70000", "'70000'"),
    ],
)
def test_an_mqtt_url_with_a_bad_port_is_refused_naming_it(url: str, port: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"g.yaml:1: mqtt\.url: {re.escape(url)}: port {port} is not a number"
    ):
        parse_config(f"mqtt: {{url: '{url}'}}\n", "g.yaml")


def test_a_bad_mqtt_url_is_shown_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("mqtt: {url: 'mqtt://user:secret@127.0.0.1:99999'}\n")
    assert "secret" not in str(caught.value)
    assert "mqtt://127.0.0.1:99999" in str(caught.value)


@pytest.mark.parametrize("delimiter", ["/", "?", "#"])
def test_a_password_urlsplit_cuts_short_is_never_shown(delimiter: str) -> None:
    # urlsplit ends the host part at the delimiter: the "host" and "port" it read were the user
    # name and a piece of the password, which the message once showed.
    for section in (f"cameras: [{{id: c, url: 'rtsp://admin:p4ss{delimiter}w0rd@10.0.0.5/s'}}]",
                    f"mqtt: {{url: 'mqtt://admin:p4ss{delimiter}w0rd@127.0.0.1:1883'}}"):  # fmt: skip
        with pytest.raises(ConfigError, match="percent-encode") as caught:
            parse_config(section + "\n", "g.yaml")
        assert "p4ss" not in str(caught.value)
        assert "w0rd" not in str(caught.value)


def test_the_mqtt_backoff_starts_below_its_cap() -> None:
    with pytest.raises(ConfigError, match=r"g.yaml:1: mqtt: reconnect_min_s must not exceed reconnect_max_s"):
        parse_config("mqtt: {url: 'mqtt://127.0.0.1', reconnect_min_s: 60, reconnect_max_s: 30}\n", "g.yaml")


def test_the_batcher_forms_no_batch_a_model_yaml_could_not_declare() -> None:
    with pytest.raises(ConfigError, match=r"inference\.max_batch_size: must be at most 1024, got "):
        parse_config("inference: {max_batch_size: 1000000}\n")


@pytest.mark.parametrize("url", ["mqtt://127.0.0.1", "mqtts://broker.example:8883", "mqtt://[::1]:1883"])
def test_mqtt_urls_with_good_ports_pass(url: str) -> None:
    assert MqttConfig(url=url).url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "the camera url is empty"),
        ("  ", "the camera url is empty"),
        ("ftp://x/y", "scheme 'ftp' is not one the reader opens"),
        ("udp://239.0.0.1:5000", "scheme 'udp' is not one the reader opens"),
        (
            "rtsp://127.0.0.1:99999/x",
            r"rtsp://127.0.0.1:99999/x: port '99999' is not a number from 1 to 65535",
        ),
        ("rtsp://user:secret@127.0.0.1:abc/x", r"rtsp://127.0.0.1:abc/x: port 'abc'"),
        ("http://cam:0/video.mjpg", "port '0'"),
        ("rtsp:///stream1", "has no host"),
        ("file://clip.mp4", "has no path"),
        ("http://[::1/x", "not a valid URL"),
    ],
)
def test_a_camera_url_the_reader_cannot_open_is_refused_at_its_line(url: str, problem: str) -> None:
    text = f"cameras:\n  - id: gate\n    url: '{url}'\n"
    with pytest.raises(ConfigError, match=rf"gateway.yaml:3: cameras\[0\]\.url: .*{problem}") as caught:
        parse_config(text, "gateway.yaml")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://user:pass@10.0.0.5/stream1",
        "rtsps://10.0.0.5:322/stream1",
        "RTSP://10.0.0.5:554/stream1",
        "http://10.0.0.5/video.mjpg",
        "https://10.0.0.5:8443/video.mjpg",
        "file:///srv/gate.mp4",
        "/srv/gate.mp4",
        "gate.mp4",
        "clips/gate:1.mp4",
        "./gate:1.mp4",
    ],
)
def test_camera_urls_the_reader_opens_are_accepted(url: str) -> None:
    assert CameraConfig.model_validate({"id": "gate", "url": url}).url == url


def test_a_gstreamer_camera_may_use_any_scheme_its_pipeline_takes() -> None:
    camera: dict[str, Any] = {"id": "gate", "url": "udp://239.0.0.1:5000", "decoder": "gstreamer"}
    camera["gstreamer_pipeline"] = "udpsrc uri={url} ! decodebin ! videoconvert ! appsink"
    assert CameraConfig.model_validate(camera).url == "udp://239.0.0.1:5000"
    with pytest.raises(ValidationError, match="port '99999'"):
        CameraConfig.model_validate({**camera, "url": "rtsp://127.0.0.1:99999/x"})


@pytest.mark.parametrize("url", ["ftp://x/y", "rtmp://10.0.0.5/live", "v4l2:///dev/video0"])
def test_the_schemes_refused_are_ones_the_reader_would_take_for_a_missing_file(url: str) -> None:
    # gateway/ingest/urls.py: a scheme it does not know is a file path ("no such video file: ftp://x/y")
    assert source_kind(url) == "file"
    with pytest.raises(ValidationError, match="is not one the reader opens"):
        CameraConfig.model_validate({"id": "gate", "url": url})


def test_check_config_reports_a_bad_camera_url_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("device_id: x\ncameras:\n  - id: gate\n    url: 'rtsp://127.0.0.1:99999/x'\n")
    assert main(["check-config", str(path)]) == 2
    assert f"{path}:4: cameras[0].url: rtsp://127.0.0.1:99999/x: port '99999'" in capsys.readouterr().err
