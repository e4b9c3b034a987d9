"""A name the config refuses is refused in words: the person who wrote ``name: yard zone`` is told
what a name may hold, not handed a regular expression."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import AuditConfig, ZoneConfig, parse_config
from gateway.errors import ConfigError

NAME_RULE = "1 to 64 ASCII letters, digits, '_', '.' or '-', starting with a letter or digit"
POLYGON = "[[0.1, 0.5], [0.9, 0.5], [0.9, 1], [0.1, 1]]"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("config", "key", "value"),
    [
        ("device_id: 'jetson 01'\n", "device_id", "jetson 01"),
        ("cameras: [{id: -gate, url: /clip.mp4}]\n", "cameras[0].id", "-gate"),
        (
            f"cameras: [{{id: gate, url: /clip.mp4, zones: [{{name: 'yard zone', polygon: {POLYGON}}}]}}]\n",
            "cameras[0].zones[0].name",
            "yard zone",
        ),
        (
            "cameras: [{id: gate, url: /clip.mp4, "
            "lines: [{name: 'door/1', points: [[0.5, 0], [0.5, 1]], in_direction: [1, 0]}]}]\n",
            "cameras[0].lines[0].name",
            "door/1",
        ),
        ("cameras: [{id: gate, url: /clip.mp4, rules: [{name: 'é'}]}]\n", "cameras[0].rules[0].name", "é"),
        (f"device_id: {'a' * 65}\n", "device_id", "a" * 40 + "..."),
    ],
)
def test_a_refused_name_is_explained_in_words(config: str, key: str, value: str) -> None:
    problems = _problems(config)

    assert problems == [f"gateway.yaml:1: {key}: {value!r} is not a valid name: a name is {NAME_RULE}"]


def test_a_name_ending_in_a_newline_is_refused() -> None:
    # Python's '$' matches before a final newline; the name would then break the log line it is in.
    problems = _problems('device_id: "gate\\n"\n')

    assert problems == [f"gateway.yaml:1: device_id: 'gate\\n' is not a valid name: a name is {NAME_RULE}"]


def test_every_character_a_name_may_hold_is_taken() -> None:
    config = parse_config("device_id: Gate_01.north-2\n")

    assert config.device_id == "Gate_01.north-2"


def test_the_console_editor_reads_the_same_words() -> None:
    # The geometry editor validates a zone with ZoneConfig and answers the message in its 400.
    with pytest.raises(ValidationError) as caught:
        ZoneConfig.model_validate({"name": "yard zone", "polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 1]]})

    message = caught.value.errors()[0]["msg"]
    assert message == f"Value error, 'yard zone' is not a valid name: a name is {NAME_RULE}"


def test_a_model_name_is_explained_in_words() -> None:
    problems = _problems("cameras: [{id: gate, url: /clip.mp4, model: 'person detector:2'}]\n")

    assert problems == [
        f"gateway.yaml:1: cameras[0].model: model reference 'person detector:2': a model name is {NAME_RULE}"
    ]


def test_a_topic_prefix_is_explained_in_words() -> None:
    problems = _problems("mqtt: {url: 'mqtt://127.0.0.1', topic_prefix: edge/+}\n")

    assert problems == [
        "gateway.yaml:1: mqtt.topic_prefix: 'edge/+' is not a valid MQTT topic prefix: it must be not "
        "empty, not starting with '/', and without the MQTT wildcards '#' and '+'"
    ]


def test_the_audit_service_names_are_explained_in_words() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "mqtt: {url: 'mqtt://127.0.0.1'}\nkeys_file: keys.yaml\nshare_group: 'audit group'\n",
            "audit.yaml",
            AuditConfig,
        )

    assert [str(problem) for problem in caught.value.problems] == [
        f"audit.yaml:3: share_group: 'audit group' is not a valid name: a name is {NAME_RULE}"
    ]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "device_id: 2026-01-01\n",
            "gateway.yaml:1: device_id: expected a name, got the date 2026-01-01: quote it to use it as a "
            "name",
        ),
        (
            "cameras: [{id: 7, url: /clip.mp4}]\n",
            "gateway.yaml:1: cameras[0].id: expected a name, got the number 7: quote it to use it as a name",
        ),
        (
            "device_id: on\n",
            "gateway.yaml:1: device_id: expected a name, got the boolean true (in YAML, unquoted yes, no, on "
            "and off are booleans too): quote it",
        ),
    ],
    ids=["date", "number", "boolean"],
)
def test_a_name_yaml_reads_as_another_type_is_told_to_be_quoted(config: str, expected: str) -> None:
    assert _problems(config) == [expected]


def test_a_quoted_number_is_a_name() -> None:
    assert (
        parse_config("device_id: '2026-01-01'\ncameras: [{id: '7', url: /clip.mp4}]\n").cameras[0].id == "7"
    )


def test_an_empty_api_host_is_refused() -> None:
    # An empty host binds every address, which no one means by leaving it blank.
    assert _problems("http: {host: ''}\n") == ["gateway.yaml:1: http.host: must not be empty"]
