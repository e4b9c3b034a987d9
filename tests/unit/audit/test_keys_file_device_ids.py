"""A device id in the keys file that no alert or fleet page could ever name is refused when the file
is read, naming the id, its line and why, never the key.

- An MQTT topic level (``{prefix}/{device_id}/alerts``): an id holding ``/``, ``+`` or ``#`` (or
  empty, or with a NUL) can never be what a topic names, so its device's alerts were all refused as
  ``unknown_device`` while its key sat in the file, without a word at start; nor one holding a
  control character or a Unicode noncharacter, which MQTT asks topics not to hold (mosquitto drops
  the client that publishes one: the reload said "added" and no alert ever came).
- A URL: an id longer than 1,024 bytes (percent-encoded, three bytes each) passes the HTTP API's
  8,190 bytes of request line, and no PostgreSQL index holds it.
- A URL path step: a browser (and any HTTP client following the URL standard) resolves
  ``/v1/devices/..`` to ``/v1/``, and ``%2E%2E`` the same way, so the fleet page could never open a
  device named ``.`` or ``..``.
- Valid Unicode: a lone surrogate (YAML's ``"\\ud800"``) can be no UTF-8 MQTT topic, and the page's
  ``encodeURIComponent`` throws on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.audit.keys_file import load_keys
from gateway.errors import AuditError

KEY = bytes(range(32)).hex()


def refusal(path: Path, text: str) -> str:
    """The error reading ``text`` as a keys file raises; it never holds the key."""
    path.write_text(text)
    with pytest.raises(AuditError) as caught:
        load_keys(path)
    message = str(caught.value)
    assert KEY not in message
    return message


@pytest.mark.parametrize(
    ("device_id", "why"),
    [
        ("site/box-1", "MQTT topic level"),
        ("box+1", "MQTT topic level"),
        ("box#1", "MQTT topic level"),
        ("", "MQTT topic level"),
        (".", "URL path step"),
        ("..", "URL path step"),
        ("box-\\ud800", "not valid Unicode"),
        ("box-\\u0001", "MQTT topic level"),
        ("box\\t1", "MQTT topic level"),
        ("box-\\u0085", "MQTT topic level"),
        ("box-\\ufffe", "MQTT topic level"),
        ("box-\\ufdd0", "MQTT topic level"),
        ("box-\\U0010ffff", "MQTT topic level"),
        ("\u4e2d" * 342, "is 1,026 bytes long in UTF-8, more than 1,024"),
    ],
)
def test_a_device_id_nothing_could_name_is_refused_with_its_line(
    tmp_path: Path, device_id: str, why: str
) -> None:
    # Given a YAML keys file whose third line names such a device id, then reading it names the id,
    # its line, and why
    message = refusal(tmp_path / "keys.yaml", f'box-a: {KEY}\nbox-b: {KEY}\n"{device_id}": {KEY}\n')
    assert "line 3: device id " in message
    assert why in message
    # named as the file writes it in double quotes: pasted back, it is the same id
    assert f'device id "{device_id}"' in message


@pytest.mark.parametrize("length", [1025, 5000])
def test_an_unquoted_device_id_longer_than_yaml_reads_is_named_too_long(tmp_path: Path, length: int) -> None:
    # PyYAML reads no unquoted key past 1,024 characters: said only "could not find expected ':'"
    message = refusal(tmp_path / "keys.yaml", f"box-a: {KEY}\n{'b' * length}: {KEY}\n")
    assert message == (
        f"{tmp_path / 'keys.yaml'}, line 2: a device id (an unquoted key) of more than 1,024 characters: "
        "longer than a device id may be (1,024 bytes in UTF-8)"
    )


def test_an_unquoted_key_of_1024_characters_is_read(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"box-a: {KEY}\n{'b' * 1024}: {KEY}\n")
    assert set(load_keys(path)) == {"box-a", "b" * 1024}


def test_a_json_keys_file_names_the_line_too(tmp_path: Path) -> None:
    message = refusal(tmp_path / "keys.json", f'{{\n  "box-a": "{KEY}",\n  "fleet/box-b": "{KEY}"\n}}\n')
    assert 'line 3: device id "fleet/box-b"' in message


def test_ids_with_other_punctuation_or_dots_that_are_not_path_steps_still_load(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(
        f"box-1.site_a: {KEY}\n'box 2': {KEY}\n'...': {KEY}\n.box: {KEY}\nbox.: {KEY}\n'%2e%2e': {KEY}\n"
    )
    assert set(load_keys(path)) == {"box-1.site_a", "box 2", "...", ".box", "box.", "%2e%2e"}


def test_the_longest_id_loads(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    # (written as an explicit key: YAML reads an implicit one of at most 1,024 characters)
    path.write_text(f'? "{"x" * 1022}\u00e9"\n: {KEY}\n')
    assert list(load_keys(path)) == ["x" * 1022 + "\u00e9"]


def test_a_json_surrogate_pair_is_the_character_it_encodes(tmp_path: Path) -> None:
    # (json.dumps writes an emoji as a pair of \u escapes; PyYAML read them as two lone surrogates,
    # and the file was refused as "not valid Unicode")
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"smile-\U0001f600": KEY}))
    assert list(load_keys(path)) == ["smile-\U0001f600"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # (PyYAML: "found unhashable key")
        (f"? [a, b]\n: {KEY}\n", "line 1, column 3: a device id must be one text, not a list or mapping"),
        # (was "device id \"x/y\" cannot be an MQTT topic level": a key of the value, named as a device)
        (
            f"box-a: {{x/y: {KEY}}}\n",
            'device "box-a" must be a device id and a hex key or a list of hex keys',
        ),
    ],
)
def test_a_key_that_is_no_device_id_is_named_as_such(tmp_path: Path, text: str, said: str) -> None:
    assert said in refusal(tmp_path / "keys.yaml", text)
