"""Numbers in the config are written as numbers: a boolean (``true``, or YAML's unquoted ``yes``) or a
string (a quoted ``"0.5"``) where a number belongs is a problem at its file:line, never read as 1.0 or
0.5; an int where a float belongs is taken, and so is ``1e-3`` (a string to YAML 1.1)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import pytest
from pydantic import BaseModel, BeforeValidator

import gateway.config
from gateway.cli import main
from gateway.config import GatewayConfig, parse_config
from gateway.config.fields import Integer, Number
from gateway.errors import ConfigError

CAMERA = """\
cameras:
  - id: gate
    url: rtsp://10.0.0.5/stream1
    model: person-detector
"""
ZONE = "    zones: [{name: yard, polygon: [%s, [0.9, 0.5], [0.9, 1], [0.1, 1]]}]\n"
LINE = "    lines: [{name: door, points: [%s, [0.5, 1.0]], in_direction: %s}]\n"
BOOLEAN = "expected a number, got the boolean true (in YAML, unquoted yes, no, on and off are booleans too)"


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (CAMERA + ZONE % "[true, 0.5]", "5: cameras[0].zones[0].polygon[0][0]", BOOLEAN),
        (CAMERA + ZONE % "[yes, 0.5]", "5: cameras[0].zones[0].polygon[0][0]", BOOLEAN),
        (
            CAMERA + ZONE % "[0.1, off]",
            "5: cameras[0].zones[0].polygon[0][1]",
            "expected a number, got the boolean false",
        ),
        (
            CAMERA + ZONE % '["0.5", 0.2]',
            "5: cameras[0].zones[0].polygon[0][0]",
            "expected a number, got the string '0.5': write numbers without quotes",
        ),
        (CAMERA + LINE % ("[true, 0.0]", "[1, 0]"), "5: cameras[0].lines[0].points[0][0]", BOOLEAN),
        (
            CAMERA + LINE % ("[0.5, 0.0]", "['1', 0]"),
            "5: cameras[0].lines[0].in_direction[0]",
            "expected a number, got the string '1'",
        ),
        (CAMERA + LINE % ("[0.5, 0.0]", "[0, on]"), "5: cameras[0].lines[0].in_direction[1]", BOOLEAN),
        (
            CAMERA + "    detect_fps: '5'\n",
            "5: cameras[0].detect_fps",
            "expected a number, got the string '5'",
        ),
        (CAMERA + "    motion: {min_area: yes}\n", "5: cameras[0].motion.min_area", BOOLEAN),
        (CAMERA + "    motion: {width: yes}\n", "5: cameras[0].motion.width", BOOLEAN),
        (
            CAMERA + "    rules:\n      - {name: r, min_score: '0.5', min_frames: true}\n",
            "6: cameras[0].rules[0].min_score",
            "expected a number, got the string '0.5'",
        ),
        (
            CAMERA + "    rules:\n      - {name: r, min_frames: true}\n",
            "6: cameras[0].rules[0].min_frames",
            BOOLEAN,
        ),
        (
            CAMERA + "    tracker: {max_lost_s: '2'}\n",
            "5: cameras[0].tracker.max_lost_s",
            "expected a number, got the string '2'",
        ),
        ("http:\n  port: '8080'\n", "2: http.port", "expected a number, got the string '8080'"),
        ("inference: {workers: yes}\n", "1: inference.workers", BOOLEAN),
        ("admission: {high_watermark: on}\n", "1: admission.high_watermark", BOOLEAN),
        (
            "outbox: {evidence: {jpeg_quality: '85'}}\n",
            "1: outbox.evidence.jpeg_quality",
            "expected a number, got the string '85'",
        ),
    ],
)
def test_a_boolean_or_a_string_where_a_number_belongs_is_refused_at_its_line(
    text: str, where: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    assert f"gateway.yaml:{where}: {problem}" in str(caught.value)


def test_a_long_string_is_shown_cut_short() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"http: {{port: '{'8' * 5000}'}}\n", "gateway.yaml")
    assert f"expected a number, got the string '{'8' * 40}...'" in str(caught.value)
    assert len(str(caught.value)) < 200


def test_ints_and_exponents_are_numbers() -> None:
    config = parse_config(
        CAMERA
        + ZONE % "[0, 0]"
        + LINE % ("[1, 0]", "[-1, 0]")
        + "    detect_fps: 2\n    motion: {min_area: 1e-3, hold_s: 1.5e1}\n",
        "gateway.yaml",
    )
    assert isinstance(config, GatewayConfig)
    [camera] = config.cameras
    assert camera.zones[0].polygon[0] == (0.0, 0.0)
    assert camera.lines[0].points[0] == (1.0, 0.0)
    assert camera.lines[0].in_direction == (-1.0, 0.0)
    assert camera.detect_fps == 2.0
    assert (camera.motion.min_area, camera.motion.hold_s) == (0.001, 15.0)


def test_check_config_reports_a_quoted_coordinate_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(CAMERA + ZONE % "['0.1', 0.5]")
    assert main(["check-config", str(path)]) == 2
    assert f"{path}:5: cameras[0].zones[0].polygon[0][0]: expected a number, got the string '0.1'" in (
        capsys.readouterr().err
    )
    path.write_text(CAMERA + ZONE % "[0.1, 0.5]")
    assert main(["check-config", str(path)]) == 0


def _refusal(annotation: Any) -> Any:
    return next(item.func for item in get_args(annotation)[1:] if isinstance(item, BeforeValidator))


REFUSALS = (_refusal(Number), _refusal(Integer))
"""The check Number and Integer put before pydantic's own."""


def _guarded(metadata: Sequence[Any]) -> bool:
    return any(isinstance(item, BeforeValidator) and item.func in REFUSALS for item in metadata)


def _unguarded_number(annotation: Any, metadata: Sequence[Any] = ()) -> bool:
    """Whether ``annotation`` holds an int or float, at any depth, without Number's or Integer's check."""
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        return _unguarded_number(inner, [*metadata, *extra])
    if annotation in (int, float):
        return not _guarded(metadata)
    return any(_unguarded_number(argument) for argument in get_args(annotation))


def test_every_number_in_the_config_refuses_booleans_and_strings() -> None:
    # A field added later as a plain float or int would take true for 1 again.
    unguarded = [
        f"{name}.{field_name}"
        for name, model in vars(gateway.config).items()
        if inspect.isclass(model) and issubclass(model, BaseModel)
        for field_name, field in model.model_fields.items()
        if _unguarded_number(field.annotation, field.metadata)
    ]
    assert unguarded == []
    assert _unguarded_number(tuple[float, float])
    assert _unguarded_number(int | None)
    assert not _unguarded_number(tuple[Number, Number])
