"""A config text holding a lone surrogate (a double-quoted ``"\\ud800"`` escape, or an environment's
undecodable bytes) is refused at load, naming its key and line. Accepted, it was a traceback where it
was used: the MQTT client took a username (``check-config`` and ``serve`` alike), a path was opened,
and a topic prefix left ``audit serve`` running without subscribing, after ``check-config`` said "ok"."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import AuditConfig, parse_config
from gateway.config.loading import load_audit_config
from gateway.errors import ConfigError

AUDIT = 'mqtt: {url: "mqtt://127.0.0.1:1883"}\nkeys_file: keys.yaml\n'
REFUSED = "which UTF-8 text cannot carry: write the character itself or one \\U escape"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'mqtt: {url: "mqtt://127.0.0.1:1883", username: "gate\\ud800"}\nkeys_file: keys.yaml\n',
            "audit.yaml:1: mqtt.username: 'gate\\ud800' holds a lone surrogate (\\ud800), ",
        ),
        (
            AUDIT.replace("}", ', topic_prefix: "\\udcff"}'),
            "audit.yaml:1: mqtt.topic_prefix: '\\udcff' holds a lone surrogate (\\udcff), ",
        ),
        (
            'mqtt: {url: "mqtt://127.0.0.1:1883"}\nkeys_file: "/etc/\\ud83d\\ude00.yaml"\n',
            "audit.yaml:2: keys_file: '/etc/\\ud83d\\ude00.yaml' holds a lone surrogate (\\ud83d), ",
        ),
        (
            AUDIT + 'http:\n  "p\\ud800rt": 1\n',
            "audit.yaml:3: http: the key 'p\\ud800rt' holds a lone surrogate",
        ),
        (
            AUDIT + 'http:\n  host: 127.0.0.1\n  tokens_file: [a, "\\ud800"]\n',
            "audit.yaml:5: http.tokens_file[1]: '\\ud800' holds a lone surrogate",
        ),
    ],
)
def test_a_text_holding_a_lone_surrogate_is_refused_at_its_key(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "audit.yaml", AuditConfig)
    said = [str(item) for item in raised.value.problems]
    assert any(item.startswith(problem) for item in said), said
    assert all(REFUSED in item for item in said if "surrogate" in item)


def test_a_long_text_is_quoted_shortened() -> None:
    text = AUDIT.replace("}", f', username: "{"x" * 60}\\ud800"}}')
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "audit.yaml", AuditConfig)
    assert str(raised.value).startswith(
        f"audit.yaml:1: mqtt.username: '{'x' * 37}...' holds a lone surrogate"
    )


def test_a_url_is_quoted_without_its_user_info_or_query() -> None:
    text = 'mqtt: {url: "mqtt://gate:s3cret\\ud800@127.0.0.1:1883/?token=t0ken"}\nkeys_file: keys.yaml\n'
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "audit.yaml", AuditConfig)
    said = str(raised.value)
    assert "s3cret" not in said
    assert "t0ken" not in said
    assert said.startswith("audit.yaml:1: mqtt.url: 'mqtt://127.0.0.1:1883/' holds a lone surrogate")


def test_a_variable_whose_value_holds_a_lone_surrogate_is_refused(tmp_path: Path) -> None:
    # Given a state directory whose name is bytes the locale cannot decode (Python's surrogateescape)
    path = tmp_path / "gateway.yaml"
    path.write_text("state_dir: ${STATE_DIRECTORY}/gateway\n")
    with pytest.raises(ConfigError) as raised:
        parse_config(path.read_text(), str(path), environment={"STATE_DIRECTORY": "/var/lib/\udcffgate"})
    assert str(raised.value).startswith(f"{path}:1: state_dir: '/var/lib/\\udcffgate/gateway' holds")


def test_texts_of_any_script_and_escapes_of_whole_characters_load(tmp_path: Path) -> None:
    path = tmp_path / "audit.yaml"
    path.write_text(AUDIT.replace("}", ', username: "\\U0001F600 人", topic_prefix: "ca\\u00f1on"}'))
    config = load_audit_config(path, {})
    assert (config.mqtt.username, config.mqtt.topic_prefix) == ("\U0001f600 人", "cañon")
