"""A device id the keys file's errors name can be pasted back into the keys file as that very id.

They showed it as Python's repr does (``'box\\x01'``); in YAML's single quotes a backslash is
itself, so the pasted id was another device (``box\\x01`` spelled out, four characters more) whose
alerts never arrive. The id is now shown in double quotes with JSON's escapes, which YAML reads alike.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gateway.audit.keys_file import load_keys, no_key
from gateway.errors import AuditError

KEY = bytes(range(32))
IDS = [
    "box-1",
    "back\\slash",
    'say "cheese"',
    "it's",
    "caf\u00e9-\u4e2d",
    "no\u00a0break",
    "separator\u2028",
    "right-to-left\u202e",
    "tag\U000e0001",
    "smile\U0001f600",
]


def shown_id(message: str, pattern: str) -> str:
    """The device id as ``message`` shows it, where ``pattern`` has ``(.+)``."""
    found = re.search(pattern, message)
    assert found is not None, message
    return found.group(1)


def pasted_back(path: Path, shown: str) -> dict[str, tuple[bytes, ...]]:
    """The keys file that lists the id as shown, with a good key, as read."""
    path.write_text(f"{shown}: {KEY.hex()}\n", encoding="utf-8")
    return load_keys(path)


@pytest.mark.parametrize("device_id", IDS)
def test_the_id_a_bad_key_is_named_with_pastes_back_as_itself(tmp_path: Path, device_id: str) -> None:
    # Given a keys file written by a YAML emitter, the device's key not hex
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump({device_id: "not-hex"}), encoding="utf-8")

    # When it is read, then the error names the device on one line
    with pytest.raises(AuditError) as refused:
        load_keys(path)
    message = str(refused.value)
    assert message.isprintable()
    shown = shown_id(message, r"the key of device (.+) is not hex$")

    # And that id pasted into the keys file names the same device
    assert pasted_back(path, shown) == {device_id: (KEY,)}


@pytest.mark.parametrize("device_id", IDS)
def test_the_id_a_rejection_for_want_of_a_key_names_pastes_back_as_itself(
    tmp_path: Path, device_id: str
) -> None:
    shown = shown_id(no_key(device_id), r"^no key for device (.+) in the keys file$")
    assert pasted_back(tmp_path / "keys.yaml", shown) == {device_id: (KEY,)}


def test_a_device_named_twice_is_named_as_the_file_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f'"box\\u00a0": {KEY.hex()}\n"box\\u00a0": {KEY.hex()}\n', encoding="utf-8")
    with pytest.raises(AuditError, match=re.escape('device "box\\u00a0" is named twice')):
        load_keys(path)


def test_an_id_no_keys_file_can_list_is_named_as_the_file_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f'"site/box\\u0001": {KEY.hex()}\n', encoding="utf-8")
    with pytest.raises(AuditError, match=re.escape(f'{path}, line 1: device id "site/box\\u0001" cannot')):
        load_keys(path)


@pytest.mark.parametrize("device_id", ["box\x01", "box\ttab", "line\nbreak", "del\x7f", "next\x85line"])
def test_an_id_mqtt_refuses_is_named_as_the_file_writes_it(tmp_path: Path, device_id: str) -> None:
    # Given a keys file written by a YAML emitter listing an id with a control character
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump({device_id: KEY.hex()}), encoding="utf-8")
    with pytest.raises(AuditError) as refused:
        load_keys(path)
    message = str(refused.value)
    assert message.isprintable()
    shown = shown_id(message, r"line 1: device id (.+) cannot be an MQTT topic level")
    # Then the id it names, pasted back, is that id again
    with pytest.raises(AuditError) as again:
        pasted_back(path, shown)
    assert shown_id(str(again.value), r"line 1: device id (.+) cannot be an MQTT topic level") == shown
