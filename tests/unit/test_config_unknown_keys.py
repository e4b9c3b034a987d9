"""A key a config section does not have is named with the one likely meant, found by following the
key path through the config models: into lists, optional sections and every member of a union."""

from __future__ import annotations

import pytest

from gateway.config.gateway import GatewayConfig
from gateway.config.loading import parse_config
from gateway.config.service import AuditConfig
from gateway.config.unknown_keys import keys_at, unknown_key_message
from gateway.errors import ConfigError

CAMERA = "cameras:\n  - id: gate\n    url: rtsp://127.0.0.1/gate\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("devise_id: a\n", "g.yaml:1: devise_id: unknown key; did you mean 'device_id'?"),
        ("inference: {worker: 2}\n", "g.yaml:1: inference.worker: unknown key; did you mean 'workers'?"),
        (
            CAMERA + "    detect_fp: 2\n",
            "g.yaml:4: cameras[0].detect_fp: unknown key; did you mean 'detect_fps'?",
        ),
        (
            CAMERA + "    rules: [{name: r, type: loiter, labels: [p], zone: [y], min_s: 3}]\n",
            "g.yaml:4: cameras[0].rules[0].zone: unknown key; did you mean 'zones'?",
        ),
        (
            CAMERA + "    rules: [{name: r, type: loiter, labels: [p], zones: [y], min_secs: 3}]\n",
            "g.yaml:4: cameras[0].rules[0].min_secs: unknown key; did you mean 'min_s'?",
        ),
        (
            "mqtt: {url: 'mqtt://127.0.0.1', topic_prefx: e}\n",
            "g.yaml:1: mqtt.topic_prefx: unknown key; did you mean 'topic_prefix'?",
        ),
        # Nothing close: the key alone is named, no guess offered
        (
            CAMERA + "    rules: [{name: r, kind: loiter}]\n",
            "g.yaml:4: cameras[0].rules[0].kind: unknown key",
        ),
        ("colour: red\n", "g.yaml:1: colour: unknown key"),
    ],
)
def test_an_unknown_key_is_named_with_the_key_likely_meant(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "g.yaml")
    rendered = [str(each) for each in caught.value.problems]
    assert problem in rendered
    if not problem.endswith("?"):
        assert not any("did you mean" in line for line in rendered)


def test_the_keys_of_a_union_are_every_member_s() -> None:
    rule_keys = keys_at(GatewayConfig, ("cameras", 0, "rules", 0))
    # presence's min_frames, line_crossing's line, count's min_count: one list holds every rule type
    assert {"name", "labels", "zones", "min_frames", "line", "direction", "min_count", "min_s"} <= rule_keys
    assert "url" not in rule_keys


def test_the_keys_of_another_config_model_are_its_own() -> None:
    assert unknown_key_message(AuditConfig, ("bounds", "held_image")) == (
        "unknown key; did you mean 'held_images'?"
    )
    assert keys_at(GatewayConfig, ("no_such_section",)) == set()
    assert unknown_key_message(GatewayConfig, ()) == "unknown key"
