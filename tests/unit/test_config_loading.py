"""Reading a config document: every bad document is a ConfigError pointing at its line, never another
exception (SIGHUP, serve and model.yaml loading catch ConfigError only); aliases cannot expand a small
file into a huge one; a key written twice is an error, not a silent "last one wins"."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import GatewayConfig, default_config, holds_no_document, parse_config
from gateway.errors import ConfigError
from gateway.pipeline.config_file import ConfigFile


def _nested_aliases(levels: int, fan_out: int = 9) -> str:
    """The "billion laughs": each level lists the one above ``fan_out`` times."""
    rows = ["l0: &l0 [lol]"]
    rows += [
        f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fan_out)}]" for level in range(1, levels + 1)
    ]
    return "\n".join(rows) + "\n"


BAD_DOCUMENTS = [
    pytest.param("device_id: !!python/object:os.system x\n", 1, "python/object", id="python-tag"),
    pytest.param("? [a, b]\n: 1\n", 1, "unhashable key", id="unhashable-key"),
    pytest.param("device_id: x\nhttp: {port: !!int abc}\n", 2, "!!int", id="bad-int"),
    pytest.param("device_id: !!timestamp 2020-13-45\n", 1, "!!timestamp", id="bad-timestamp"),
    pytest.param("device_id: x\nhttp: " + "[" * 5000 + "\n", 2, "nested more than", id="deep-nesting"),
    pytest.param("device_id: x\ncameras: &a [*a]\n", 2, "contains it", id="alias-cycle"),
    pytest.param("http: &h {<<: *h}\n", 1, "contains it", id="merge-cycle"),
    pytest.param(
        "a: &a " + "[" * 40 + "1" + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n",
        2,
        "nested more than",
        id="deep-through-alias",
    ),
    pytest.param(_nested_aliases(7), 6, "more than 100,000 values", id="billion-laughs"),
    pytest.param("device_id: a\x00b\n", 1, "unacceptable character", id="nul-character"),
    pytest.param("device_id: " + "9" * 5000 + "\n", 1, "!!int", id="huge-int"),
    pytest.param("device_id: a\n---\ndevice_id: b\n", 2, "single document", id="two-documents"),
    # Tags beyond plain data: before, !!binary was read as the text it encodes.
    pytest.param("device_id: x\nstate_dir: !!binary L3Zhcg==\n", 2, "the tag !!binary is not", id="binary"),
    pytest.param("device_id: !!set {a, b}\n", 1, "the tag !!set is not", id="set-tag"),
    pytest.param("device_id: x\ncameras: !!omap [{a: 1}]\n", 2, "the tag !!omap is not", id="omap-tag"),
    pytest.param(
        "device_id: !!python/name:os.system x\n", 1, "!!python/name:os.system is not", id="python-name"
    ),
    pytest.param(
        "device_id: x\nhttp: !local {port: 1}\n", 2, "the tag !local is not", id="custom-mapping-tag"
    ),
    pytest.param("device_id: x\n!key http: {port: 1}\n", 2, "the tag !key is not", id="custom-key-tag"),
    pytest.param("a: &b !x [1]\nc: *b\n", 1, "the tag !x is not", id="tag-behind-alias"),
]


@pytest.mark.parametrize(("text", "line", "problem"), BAD_DOCUMENTS)
def test_a_bad_document_is_a_config_error_at_its_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    rendered = str(caught.value)
    assert rendered.startswith(f"gateway.yaml:{line}: ")
    assert problem in rendered


@pytest.mark.parametrize(("text", "line", "problem"), BAD_DOCUMENTS)
def test_check_config_reports_a_bad_document_and_exits_2(
    text: str, line: int, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    assert f"{path}:{line}: " in capsys.readouterr().err


def test_a_sighup_with_a_bad_document_keeps_the_running_config(tmp_path: Path) -> None:
    # given a running gateway whose file is then edited into a document PyYAML cannot construct
    path = tmp_path / "gateway.yaml"
    path.write_text("device_id: x\nhttp: {port: !!int abc}\n", encoding="utf-8")
    running = default_config(tmp_path)
    applied: list[GatewayConfig] = []
    config_file = ConfigFile(path, lambda: running, applied.append)
    # when it is reloaded, then the reload is refused (logged) rather than raised into the signal handler
    config_file.reload()
    assert applied == []


@pytest.mark.parametrize(
    ("text", "empty"),
    [
        pytest.param("", True, id="nothing"),
        pytest.param("\n  \n", True, id="blank-lines"),
        pytest.param("# written next\n  # indented\n", True, id="comments"),
        pytest.param("\ufeff# a Windows editor's\n", True, id="byte-order-mark"),
        pytest.param("{}\n", False, id="written-empty-mapping"),
        pytest.param("---\n", False, id="document-marker"),
        pytest.param("# cameras follow\ndevice_id: x", False, id="a-setting"),
        pytest.param("device_id: [", False, id="unparsed"),
    ],
)
def test_a_document_of_only_blank_lines_and_comments_holds_none(text: str, empty: bool) -> None:
    # An empty one loads as the defaults; one the parser refuses is left to the load to name
    assert holds_no_document(text) is empty
    if empty:
        assert parse_config(text) == GatewayConfig()


@pytest.mark.parametrize("levels", [7, 8, 20])
def test_nested_aliases_are_refused_at_once_with_little_memory(levels: int) -> None:
    text = _nested_aliases(levels)
    assert len(text) < 1500
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"<config>:6: the document has more than 100,000 values"):
            parse_config(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # before: 7 levels took 17.5 s and 1.2 GB, 8 levels more than 2.3 GB (time is the benchmarks'
    # to bound; the memory says the expansion never happened)
    assert peak < 10 * 1024 * 1024


def test_aliases_within_the_limit_are_expanded_and_problems_keep_a_line() -> None:
    text = (
        "cameras:\n"
        "  - id: gate\n"
        "    url: rtsp://127.0.0.1/gate\n"
        "    zones: &zones [{name: yard, polygon: [[0, 0], [1, 0], [1, 1]]}]\n"
        "  - id: door\n"
        "    url: rtsp://127.0.0.1/door\n"
        "    zones: *zones\n"
    )
    config: GatewayConfig = parse_config(text)
    assert config.cameras[0].zones == config.cameras[1].zones
    # a problem under the alias's second use points at that use
    with pytest.raises(ConfigError, match=r"g.yaml:7: cameras\[1\]\.zones\[0\]\.polygon\[0\]\[0\]"):
        parse_config(text.replace("[[0, 0],", "[[2, 0],"), "g.yaml")


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("device_id: a\ndevice_id: b\n", 2, "'device_id'"),
        ("http: {port: 1, host: 127.0.0.1, port: 2}\n", 1, "'port'"),
        ("cameras:\n  - id: gate\n    url: a.mp4\n    detect_fps: 2\n    detect_fps: 5\n", 5, "'detect_fps'"),
        ("1: a\n01: b\n", 2, "1"),
    ],
)
def test_a_key_written_twice_is_an_error_at_the_repeat(text: str, line: int, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    assert str(caught.value).startswith(f"gateway.yaml:{line}: invalid YAML: key {key} is repeated")


def test_merge_keys_may_still_be_overridden() -> None:
    text = (
        "cameras:\n"
        "  - &gate {id: gate, url: rtsp://127.0.0.1/gate, detect_fps: 2}\n"
        "  - {<<: *gate, id: door}\n"
        "mqtt: {<<: {url: 'mqtt://127.0.0.1', keepalive_s: 60}, keepalive_s: 20}\n"
    )
    config: GatewayConfig = parse_config(text)
    assert [(camera.id, camera.detect_fps) for camera in config.cameras] == [("gate", 2), ("door", 2)]
    assert config.mqtt is not None
    assert config.mqtt.keepalive_s == 20


def test_a_mapping_merged_before_its_own_turn_is_not_taken_for_a_repeat() -> None:
    # "inner" is flattened as the source of "top"'s merge before its own mapping is built
    text = "x: {inner: &inner {<<: {port: 1}, port: 2}}\ntop: {<<: *inner}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    assert "repeated" not in str(caught.value)
    assert "x: unknown key" in str(caught.value)


def test_a_repeated_camera_id_is_named_at_its_line() -> None:
    # Before, the problem named the file alone: "g.yaml: camera ids must be unique: ['gate']".
    text = (
        "cameras:\n"
        "  - id: gate\n"
        "    url: rtsp://127.0.0.1/gate\n"
        "  - id: door\n"
        "    url: rtsp://127.0.0.1/door\n"
        "  - id: gate\n"
        "    url: rtsp://127.0.0.1/other\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "g.yaml")
    assert str(caught.value) == (
        "g.yaml:6: cameras[2].id: camera ids must be unique: 'gate' is also the id of cameras[0]"
    )


def test_a_byte_order_mark_inside_a_key_is_shown() -> None:
    # Two files joined, the second saved with a byte order mark: before, the problem read
    # "g.yaml:2: http: Extra inputs are not permitted", its key looking like the valid one.
    with pytest.raises(ConfigError) as caught:
        parse_config("device_id: a\n\ufeffhttp: {port: 1}\n", "g.yaml")
    assert str(caught.value) == "g.yaml:2: \\ufeffhttp: unknown key; did you mean 'http'?"


def test_a_byte_order_mark_and_crlf_line_ends_read_as_plain_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("\ufeffdevice_id: a\r\n\r\nhttp: {port: x}\r\n", "g.yaml")
    assert str(caught.value).startswith("g.yaml:3: http.port: ")
